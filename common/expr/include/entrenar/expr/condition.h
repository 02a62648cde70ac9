#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/expr/expr.h"

namespace entrenar::expr {

// A parsed and type-checked alert condition such as `loss > 10 or loss.nan()`.
struct Condition {
  std::unique_ptr<Expr> expr;
  std::vector<std::string> metrics;  // every metric the condition reads, in order of appearance
};

// The functions of the condition language, with their argument counts (without the metric).
struct ConditionFunction {
  std::string name;
  int num_args;       // numeric arguments after the metric
  bool returns_bool;  // stall/nan/inf/spike are tests; mean/slope are numbers
};
const std::vector<ConditionFunction>& ConditionFunctions();

// Parses and type-checks an alert condition: comparisons between metrics, numbers and the
// functions above (`loss.stall(50)` or `stall(loss, 50)`), combined with and/or/not. The result
// must be true/false. Returns an Error at the offending offset.
Outcome<Condition> ParseCondition(std::string_view source);

}  // namespace entrenar::expr
