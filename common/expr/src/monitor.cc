#include "entrenar/expr/monitor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

namespace entrenar::expr {
namespace {

constexpr std::size_t kSpikeWindow = 20;

// The metric a call reads and its numeric arguments (`loss.stall(50)` or `stall(loss, 50)`).
struct CallParts {
  std::string function, metric;
  std::vector<double> args;
};

CallParts Parts(const Expr& e) {
  CallParts p;
  p.function = e.path.back().name;
  std::size_t first = 0;
  if (e.path.size() > 1) {
    p.metric = PathToString(std::vector<PathSeg>(e.path.begin(), e.path.end() - 1));
  } else {
    p.metric = PathToString(e.args[0]->path);
    first = 1;
  }
  for (std::size_t i = first; i < e.args.size(); ++i)
    p.args.push_back(e.args[i]->literal.AsDouble());
  return p;
}

double Mean(std::deque<double>::const_iterator begin, std::deque<double>::const_iterator end) {
  double sum = 0;
  std::size_t n = 0;
  for (auto it = begin; it != end; ++it, ++n) sum += *it;
  return n ? sum / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}

// A window of `x` values: at least 1 (NaN too), and a huge one (1e82) a window longer than any
// history rather than a conversion past size_t.
std::size_t Window(double x) {
  constexpr double kLongest = 1e15;
  if (!(x >= 1)) return 1;
  return static_cast<std::size_t>(std::min(x, kLongest));
}

bool Stall(const MetricHistory& h, const std::string& metric, std::size_t n) {
  const std::optional<std::pair<double, double>> before = h.RangeBefore(metric, n);
  if (!before) return false;
  const std::deque<double>& v = h.Values(metric);
  const bool lower = LowerIsBetter(metric);
  const double best = lower ? before->first : before->second;
  return std::none_of(v.end() - static_cast<std::ptrdiff_t>(n), v.end(),
                      [&](double x) { return lower ? x < best : x > best; });
}

double Slope(const std::deque<double>& v, std::size_t n) {
  const std::size_t k = std::min(n, v.size());
  if (k < 2) return 0;
  const auto begin = v.end() - static_cast<std::ptrdiff_t>(k);
  const double mean_x = static_cast<double>(k - 1) / 2, mean_y = Mean(begin, v.end());
  double num = 0, den = 0;
  std::size_t x = 0;
  for (auto it = begin; it != v.end(); ++it, ++x) {
    num += (static_cast<double>(x) - mean_x) * (*it - mean_y);
    den += (static_cast<double>(x) - mean_x) * (static_cast<double>(x) - mean_x);
  }
  return num / den;
}

// A number, a truth value, or nothing (a metric without values).
struct Val {
  bool is_bool = false;
  double number = 0;
  bool truth = false;
};

// Names and arguments of a condition's nodes, worked out once (evaluation runs every step).
using PartsCache = std::map<const Expr*, CallParts>;

class Evaluator {
 public:
  Evaluator(const MetricHistory& h, PartsCache& cache) : h_(h), cache_(cache) {}

  std::optional<Val> Eval(const Expr& e) const {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        if (e.literal.kind == Value::Kind::kBool) return Val{true, 0, e.literal.b};
        return Val{false, e.literal.AsDouble(), false};
      case Expr::Kind::kRef: {
        const std::deque<double>& v = h_.Values(Cached(e).metric);
        if (v.empty()) return std::nullopt;
        return Val{false, v.back(), false};
      }
      case Expr::Kind::kCall:
        return Call(e);
      case Expr::Kind::kUnary: {
        const std::optional<Val> a = Eval(*e.args[0]);
        if (!a) return std::nullopt;
        if (e.op == "not") return Val{true, 0, !a->truth};
        return Val{false, -a->number, false};
      }
      case Expr::Kind::kBinary:
        return Binary(e);
      default:
        return std::nullopt;  // not a condition (the checker refuses these)
    }
  }

 private:
  std::optional<Val> Call(const Expr& e) const {
    const CallParts& p = Cached(e);
    const std::deque<double>& v = h_.Values(p.metric);
    if (v.empty()) return std::nullopt;
    const double last = v.back();
    const std::size_t n = p.args.empty() ? 0 : Window(p.args[0]);
    if (p.function == "nan") return Val{true, 0, std::isnan(last)};
    if (p.function == "inf") return Val{true, 0, std::isinf(last)};
    if (p.function == "stall") return Val{true, 0, Stall(h_, p.metric, n)};
    if (p.function == "spike") {
      if (v.size() < 2) return Val{true, 0, false};
      const auto end = v.end() - 1;
      const auto begin = end - static_cast<std::ptrdiff_t>(std::min(kSpikeWindow, v.size() - 1));
      const double mean = Mean(begin, end);
      return Val{true, 0, mean > 0 && last > p.args[0] * mean};
    }
    if (p.function == "mean") {
      return Val{false, Mean(v.end() - static_cast<std::ptrdiff_t>(std::min(n, v.size())), v.end()),
                 false};
    }
    if (p.function == "slope") return Val{false, Slope(v, n), false};
    return std::nullopt;
  }

