#include <cmath>

#include <catch2/catch.hpp>

#include "entrenar/engine/metrics.h"
#include "entrenar/engine/schedule.h"

namespace entrenar::engine {
namespace {

manifest::SchedulerConfig Schedule(const std::string& name) {
  manifest::SchedulerConfig s;
  s.name = name;
  return s;
}

TEST_CASE("Cosine decays from lr to eta_min over the steps after warmup", "[unit][engine]") {
  manifest::SchedulerConfig s = Schedule("cosine");
  s.eta_min = 0.1;
  CHECK(LearningRateAt(s, 1.0, 0, 100) == Approx(1.0));
  CHECK(LearningRateAt(s, 1.0, 50, 100) == Approx(0.55));  // 0.1 + 0.9 * (1 + cos(pi/2)) / 2
  CHECK(LearningRateAt(s, 1.0, 100, 100) == Approx(0.1));
  s.T_max = 10;
  CHECK(LearningRateAt(s, 1.0, 10, 100) == Approx(0.1));
  CHECK(LearningRateAt(s, 1.0, 50, 100) == Approx(0.1));  // stays at eta_min after T_max
}

TEST_CASE("Warmup rises linearly from start_lr, by steps or ratio", "[unit][engine]") {
  manifest::SchedulerConfig s = Schedule("constant");
  s.warmup.steps = 10;
  s.warmup.start_lr = 0.0;
  CHECK(LearningRateAt(s, 1.0, 0, 100) == Approx(0.0));
  CHECK(LearningRateAt(s, 1.0, 5, 100) == Approx(0.5));
  CHECK(LearningRateAt(s, 1.0, 10, 100) == Approx(1.0));
  manifest::SchedulerConfig r = Schedule("linear");
  r.warmup.ratio = 0.1;
  CHECK(WarmupSteps(r, 200) == 20);
  CHECK(LearningRateAt(r, 2.0, 20, 200) == Approx(2.0));
  CHECK(LearningRateAt(r, 2.0, 110, 200) == Approx(1.0));  // halfway down to eta_min 0
}

TEST_CASE("Step and exponential decay by gamma", "[unit][engine]") {
  manifest::SchedulerConfig s = Schedule("step");
  s.step_size = 10;
  s.gamma = 0.5;
  CHECK(LearningRateAt(s, 1.0, 9, 100) == Approx(1.0));
  CHECK(LearningRateAt(s, 1.0, 10, 100) == Approx(0.5));
  CHECK(LearningRateAt(s, 1.0, 25, 100) == Approx(0.25));
  manifest::SchedulerConfig e = Schedule("exponential");
  e.gamma = 0.9;
  CHECK(LearningRateAt(e, 1.0, 2, 100) == Approx(0.81));
}

TEST_CASE("Classification metrics match a hand computation", "[unit][engine]") {
  // truth 0 0 0 1 1 2; predicted 0 0 1 1 2 2
  const std::vector<std::int64_t> t = {0, 0, 0, 1, 1, 2}, p = {0, 0, 1, 1, 2, 2};
  auto m = ClassificationMetrics(p, t, 3);
  CHECK(m["accuracy"] == Approx(4.0 / 6));
  // precision: c0 2/2, c1 1/2, c2 1/2 -> 2/3; recall: c0 2/3, c1 1/2, c2 1/1 -> 13/18
  CHECK(m["precision"] == Approx(2.0 / 3));
  CHECK(m["recall"] == Approx(13.0 / 18));
  const double f0 = 2 * 1 * (2.0 / 3) / (1 + 2.0 / 3), f1 = 0.5, f2 = 2 * 0.5 * 1 / 1.5;
  CHECK(m["f1"] == Approx((f0 + f1 + f2) / 3));
  auto cm = ConfusionMatrix(p, t, 3);
  CHECK(cm[0] == std::vector<std::int64_t>{2, 1, 0});
  CHECK(cm[1] == std::vector<std::int64_t>{0, 1, 1});
}

TEST_CASE("AUC-ROC matches hand computations, binary and one-vs-rest", "[unit][engine]") {
  // Binary: P(class 1) = 0.1, 0.4, 0.35, 0.8 for truth 0, 0, 1, 1: 3 of 4 pairs ordered.
  const std::vector<float> binary = {0.9f, 0.1f, 0.6f, 0.4f, 0.65f, 0.35f, 0.2f, 0.8f};
  CHECK(*AucRoc(binary, {0, 0, 1, 1}, 2) == Approx(0.75));
  // Ties count one half.
  CHECK(*AucRoc({0.5f, 0.5f, 0.5f, 0.5f}, {0, 1}, 2) == Approx(0.5));
  // Three classes, perfectly separated: every one-vs-rest AUC is 1.
  const std::vector<float> three = {0.8f, 0.1f, 0.1f, 0.1f, 0.8f, 0.1f, 0.1f, 0.1f, 0.8f};
  CHECK(*AucRoc(three, {0, 1, 2}, 3) == Approx(1.0));
  // One class only: undefined.
  CHECK_FALSE(AucRoc({0.3f, 0.7f, 0.4f, 0.6f}, {1, 1}, 2));
}

TEST_CASE("Regression metrics match a hand computation", "[unit][engine]") {
  auto m = RegressionMetrics({1, 2, 4}, {1, 3, 3});
  CHECK(m["mse"] == Approx(2.0 / 3));
  CHECK(m["mae"] == Approx(2.0 / 3));
  CHECK(m["rmse"] == Approx(std::sqrt(2.0 / 3)));
  CHECK(m["r2"] == Approx(0.25));  // SSE 2, SST (4/3)^2 + 2 (2/3)^2 = 8/3
}

}  // namespace
}  // namespace entrenar::engine
