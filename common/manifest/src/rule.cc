#include "rule.h"

#include "entrenar/expr/value.h"

namespace entrenar::manifest {

std::string Rule::RangeText(const std::string& type) const {
  const std::string noun = type == "integer" ? "an integer" : "a number";
  auto num = [](double v) {
    std::string s = expr::FormatDouble(v);
    if (s.size() > 2 && s.ends_with(".0")) s.resize(s.size() - 2);
    return s;
  };
  if (min && max) {
    return noun + " in " + (min_exclusive ? "(" : "[") + num(*min) + ", " + num(*max) +
           (max_exclusive ? ")" : "]");
  }
  if (min) return noun + (min_exclusive ? " > " : " >= ") + num(*min);
  if (max) return noun + (max_exclusive ? " < " : " <= ") + num(*max);
  return noun;
}

}  // namespace entrenar::manifest
