#include "entrenar/monitor/quality.h"

#include <cmath>

#include <catch2/catch.hpp>

namespace entrenar::monitor {
namespace {

double Value(const QualityScore& q, const std::string& name) {
  REQUIRE(q.components.at(name).value.has_value());
  return *q.components.at(name).value;
}

TEST_CASE("convergence: relative loss reduction and smoothness", "[unit][monitor]") {
  QualityInput in;
  for (int i = 0; i < 1000; ++i) in.train_loss.push_back(10 - 0.009 * i);
  // first 10% mean 9.5545, last 10% mean 1.4545: r = 8.1 / 9.5545; every window falls.
  CHECK(Value(ComputeQuality(in), "convergence") ==
        Approx(100 * (0.7 * 8.1 / 9.5545 + 0.3)).epsilon(1e-9));
  in.train_loss.assign(1000, 1.0);  // flat: no reduction, but never rising
  CHECK(Value(ComputeQuality(in), "convergence") == Approx(30));
  for (int i = 0; i < 1000; ++i) in.train_loss[i] = 1 + i;  // rising: 0
  CHECK(Value(ComputeQuality(in), "convergence") == Approx(0));
  in.train_loss = {1.0};
  CHECK_FALSE(ComputeQuality(in).components.at("convergence").value.has_value());
}

TEST_CASE("stability: variation of the windowed series, non-finite losses and alerts",
          "[unit][monitor]") {
  QualityInput in;
  in.train_loss.assign(1000, 0.5);
  CHECK(Value(ComputeQuality(in), "stability") == Approx(100));
  in.train_loss[10] = std::nan("");
  in.alerts = 2;
  CHECK(Value(ComputeQuality(in), "stability") == Approx(100 - 20 - 10));
  // grad_norm wins over train_loss: windows of 20 alternate 1 and 3. In the second half the
  // 24 changes are ±2 (sd 2) around a level of (13 × 3 + 12 × 1) / 25 = 2.04.
  in.alerts = 0;
  in.train_loss.assign(1000, 0.5);
  for (int i = 0; i < 1000; ++i) in.grad_norm.push_back((i / 20) % 2 ? 3 : 1);
  CHECK(Value(ComputeQuality(in), "stability") == Approx(100 / (1 + 2 / 2.04)).epsilon(1e-9));
  CHECK(ComputeQuality(in).components.at("stability").basis.rfind("grad_norm", 0) == 0);
}

TEST_CASE("efficiency: throughput against the first epoch's", "[unit][monitor]") {
  QualityInput in;
  in.steps_per_epoch = 10;
  in.samples_per_second = {10, 20, 30, 1000, 1000, 1000, 1000, 1000, 1000, 1000};  // warm-up
  for (int i = 0; i < 30; ++i) in.samples_per_second.push_back(i % 2 ? 400 : 600);
  CHECK(Value(ComputeQuality(in), "efficiency") == Approx(50));
  for (int i = 10; i < 40; ++i) in.samples_per_second[i] = 1200;  // faster later: capped
  CHECK(Value(ComputeQuality(in), "efficiency") == Approx(100));
  in.samples_per_second.resize(10);  // one epoch: nothing to compare
  CHECK_FALSE(ComputeQuality(in).components.at("efficiency").value.has_value());
}

TEST_CASE("generalization: the train/val gap against the starting loss", "[unit][monitor]") {
  QualityInput in;
  in.train_loss.assign(100, 0.5);
  CHECK_FALSE(ComputeQuality(in).components.at("generalization").value.has_value());
  in.val_loss = 0.55;  // gap 0.05 / 0.5 = 0.1
  CHECK(Value(ComputeQuality(in), "generalization") == Approx(50));
  in.val_loss = 0.4;  // validation better than training: no gap
  CHECK(Value(ComputeQuality(in), "generalization") == Approx(100));
}

TEST_CASE("reproducibility: fold spread, or not measured", "[unit][monitor]") {
  QualityInput in;
  CHECK_FALSE(ComputeQuality(in).components.at("reproducibility").value.has_value());
  in.fold_scores = {0.98, 1.02};  // sd 0.02 around 1
  CHECK(Value(ComputeQuality(in), "reproducibility") == Approx(80));
  in.fold_scores = {0.9, 1.1};
  CHECK(Value(ComputeQuality(in), "reproducibility") == Approx(0));
}

TEST_CASE("the score weighs measured components and grades by SPEC 16.2", "[unit][monitor]") {
  QualityInput in;
  in.train_loss.assign(100, 0.5);  // convergence 30, stability 100
  in.val_loss = 0.55;              // generalization 50
  const QualityScore q = ComputeQuality(in);
  CHECK(q.score == Approx((0.3 * 30 + 0.2 * 100 + 0.25 * 50) / 0.75).margin(0.05));
  CHECK(q.grade == Grade(q.score));
  CHECK(Grade(100) == "A+");
  CHECK(Grade(95) == "A+");
  CHECK(Grade(94.9) == "A");
  CHECK(Grade(85) == "A-");
  CHECK(Grade(80) == "B+");
  CHECK(Grade(75) == "B");
  CHECK(Grade(70) == "B-");
  CHECK(Grade(65) == "C+");
  CHECK(Grade(60) == "C");
  CHECK(Grade(50) == "D");
  CHECK(Grade(49.9) == "F");
  const std::string yaml = QualityYaml(q);
  CHECK(yaml.find("grade: \"" + q.grade + "\"") != std::string::npos);
  CHECK(yaml.find("reproducibility: null") != std::string::npos);
  CHECK(yaml.find("generalization: 50.0") != std::string::npos);
}

}  // namespace
}  // namespace entrenar::monitor
