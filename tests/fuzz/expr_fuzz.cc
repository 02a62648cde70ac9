// The expression language on anyone's text: `{{ }}` templates (parsed and rendered against a
// scope with numbers, strings, lists and failures) and alert conditions (parsed, then evaluated
// by an AlertMonitor over a few steps of metrics, NaN and infinities included).

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "entrenar/expr/condition.h"
#include "entrenar/expr/expr.h"
#include "entrenar/expr/monitor.h"
#include "entrenar/expr/template.h"

#include "fuzz.h"

namespace {

using entrenar::expr::Outcome;
using entrenar::expr::PathSeg;
using entrenar::expr::Value;

class FixedScope : public entrenar::expr::Scope {
 public:
  Outcome<Value> Lookup(const std::vector<PathSeg>& path) override {
    if (path.empty()) return Value::Undefined("empty path");
    const std::string& name = path[0].name;
    if (name == "n") return Value::Int(std::numeric_limits<std::int64_t>::max());
    if (name == "x") return Value::Float(-0.5);
    if (name == "nan") return Value::Float(std::nan(""));
    if (name == "s") return Value::String("text");
    if (name == "l") return Value::List({Value::Int(1), Value::String("a"), Value::Null()});
    if (name == "env") return Value::Undefined("unset variable");
    return entrenar::expr::Error{path[0].offset, "unknown name " + name, ""};
  }
};

void Templates(const std::string& text) {
  Outcome<entrenar::expr::Template> t = entrenar::expr::Template::Parse(text);
  if (!t.ok()) return;
  FixedScope scope;
  (void)t.value().Render(scope);
}

void Conditions(const std::string& text) {
  Outcome<entrenar::expr::Condition> c = entrenar::expr::ParseCondition(text);
  if (!c.ok()) return;
  Outcome<entrenar::expr::AlertMonitor> monitor =
      entrenar::expr::AlertMonitor::Create({{text, "warn", ""}});
  FUZZ_CHECK(monitor.ok());
  const double values[] = {1.0, std::nan(""), -std::numeric_limits<double>::infinity(), 0.0, 1e308};
  std::int64_t step = 0;
  for (double v : values) {
    std::map<std::string, double> logged;
    for (const std::string& metric : c.value().metrics) logged[metric] = v;
    (void)monitor.value().Observe(++step, logged);
  }
}

}  // namespace

ENTRENAR_FUZZ_TARGET {
  const std::string text = entrenar::fuzz::AsString(data, size);
  Templates(text);
  Conditions(text);
  return 0;
}
