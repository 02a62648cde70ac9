#include "entrenar/expr/template.h"

#include <catch2/catch.hpp>

namespace entrenar::expr {
namespace {

class Names : public Scope {
 public:
  Outcome<Value> Lookup(const std::vector<PathSeg>& path) override {
    const std::string key = PathToString(path);
    if (key == "name") return Value::String("mnist");
    if (key == "lr") return Value::Float(0.001);
    if (key == "env.UNSET") return Value::Undefined("environment variable UNSET is not set");
    return Error{path[0].offset, "unknown name `" + key + "`", ""};
  }
};

Outcome<Value> Render(const std::string& src) {
  Outcome<Template> t = Template::Parse(src);
  if (!t.ok()) return t.error();
  Names scope;
  return t.value().Render(scope);
}

TEST_CASE("A whole-value template yields a typed value", "[unit][expr]") {
  Outcome<Value> v = Render("{{ lr * 2 }}");
  REQUIRE(v.ok());
  CHECK(v.value().kind == Value::Kind::kFloat);
  CHECK(v.value().f == Approx(0.002));
}

TEST_CASE("Templates inside text interpolate strings", "[unit][expr]") {
  Outcome<Value> v = Render("./experiments/{{ name }}/lr-{{ lr }}");
  REQUIRE(v.ok());
  CHECK(v.value().s == "./experiments/mnist/lr-0.001");
  CHECK(Render("no holes").value().s == "no holes");
}

TEST_CASE("A literal {{ is written as a string expression", "[unit][expr]") {
  Outcome<Value> v = Render("{{ '{{' }} user {{ '}}' }}");
  REQUIRE(v.ok());
  CHECK(v.value().s == "{{ user }}");
}

TEST_CASE("An unset environment variable fails unless a default is given", "[unit][expr]") {
  Outcome<Value> v = Render("{{ env.UNSET }}");
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().message == "environment variable UNSET is not set");
  CHECK(v.error().hint.find("or \"...\"") != std::string::npos);
  Outcome<Value> d = Render("{{ env.UNSET or './data' }}");
  REQUIRE(d.ok());
  CHECK(d.value().s == "./data");
}

TEST_CASE("Template errors carry offsets into the whole string", "[unit][expr]") {
  Outcome<Value> v = Render("dir/{{ nam }}");
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().offset == 7);
  Outcome<Template> t = Template::Parse("a {{ b");
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().offset == 2);
  CHECK(t.error().message == "`{{` is not closed by `}}`");
}

}  // namespace
}  // namespace entrenar::expr
