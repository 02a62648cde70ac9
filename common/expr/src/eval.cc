#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>

#include "entrenar/base/strings.h"
#include "entrenar/expr/expr.h"

namespace entrenar::expr {
namespace {

Error TypeError(const Expr& at, std::string message, std::string hint = "") {
  return Error{at.offset, std::move(message), std::move(hint)};
}

// An undefined value may be tested (`env.X or "d"`) but not computed with.
Outcome<Value> Defined(const Expr& at, Value v) {
  if (v.kind == Value::Kind::kUndefined) {
    return Error{at.offset, v.s, "give a default: `" + PathToString(at.path) + " or \"...\"`"};
  }
  return v;
}

Outcome<Value> Arithmetic(const Expr& e, const Value& a, const Value& b) {
  const std::string& op = e.op;
  if (op == "+" && a.kind == Value::Kind::kString && b.kind == Value::Kind::kString) {
    return Value::String(a.s + b.s);
  }
  if (op == "+" && a.kind == Value::Kind::kList && b.kind == Value::Kind::kList) {
    std::vector<Value> out = a.list;
    out.insert(out.end(), b.list.begin(), b.list.end());
    return Value::List(std::move(out));
  }
  if (!a.IsNumber() || !b.IsNumber()) {
    std::string hint;
    if (op == "+" && (a.kind == Value::Kind::kString || b.kind == Value::Kind::kString)) {
      hint = "convert the number first: str(x)";
    }
    return TypeError(e, "cannot apply `" + op + "` to " + a.TypeName() + " and " + b.TypeName(),
                     hint);
  }
  const bool ints = a.kind == Value::Kind::kInt && b.kind == Value::Kind::kInt;
  if ((op == "/" || op == "//" || op == "%") && b.AsDouble() == 0.0) {
    return TypeError(*e.args[1], "division by zero");
  }
  if (op == "/") return Value::Float(a.AsDouble() / b.AsDouble());
  if (ints) {
    // 64-bit integers: a result past them is an error, not a wrapped (undefined) value.
    std::int64_t r = 0;
    const bool overflow = op == "+"   ? __builtin_add_overflow(a.i, b.i, &r)
                          : op == "-" ? __builtin_sub_overflow(a.i, b.i, &r)
                          : op == "*" ? __builtin_mul_overflow(a.i, b.i, &r)
                                      : a.i == INT64_MIN && b.i == -1;
    if (overflow) {
      return TypeError(e,
                       "integer overflow: `" + op + "` of " + a.ToString() + " and " +
                           b.ToString() + " is past 64 bits",
                       "write one of them as a float (1.0)");
    }
    if (op == "+" || op == "-" || op == "*") return Value::Int(r);
    // Floor division and modulo, as in Python (neither overflows once MIN / -1 is refused).
    const std::int64_t rem = a.i % b.i;
    const bool signs_differ = rem != 0 && ((rem < 0) != (b.i < 0));
    if (op == "//") return Value::Int(a.i / b.i - (signs_differ ? 1 : 0));
    return Value::Int(signs_differ ? rem + b.i : rem);
  }
  const double x = a.AsDouble(), y = b.AsDouble();
  if (op == "+") return Value::Float(x + y);
  if (op == "-") return Value::Float(x - y);
  if (op == "*") return Value::Float(x * y);
  if (op == "//") return Value::Float(std::floor(x / y));
  return Value::Float(x - std::floor(x / y) * y);
}

Outcome<Value> Compare(const Expr& e, const Value& a, const Value& b) {
  if (e.op == "==") return Value::Bool(a == b);
  if (e.op == "!=") return Value::Bool(!(a == b));
  int c = 0;
  if (a.IsNumber() && b.IsNumber()) {
    c = a.AsDouble() < b.AsDouble() ? -1 : a.AsDouble() > b.AsDouble() ? 1 : 0;
  } else if (a.kind == Value::Kind::kString && b.kind == Value::Kind::kString) {
    c = a.s.compare(b.s);
  } else {
    return TypeError(e, "cannot compare " + a.TypeName() + " with " + b.TypeName());
  }
  if (e.op == "<") return Value::Bool(c < 0);
  if (e.op == "<=") return Value::Bool(c <= 0);
  if (e.op == ">") return Value::Bool(c > 0);
  return Value::Bool(c >= 0);
}

using Builtin = std::function<Outcome<Value>(const Expr&, const std::vector<Value>&)>;

// int(x): the integer part of a finite double within 64 bits, else an error.
Outcome<Value> ToInt(const Expr& e, double d) {
  // 2^63 is exact in a double; every finite double below it in magnitude truncates into range.
  if (!std::isfinite(d) || d >= 9223372036854775808.0 || d < -9223372036854775808.0) {
    return TypeError(e, "cannot convert " + Value::Float(d).ToString() + " to a 64-bit integer");
  }
  return Value::Int(static_cast<std::int64_t>(d));
}

Outcome<Value> ToNumber(const Expr& e, const Value& v, bool integer) {
  if (v.kind == Value::Kind::kInt) return integer ? v : Value::Float(v.AsDouble());
  if (v.IsNumber()) return integer ? ToInt(e, v.AsDouble()) : Value::Float(v.AsDouble());
  if (v.kind == Value::Kind::kString) {
    try {
      std::size_t used = 0;
      const double d = std::stod(v.s, &used);
      if (used == v.s.size()) {
        return integer ? ToInt(e, d) : Value::Float(d);
      }
    } catch (const std::exception&) {
    }
  }
  return TypeError(e, "cannot convert " + v.TypeName() + " `" + v.ToString() + "` to a number");
}

const std::map<std::string, std::pair<int, Builtin>>& Builtins() {
  static const auto* table = new std::map<std::string, std::pair<int, Builtin>>{
      {"str",
       {1,
        [](const Expr&, const std::vector<Value>& a) -> Outcome<Value> {
          return Value::String(a[0].ToString());
        }}},
      {"int",
       {1, [](const Expr& e, const std::vector<Value>& a) { return ToNumber(e, a[0], true); }}},
      {"float",
       {1, [](const Expr& e, const std::vector<Value>& a) { return ToNumber(e, a[0], false); }}},
      {"lower",
       {1,
        [](const Expr&, const std::vector<Value>& a) -> Outcome<Value> {
          std::string s = a[0].ToString();
          for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          return Value::String(s);
        }}},
      {"upper",
       {1,
        [](const Expr&, const std::vector<Value>& a) -> Outcome<Value> {
          std::string s = a[0].ToString();
          for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          return Value::String(s);
        }}},
      {"min",
       {2,
        [](const Expr& e, const std::vector<Value>& a) -> Outcome<Value> {
          if (!a[0].IsNumber() || !a[1].IsNumber()) return TypeError(e, "min() takes numbers");
          return a[0].AsDouble() <= a[1].AsDouble() ? a[0] : a[1];
        }}},
      {"max",
       {2,
        [](const Expr& e, const std::vector<Value>& a) -> Outcome<Value> {
          if (!a[0].IsNumber() || !a[1].IsNumber()) return TypeError(e, "max() takes numbers");
          return a[0].AsDouble() >= a[1].AsDouble() ? a[0] : a[1];
        }}},
      {"len",
       {1,
        [](const Expr& e, const std::vector<Value>& a) -> Outcome<Value> {
          if (a[0].kind == Value::Kind::kString)
            return Value::Int(static_cast<std::int64_t>(a[0].s.size()));
          if (a[0].kind == Value::Kind::kList)
            return Value::Int(static_cast<std::int64_t>(a[0].list.size()));
          return TypeError(e, "len() takes a string or a list");
        }}},
  };
  return *table;
}

Outcome<Value> Call(const Expr& e, Scope& scope) {
  const std::string name = PathToString(e.path);
  auto it = Builtins().find(name);
  if (it == Builtins().end()) {
    std::vector<std::string> names;
    for (const auto& [n, f] : Builtins()) names.push_back(n);
    return Error{e.offset, "unknown function `" + name + "`",
                 DidYouMean(Suggest(name, names)).empty() ? "functions are " + JoinQuoted(names)
                                                          : DidYouMean(Suggest(name, names))};
  }
  const auto& [arity, fn] = it->second;
  if (static_cast<int>(e.args.size()) != arity) {
    return Error{e.offset,
                 name + "() takes " + std::to_string(arity) + " argument(s), found " +
                     std::to_string(e.args.size()),
                 ""};
  }
  std::vector<Value> values;
  for (const auto& arg : e.args) {
    Outcome<Value> v = Evaluate(*arg, scope);
    if (!v.ok()) return v;
    Outcome<Value> d = Defined(*arg, std::move(v.value()));
    if (!d.ok()) return d;
    values.push_back(std::move(d.value()));
  }
  return fn(e, values);
}

}  // namespace

Outcome<Value> Evaluate(const Expr& e, Scope& scope) {
  switch (e.kind) {
    case Expr::Kind::kLiteral:
      return e.literal;
    case Expr::Kind::kRef:
      return scope.Lookup(e.path);
    case Expr::Kind::kCall:
      return Call(e, scope);
    case Expr::Kind::kList: {
      std::vector<Value> items;
      for (const auto& arg : e.args) {
        Outcome<Value> v = Evaluate(*arg, scope);
        if (!v.ok()) return v;
        Outcome<Value> d = Defined(*arg, std::move(v.value()));
        if (!d.ok()) return d;
        items.push_back(std::move(d.value()));
      }
      return Value::List(std::move(items));
    }
    case Expr::Kind::kTernary: {
      Outcome<Value> cond = Evaluate(*e.args[0], scope);
      if (!cond.ok()) return cond;
      return Evaluate(*e.args[cond.value().Truthy() ? 1 : 2], scope);
    }
    case Expr::Kind::kUnary: {
      Outcome<Value> v = Evaluate(*e.args[0], scope);
      if (!v.ok()) return v;
      if (e.op == "not") return Value::Bool(!v.value().Truthy());
      Outcome<Value> d = Defined(*e.args[0], std::move(v.value()));
      if (!d.ok()) return d;
      const Value& x = d.value();
      if (x.kind == Value::Kind::kInt && x.i == INT64_MIN) {
        return TypeError(e, "integer overflow: -" + x.ToString() + " is past 64 bits");
      }
      if (x.kind == Value::Kind::kInt) return Value::Int(-x.i);
      if (x.kind == Value::Kind::kFloat) return Value::Float(-x.f);
      return TypeError(e, "cannot negate " + x.TypeName());
    }
    case Expr::Kind::kBinary: {
      Outcome<Value> l = Evaluate(*e.args[0], scope);
      if (!l.ok()) return l;
      if (e.op == "and") return l.value().Truthy() ? Evaluate(*e.args[1], scope) : l;
      if (e.op == "or") return l.value().Truthy() ? l : Evaluate(*e.args[1], scope);
      Outcome<Value> r = Evaluate(*e.args[1], scope);
      if (!r.ok()) return r;
      Outcome<Value> a = Defined(*e.args[0], std::move(l.value()));
      if (!a.ok()) return a;
      Outcome<Value> b = Defined(*e.args[1], std::move(r.value()));
      if (!b.ok()) return b;
      if (e.op == "==" || e.op == "!=" || e.op == "<" || e.op == "<=" || e.op == ">" ||
          e.op == ">=") {
        return Compare(e, a.value(), b.value());
      }
      return Arithmetic(e, a.value(), b.value());
    }
  }
  return Error{e.offset, "cannot evaluate", ""};
}

}  // namespace entrenar::expr
