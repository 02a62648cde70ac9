#include "entrenar/expr/template.h"

#include <functional>

namespace entrenar::expr {
namespace {

// Finds the `}}` that closes a hole opened before `from`, skipping string literals.
std::size_t FindClose(std::string_view s, std::size_t from) {
  char quote = 0;
  for (std::size_t p = from; p < s.size(); ++p) {
    const char c = s[p];
    if (quote) {
      if (c == '\\') {
        ++p;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '}' && p + 1 < s.size() && s[p + 1] == '}') {
      return p;
    }
  }
  return std::string_view::npos;
}

}  // namespace

bool Template::HasTemplate(std::string_view source) {
  return source.find("{{") != std::string_view::npos;
}

Outcome<Template> Template::Parse(std::string_view source) {
  Template t;
  std::size_t p = 0;
  while (p < source.size()) {
    const std::size_t open = source.find("{{", p);
    if (open == std::string_view::npos) {
      t.parts_.push_back(Part{std::string(source.substr(p)), nullptr, p});
      break;
    }
    if (open > p) t.parts_.push_back(Part{std::string(source.substr(p, open - p)), nullptr, p});
    const std::size_t close = FindClose(source, open + 2);
    if (close == std::string_view::npos) {
      return Error{open, "`{{` is not closed by `}}`",
                   "write a literal `{{` as {{ \"{{\" }}, or tag the value !raw"};
    }
    const std::string_view inner = source.substr(open + 2, close - open - 2);
    Outcome<std::unique_ptr<Expr>> e = expr::Parse(inner);
    if (!e.ok()) {
      Error err = e.error();
      err.offset += open + 2;
      return err;
    }
    // Shift the tree's offsets so errors point into the whole source.
    std::function<void(Expr&)> shift = [&](Expr& x) {
      x.offset += open + 2;
      x.end += open + 2;
      for (PathSeg& seg : x.path) seg.offset += open + 2;
      for (auto& a : x.args) shift(*a);
    };
    shift(*e.value());
    t.parts_.push_back(Part{"", std::move(e.value()), open});
    p = close + 2;
  }
  return t;
}

Outcome<Value> Template::Render(Scope& scope) const {
  if (IsWholeValue()) {
    Outcome<Value> v = Evaluate(*parts_[0].expr, scope);
    if (!v.ok()) return v;
    if (v.value().kind == Value::Kind::kUndefined) {
      return Error{parts_[0].expr->offset, v.value().s,
                   "give a default: `{{ " + PathToString(parts_[0].expr->path) + " or \"...\" }}`"};
    }
    return v;
  }
  std::string out;
  for (const Part& part : parts_) {
    if (!part.expr) {
      out += part.text;
      continue;
    }
    Outcome<Value> v = Evaluate(*part.expr, scope);
    if (!v.ok()) return v;
    if (v.value().kind == Value::Kind::kUndefined) {
      return Error{part.expr->offset, v.value().s,
                   "give a default: `{{ " + PathToString(part.expr->path) + " or \"...\" }}`"};
    }
    out += v.value().ToString();
  }
  return Value::String(std::move(out));
}

}  // namespace entrenar::expr
