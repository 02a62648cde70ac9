#include "entrenar/expr/condition.h"

#include <catch2/catch.hpp>

namespace entrenar::expr {
namespace {

TEST_CASE("Alert conditions of SPEC §8 parse and list their metrics", "[unit][expr]") {
  for (const char* src :
       {"loss > 10", "loss.stall(50)", "gpu_memory > 0.95", "learning_rate == 0", "stall(loss, 50)",
        "loss.nan() or loss.inf()", "not (val_accuracy < 0.5) and loss.spike(3)",
        "loss.mean(20) > 2 * loss.mean(100)", "loss.slope(50) >= 0"}) {
    INFO(src);
    Outcome<Condition> c = ParseCondition(src);
    if (!c.ok()) FAIL(c.error().message);
  }
  Outcome<Condition> c = ParseCondition("loss.stall(50) and val_loss > 1");
  REQUIRE(c.ok());
  CHECK(c.value().metrics == std::vector<std::string>{"loss", "val_loss"});
}

TEST_CASE("Bad alert conditions are rejected at the offending column", "[unit][expr]") {
  Outcome<Condition> c = ParseCondition("loss");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("true or false") != std::string::npos);

  c = ParseCondition("loss.stal(50)");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().offset == 5);
  CHECK(c.error().hint == "did you mean `stall`?");

  c = ParseCondition("loss.stall()");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("takes 1 number") != std::string::npos);

  c = ParseCondition("loss > 10 and 5");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().offset == 14);

  c = ParseCondition("loss > 'high'");
  REQUIRE_FALSE(c.ok());

  c = ParseCondition("loss.stall(-3)");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("positive") != std::string::npos);
}

}  // namespace
}  // namespace entrenar::expr
