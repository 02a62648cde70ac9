#include "entrenar/expr/monitor.h"

#include <cmath>
#include <limits>

#include <catch2/catch.hpp>

namespace entrenar::expr {
namespace {

bool Holds(const std::string& source, const MetricHistory& h) {
  Outcome<Condition> c = ParseCondition(source);
  INFO(source);
  REQUIRE(c.ok());
  return EvaluateCondition(c.value(), h);
}

MetricHistory Series(const std::string& metric, const std::vector<double>& values) {
  MetricHistory h;
  for (double v : values) h.Add(metric, v);
  return h;
}

TEST_CASE("stall(N) fires on a flat curve and not on a falling one", "[unit][expr]") {
  std::vector<double> flat(60, 0.7), falling;
  for (int i = 0; i < 60; ++i) falling.push_back(1.0 / (1 + i));
  CHECK(Holds("loss.stall(50)", Series("loss", flat)));
  CHECK(Holds("stall(loss, 50)", Series("loss", flat)));
  CHECK_FALSE(Holds("loss.stall(50)", Series("loss", falling)));
  // Not before there are more than N values.
  CHECK_FALSE(Holds("loss.stall(50)", Series("loss", std::vector<double>(50, 0.7))));
  // Higher is better for accuracy: a rising accuracy is not stalled, a falling one is.
  std::vector<double> rising;
  for (int i = 0; i < 60; ++i) rising.push_back(0.5 + i / 200.0);
  CHECK_FALSE(Holds("val_accuracy.stall(10)", Series("val_accuracy", rising)));
  CHECK(Holds("val_loss.stall(10)", Series("val_loss", rising)));
}

TEST_CASE("nan, inf, spike, mean and slope read a metric's history", "[unit][expr]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(Holds("loss.nan()", Series("loss", {1, nan})));
  CHECK_FALSE(Holds("loss.nan()", Series("loss", {nan, 1})));
  CHECK(Holds("loss.inf()", Series("loss", {1, -INFINITY})));
  CHECK(Holds("loss.spike(3)", Series("loss", {1, 1, 1, 3.5})));
  CHECK_FALSE(Holds("loss.spike(3)", Series("loss", {1, 1, 1, 2.9})));
  CHECK_FALSE(Holds("loss.spike(3)", Series("loss", {5})));
  CHECK(Holds("loss.mean(2) == 2.5", Series("loss", {10, 2, 3})));
  CHECK(Holds("loss.mean(10) == 5", Series("loss", {10, 2, 3})));  // fewer values: all
  CHECK(Holds("loss.slope(3) == -2", Series("loss", {9, 7, 5, 3})));
  CHECK(Holds("loss.slope(3) < 0 and loss.slope(3) > -2.5", Series("loss", {9, 7, 5, 3})));
  CHECK(Holds("loss.slope(5) == 0", Series("loss", {4})));
}

TEST_CASE("Comparisons, and/or/not, and metrics without values", "[unit][expr]") {
  MetricHistory h = Series("loss", {20});
  h.Add("learning_rate", 0);
  CHECK(Holds("loss > 10", h));
  CHECK(Holds("learning_rate == 0 and not (loss < 10)", h));
  CHECK(Holds("loss < 10 or learning_rate == 0", h));
  CHECK(Holds("loss / 2 >= 10", h));
  // A condition waits until every metric it reads has a value.
  CHECK_FALSE(Holds("val_accuracy < 0.5 or loss > 10", h));
  CHECK_FALSE(Holds("not (val_accuracy > 0.5)", h));
  // NaN compares false.
  CHECK_FALSE(Holds("loss > 10", Series("loss", {std::nan("")})));
}

TEST_CASE("An alert fires once per episode", "[unit][expr]") {
  Outcome<AlertMonitor> m =
      AlertMonitor::Create({{"loss > 10", "halt", "diverging"}, {"loss.nan()", "warn", ""}});
  REQUIRE(m.ok());
  AlertMonitor& monitor = m.value();
  CHECK(monitor.Observe(1, {{"loss", 1}}).empty());
  std::vector<AlertMonitor::Fired> fired = monitor.Observe(2, {{"loss", 11}});
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].rule == 0);
  CHECK(fired[0].action == "halt");
  CHECK(fired[0].message == "diverging");
  CHECK(fired[0].step == 2);
  CHECK(monitor.Observe(3, {{"loss", 12}}).empty());  // still true: the same episode
  CHECK(monitor.Observe(4, {{"loss", 2}}).empty());
  CHECK(monitor.Observe(5, {{"loss", 13}}).size() == 1);  // a new episode
  fired = monitor.Observe(6, {{"loss", std::nan("")}});
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].message == "loss.nan()");  // no message: the condition
  CHECK_FALSE(AlertMonitor::Create({{"loss >", "warn", ""}}).ok());
}

}  // namespace
}  // namespace entrenar::expr
