#include "entrenar/expr/condition.h"

#include <algorithm>

#include "entrenar/base/strings.h"

namespace entrenar::expr {
namespace {

enum class Type { kNumber, kBool, kString };

std::string TypeWord(Type t) {
  return t == Type::kNumber ? "a number" : t == Type::kBool ? "true/false" : "a string";
}

const ConditionFunction* FindFunction(const std::string& name) {
  for (const ConditionFunction& f : ConditionFunctions()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::vector<std::string> FunctionNames() {
  std::vector<std::string> names;
  for (const ConditionFunction& f : ConditionFunctions()) names.push_back(f.name);
  return names;
}

class Checker {
 public:
  explicit Checker(std::vector<std::string>* metrics) : metrics_(metrics) {}

  Outcome<Type> Check(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral:
        if (e.literal.IsNumber()) return Type::kNumber;
        if (e.literal.kind == Value::Kind::kBool) return Type::kBool;
        if (e.literal.kind == Value::Kind::kString) return Type::kString;
        return Error{e.offset, "null has no place in a condition", ""};
      case Expr::Kind::kList:
        return Error{e.offset, "lists have no place in a condition", ""};
      case Expr::Kind::kRef:
        return Metric(e, e.path);
      case Expr::Kind::kCall:
        return Call(e);
      case Expr::Kind::kTernary:
        return Error{e.offset, "`if ... else` has no place in a condition",
                     "combine tests with `and`, `or` and `not`"};
      case Expr::Kind::kUnary: {
        Outcome<Type> t = Check(*e.args[0]);
        if (!t.ok()) return t;
        if (e.op == "not") return Want(*e.args[0], t.value(), Type::kBool, "`not`");
        return Want(*e.args[0], t.value(), Type::kNumber, "`-`");
      }
      case Expr::Kind::kBinary:
        return Binary(e);
    }
    return Error{e.offset, "cannot check this condition", ""};
  }

 private:
  Outcome<Type> Want(const Expr& at, Type got, Type want, const std::string& what) {
    if (got == want) return want;
    std::string hint;
    if (want == Type::kBool && got == Type::kNumber) hint = "compare it, e.g. `loss > 10`";
    return Error{at.offset, what + " needs " + TypeWord(want) + ", found " + TypeWord(got), hint};
  }

  Outcome<Type> Metric(const Expr& e, const std::vector<PathSeg>& path) {
    for (const PathSeg& seg : path) {
      if (seg.index) return Error{seg.offset, "metrics cannot be indexed", ""};
    }
    const std::string name = PathToString(path);
    if (std::find(metrics_->begin(), metrics_->end(), name) == metrics_->end()) {
      metrics_->push_back(name);
    }
    (void)e;
    return Type::kNumber;
  }

  Outcome<Type> Call(const Expr& e) {
    // `loss.stall(50)`: the last segment is the function, the rest the metric.
    // `stall(loss, 50)`: the first argument is the metric.
    const std::string fname = e.path.back().name;
    const ConditionFunction* f = FindFunction(fname);
    if (!f) {
      return Error{e.path.back().offset, "unknown function `" + fname + "`",
                   DidYouMean(Suggest(fname, FunctionNames())).empty()
                       ? "functions are " + JoinQuoted(FunctionNames())
                       : DidYouMean(Suggest(fname, FunctionNames()))};
    }
    std::size_t first_arg = 0;
    if (e.path.size() > 1) {
      Outcome<Type> m = Metric(e, std::vector<PathSeg>(e.path.begin(), e.path.end() - 1));
      if (!m.ok()) return m;
    } else {
      if (e.args.empty() || e.args[0]->kind != Expr::Kind::kRef) {
        return Error{e.offset,
                     fname + "() needs a metric: write `loss." + fname + "(...)` or `" + fname +
                         "(loss, ...)`",
                     ""};
      }
      Outcome<Type> m = Metric(*e.args[0], e.args[0]->path);
      if (!m.ok()) return m;
      first_arg = 1;
    }
    const std::size_t n = e.args.size() - first_arg;
    if (static_cast<int>(n) != f->num_args) {
      return Error{e.offset,
                   fname + "() takes " + std::to_string(f->num_args) +
                       " number(s) after the metric, found " + std::to_string(n),
                   ""};
    }
    for (std::size_t k = first_arg; k < e.args.size(); ++k) {
      const Expr& a = *e.args[k];
      if (a.kind != Expr::Kind::kLiteral || !a.literal.IsNumber() || a.literal.AsDouble() <= 0) {
        return Error{a.offset, fname + "() takes a positive number here", ""};
      }
    }
    return f->returns_bool ? Type::kBool : Type::kNumber;
  }

  Outcome<Type> Binary(const Expr& e) {
    Outcome<Type> l = Check(*e.args[0]);
    if (!l.ok()) return l;
    Outcome<Type> r = Check(*e.args[1]);
    if (!r.ok()) return r;
    const std::string& op = e.op;
    if (op == "and" || op == "or") {
      Outcome<Type> a = Want(*e.args[0], l.value(), Type::kBool, "`" + op + "`");
      if (!a.ok()) return a;
      return Want(*e.args[1], r.value(), Type::kBool, "`" + op + "`");
    }
    if (op == "==" || op == "!=") {
      if (l.value() != r.value()) {
        return Error{e.offset,
                     "cannot compare " + TypeWord(l.value()) + " with " + TypeWord(r.value()), ""};
      }
      return Type::kBool;
    }
    Outcome<Type> a = Want(*e.args[0], l.value(), Type::kNumber, "`" + op + "`");
    if (!a.ok()) return a;
    Outcome<Type> b = Want(*e.args[1], r.value(), Type::kNumber, "`" + op + "`");
    if (!b.ok()) return b;
    if (op == "<" || op == "<=" || op == ">" || op == ">=") return Type::kBool;
    return Type::kNumber;
  }

  std::vector<std::string>* metrics_;
};

}  // namespace

const std::vector<ConditionFunction>& ConditionFunctions() {
  static const auto* fns = new std::vector<ConditionFunction>{
      {"stall", 1, true}, {"nan", 0, true},   {"inf", 0, true},
      {"spike", 1, true}, {"mean", 1, false}, {"slope", 1, false},
  };
  return *fns;
}

Outcome<Condition> ParseCondition(std::string_view source) {
  Outcome<std::unique_ptr<Expr>> e = Parse(source);
  if (!e.ok()) return e.error();
  Condition c;
  Checker checker(&c.metrics);
  Outcome<Type> t = checker.Check(*e.value());
  if (!t.ok()) return t.error();
  if (t.value() != Type::kBool) {
    return Error{0, "a condition must be true or false, found " + TypeWord(t.value()),
                 "compare it, e.g. `loss > 10`"};
  }
  c.expr = std::move(e.value());
  return c;
}

}  // namespace entrenar::expr