  std::optional<Val> Binary(const Expr& e) const {
    const std::optional<Val> l = Eval(*e.args[0]);
    const std::optional<Val> r = Eval(*e.args[1]);
    if (!l || !r) return std::nullopt;
    const std::string& op = e.op;
    if (op == "and") return Val{true, 0, l->truth && r->truth};
    if (op == "or") return Val{true, 0, l->truth || r->truth};
    if (l->is_bool) {
      return Val{true, 0, op == "==" ? l->truth == r->truth : l->truth != r->truth};
    }
    const double a = l->number, b = r->number;
    if (op == "<") return Val{true, 0, a < b};
    if (op == "<=") return Val{true, 0, a <= b};
    if (op == ">") return Val{true, 0, a > b};
    if (op == ">=") return Val{true, 0, a >= b};
    if (op == "==") return Val{true, 0, a == b};
    if (op == "!=") return Val{true, 0, a != b};
    if (op == "+") return Val{false, a + b, false};
    if (op == "-") return Val{false, a - b, false};
    if (op == "*") return Val{false, a * b, false};
    if (op == "/") return Val{false, a / b, false};
    return std::nullopt;
  }

  const CallParts& Cached(const Expr& e) const {
    auto it = cache_.find(&e);
    if (it != cache_.end()) return it->second;
    CallParts p;
    if (e.kind == Expr::Kind::kRef) {
      p.metric = PathToString(e.path);
    } else {
      p = Parts(e);
    }
    return cache_.emplace(&e, std::move(p)).first->second;
  }

  const MetricHistory& h_;
  PartsCache& cache_;
};

}  // namespace

void MetricHistory::Add(const std::string& metric, double value) {
  Series& s = series_[metric];
  const double lo = s.min.empty()       ? value
                    : std::isnan(value) ? s.min.back()
                                        : std::fmin(s.min.back(), value);
  const double hi = s.max.empty()       ? value
                    : std::isnan(value) ? s.max.back()
                                        : std::fmax(s.max.back(), value);
  s.values.push_back(value);
  s.min.push_back(lo);
  s.max.push_back(hi);
  if (s.values.size() > capacity_) {
    s.values.pop_front();
    s.min.pop_front();
    s.max.pop_front();
  }
}

const std::deque<double>& MetricHistory::Values(const std::string& metric) const {
  static const std::deque<double> kNone;
  auto it = series_.find(metric);
  return it == series_.end() ? kNone : it->second.values;
}

std::optional<std::pair<double, double>> MetricHistory::RangeBefore(const std::string& metric,
                                                                    std::size_t n) const {
  auto it = series_.find(metric);
  if (it == series_.end() || it->second.values.size() <= n) return std::nullopt;
  const std::size_t at = it->second.values.size() - n - 1;
  return std::make_pair(it->second.min[at], it->second.max[at]);
}

bool LowerIsBetter(const std::string& metric) {
  for (const char* word : {"loss", "error", "perplexity", "mse", "mae", "rmse"}) {
    if (metric.find(word) != std::string::npos) return true;
  }
  return false;
}

struct AlertMonitor::Cache {
  PartsCache parts;
};

namespace {

bool Holds(const Condition& condition, const MetricHistory& history, PartsCache& cache) {
  if (!condition.expr) return false;
  const std::optional<Val> v = Evaluator(history, cache).Eval(*condition.expr);
  return v && v->is_bool && v->truth;
}

}  // namespace

bool EvaluateCondition(const Condition& condition, const MetricHistory& history) {
  PartsCache cache;
  return Holds(condition, history, cache);
}

Outcome<AlertMonitor> AlertMonitor::Create(const std::vector<Rule>& rules) {
  AlertMonitor m;
  for (const Rule& r : rules) {
    Outcome<Condition> c = ParseCondition(r.condition);
    if (!c.ok()) return c.error();
    m.conditions_.push_back(std::make_shared<Condition>(std::move(c.value())));
    m.rules_.push_back(r);
    m.active_.push_back(false);
    m.caches_.push_back(std::make_shared<Cache>());
    const auto& reads = m.conditions_.back()->metrics;
    m.watched_.insert(m.watched_.end(), reads.begin(), reads.end());
  }
  std::sort(m.watched_.begin(), m.watched_.end());
  m.watched_.erase(std::unique(m.watched_.begin(), m.watched_.end()), m.watched_.end());
  return m;
}

std::vector<AlertMonitor::Fired> AlertMonitor::Observe(
    std::int64_t step, const std::map<std::string, double>& values) {
  for (const std::string& name : watched_) {
    if (auto it = values.find(name); it != values.end()) history_.Add(name, it->second);
  }
  std::vector<Fired> fired;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const bool now = Holds(*conditions_[i], history_, caches_[i]->parts);
    if (now && !active_[i]) {
      const Rule& r = rules_[i];
      fired.push_back(
          {i, r.condition, r.action, r.message.empty() ? r.condition : r.message, step});
    }
    active_[i] = now;
  }
  return fired;
}

}  // namespace entrenar::expr
