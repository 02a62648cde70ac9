#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "entrenar/expr/condition.h"

namespace entrenar::expr {

// The logged values of each metric, oldest first (the last `capacity` of each).
class MetricHistory {
 public:
  explicit MetricHistory(std::size_t capacity = 10000) : capacity_(capacity) {}
  void Add(const std::string& metric, double value);
  // Empty when the metric was never logged.
  const std::deque<double>& Values(const std::string& metric) const;
  // The smallest and largest value logged before the last `n` (all of history, including
  // values no longer held); nullopt when there are not more than `n` values.
  std::optional<std::pair<double, double>> RangeBefore(const std::string& metric,
                                                       std::size_t n) const;

 private:
  struct Series {
    std::deque<double> values;
    // Running minimum and maximum up to each held value (NaN-free: NaNs do not count).
    std::deque<double> min, max;
  };
  std::size_t capacity_;
  std::map<std::string, Series> series_;
};

// Whether lower values of `metric` are better (losses, errors, perplexity), for stall().
bool LowerIsBetter(const std::string& metric);

// Evaluates a checked condition on the history. A condition is false until every metric it
// reads has a value. Functions, over a metric's logged values:
//   nan(), inf()   the last value is NaN / infinite
//   stall(N)       more than N values, and none of the last N improves on the best before them
//                  (lower is better for losses, errors and perplexity, higher otherwise)
//   spike(F)       the last value exceeds F times the mean of the (up to 20) values before it,
//                  that mean being positive
//   mean(N)        the mean of the last N values (all of them when fewer)
//   slope(N)       the least-squares slope per logged value over the last N (0 with fewer than 2)
// Comparisons with NaN are false.
bool EvaluateCondition(const Condition& condition, const MetricHistory& history);

// Alert rules over the metrics of a run: each fires once per episode (when its condition
// becomes true), and again only after it has been false.
class AlertMonitor {
 public:
  struct Rule {
    std::string condition;  // the source text
    std::string action;     // warn, halt, checkpoint
    std::string message;    // "" : the condition
  };
  struct Fired {
    std::size_t rule = 0;
    std::string condition, action, message;
    std::int64_t step = 0;
  };

  // Rules whose conditions do not parse are refused with the reason (validation has already
  // checked them; this is the engine's own guard).
  static Outcome<AlertMonitor> Create(const std::vector<Rule>& rules);

  // New values logged at `step`; returns the alerts that fire now. Only the metrics the rules
  // read are kept.
  std::vector<Fired> Observe(std::int64_t step, const std::map<std::string, double>& values);
  // The metrics the rules read, sorted.
  const std::vector<std::string>& watched() const { return watched_; }

  const MetricHistory& history() const { return history_; }

 private:
  struct Cache;  // what evaluating a condition works out once
  std::vector<Rule> rules_;
  std::vector<std::shared_ptr<Condition>> conditions_;
  std::vector<std::shared_ptr<Cache>> caches_;
  std::vector<bool> active_;
  std::vector<std::string> watched_;
  MetricHistory history_;
};

}  // namespace entrenar::expr
