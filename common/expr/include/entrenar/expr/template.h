#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/expr/expr.h"

namespace entrenar::expr {

// A string with `{{ expression }}` holes. A literal `{{` is written `{{ "{{" }}`.
// Immutable after parsing; safe to share.
class Template {
 public:
  struct Part {
    std::string text;            // literal text, when expr is null
    std::unique_ptr<Expr> expr;  // the expression of a `{{ }}` hole
    std::size_t offset = 0;      // where the part starts in the source
  };

  // Parses `source`. Returns an Error for an unclosed `{{` or a bad expression inside one.
  static Outcome<Template> Parse(std::string_view source);
  // True when the source contains a `{{`.
  static bool HasTemplate(std::string_view source);

  // True when the whole source is one `{{ }}` hole: it then renders to a typed value.
  bool IsWholeValue() const { return parts_.size() == 1 && parts_[0].expr != nullptr; }
  const std::vector<Part>& parts() const { return parts_; }

  // Evaluates every hole. A whole-value template yields the expression's typed value; any other
  // yields the string with each hole replaced by its value's text (null renders as "").
  Outcome<Value> Render(Scope& scope) const;

 private:
  std::vector<Part> parts_;
};

}  // namespace entrenar::expr
