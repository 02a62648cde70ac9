#include "entrenar/expr/expr.h"

#include <map>

#include <catch2/catch.hpp>

namespace entrenar::expr {
namespace {

// A scope over a fixed table of dotted names.
class MapScope : public Scope {
 public:
  explicit MapScope(std::map<std::string, Value> values) : values_(std::move(values)) {}
  Outcome<Value> Lookup(const std::vector<PathSeg>& path) override {
    const std::string key = PathToString(path);
    auto it = values_.find(key);
    if (it == values_.end()) return Error{path[0].offset, "unknown name `" + key + "`", ""};
    return it->second;
  }

 private:
  std::map<std::string, Value> values_;
};

Value Eval(const std::string& src, std::map<std::string, Value> vars = {}) {
  Outcome<std::unique_ptr<Expr>> e = Parse(src);
  INFO(src);
  REQUIRE(e.ok());
  MapScope scope(std::move(vars));
  Outcome<Value> v = Evaluate(*e.value(), scope);
  if (!v.ok()) FAIL(v.error().message);
  return v.value();
}

Error EvalError(const std::string& src, std::map<std::string, Value> vars = {}) {
  Outcome<std::unique_ptr<Expr>> e = Parse(src);
  if (!e.ok()) return e.error();
  MapScope scope(std::move(vars));
  Outcome<Value> v = Evaluate(*e.value(), scope);
  REQUIRE_FALSE(v.ok());
  return v.error();
}

TEST_CASE("Arithmetic keeps integers integral and follows precedence", "[unit][expr]") {
  CHECK(Eval("1 + 2 * 3").i == 7);
  CHECK(Eval("(1 + 2) * 3").i == 9);
  CHECK(Eval("7 // 2").i == 3);
  CHECK(Eval("-7 // 2").i == -4);
  CHECK(Eval("7 % 3").i == 1);
  CHECK(Eval("7 / 2").kind == Value::Kind::kFloat);
  CHECK(Eval("7 / 2").f == 3.5);
  CHECK(Eval("1e-4 * 2").f == Approx(2e-4));
  CHECK(Eval("-3").i == -3);
}

TEST_CASE("References, comparisons, booleans and conditionals evaluate", "[unit][expr]") {
  std::map<std::string, Value> vars = {{"data.loader.batch_size", Value::Int(32)},
                                       {"training.gradient.accumulation_steps", Value::Int(4)},
                                       {"lora.enabled", Value::Bool(true)},
                                       {"name", Value::String("exp")}};
  CHECK(Eval("data.loader.batch_size * training.gradient.accumulation_steps", vars).i == 128);
  CHECK(Eval("1e-4 if lora.enabled else 1e-5", vars).f == Approx(1e-4));
  CHECK(Eval("1e-4 if not lora.enabled else 1e-5", vars).f == Approx(1e-5));
  CHECK(Eval("name + '-v2'", vars).s == "exp-v2");
  CHECK(Eval("2 > 1 and 'a' < 'b'").b);
  CHECK(Eval("1 == 1.0").b);
  CHECK(Eval("null or 'fallback'").s == "fallback");
  CHECK(Eval("str(3) + 'x'").s == "3x");
  CHECK(Eval("[1, 2] + [3]").list.size() == 3);
}

TEST_CASE("Evaluation errors name the problem and its offset", "[unit][expr]") {
  Error e = EvalError("1 / 0");
  CHECK(e.message == "division by zero");
  CHECK(e.offset == 4);
  e = EvalError("'a' + 1");
  CHECK(e.message == "cannot apply `+` to string and integer");
  CHECK(e.hint.find("str(x)") != std::string::npos);
  e = EvalError("nope + 1");
  CHECK(e.message == "unknown name `nope`");
  e = EvalError("lenn('x')");
  CHECK(e.message == "unknown function `lenn`");
  CHECK(e.hint == "did you mean `len`?");
}

TEST_CASE("Syntax errors point at the offending token", "[unit][expr]") {
  Outcome<std::unique_ptr<Expr>> e = Parse("1 +");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().offset == 3);
  CHECK(e.error().message == "expected a value, found the end");
  e = Parse("a && b");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().offset == 2);
  CHECK(e.error().hint == "use `and`, `or` and `not`");
  e = Parse("1 if x");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message.find("`else`") != std::string::npos);
  e = Parse("'open");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message == "unterminated string");
  e = Parse("1e");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message.find("malformed number") != std::string::npos);
}

TEST_CASE("FormatDouble prints the shortest exact text", "[unit][expr]") {
  CHECK(FormatDouble(0.0001) == "0.0001");
  CHECK(FormatDouble(3.0) == "3.0");
  CHECK(FormatDouble(1e-8) == "1e-08");
  CHECK(FormatDouble(0.1 + 0.2) == "0.30000000000000004");
}

}  // namespace
}  // namespace entrenar::expr
