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

bool Stall(const std::string& metric, const std::deque<double>& v, std::size_t n) {
  if (v.size() <= n) return false;
  const bool lower = LowerIsBetter(metric);
  const auto split = v.end() - static_cast<std::ptrdiff_t>(n);
  const auto better = [lower](double a, double b) { return lower ? a < b : a > b; };
  double best = *v.begin();
  for (auto it = v.begin(); it != split; ++it) {
    if (better(*it, best)) best = *it;
  }
  return std::none_of(split, v.end(), [&](double x) { return better(x, best); });
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

class Evaluator {
 public:
  explicit Evaluator(const MetricHistory& h) : h_(h) {}

  std::optional<Val> Eval(const Expr& e) const {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        if (e.literal.kind == Value::Kind::kBool) return Val{true, 0, e.literal.b};
        return Val{false, e.literal.AsDouble(), false};
      case Expr::Kind::kRef: {
        const std::deque<double>& v = h_.Values(PathToString(e.path));
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
    const CallParts p = Parts(e);
    const std::deque<double>& v = h_.Values(p.metric);
    if (v.empty()) return std::nullopt;
    const double last = v.back();
    const auto n = static_cast<std::size_t>(p.args.empty() ? 0 : std::max(1.0, p.args[0]));
    if (p.function == "nan") return Val{true, 0, std::isnan(last)};
    if (p.function == "inf") return Val{true, 0, std::isinf(last)};
    if (p.function == "stall") return Val{true, 0, Stall(p.metric, v, n)};
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

  const MetricHistory& h_;
};

}  // namespace

void MetricHistory::Add(const std::string& metric, double value) {
  std::deque<double>& v = values_[metric];
  v.push_back(value);
  if (v.size() > capacity_) v.pop_front();
}

const std::deque<double>& MetricHistory::Values(const std::string& metric) const {
  static const std::deque<double> kNone;
  auto it = values_.find(metric);
  return it == values_.end() ? kNone : it->second;
}

bool LowerIsBetter(const std::string& metric) {
  for (const char* word : {"loss", "error", "perplexity", "mse", "mae", "rmse"}) {
    if (metric.find(word) != std::string::npos) return true;
  }
  return false;
}

bool EvaluateCondition(const Condition& condition, const MetricHistory& history) {
  if (!condition.expr) return false;
  const std::optional<Val> v = Evaluator(history).Eval(*condition.expr);
  return v && v->is_bool && v->truth;
}

Outcome<AlertMonitor> AlertMonitor::Create(const std::vector<Rule>& rules) {
  AlertMonitor m;
  for (const Rule& r : rules) {
    Outcome<Condition> c = ParseCondition(r.condition);
    if (!c.ok()) return c.error();
    m.conditions_.push_back(std::make_shared<Condition>(std::move(c.value())));
    m.rules_.push_back(r);
    m.active_.push_back(false);
  }
  return m;
}

std::vector<AlertMonitor::Fired> AlertMonitor::Observe(
    std::int64_t step, const std::map<std::string, double>& values) {
  for (const auto& [name, value] : values) history_.Add(name, value);
  std::vector<Fired> fired;
  for (std::size_t i = 0; i < rules_.size(); ++i) {
    const bool now = EvaluateCondition(*conditions_[i], history_);
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
