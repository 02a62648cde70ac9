#include "entrenar/base/strings.h"

#include <catch2/catch.hpp>

#include "entrenar/base/status.h"

namespace entrenar {
namespace {

TEST_CASE("EditDistance counts insertions, deletions, substitutions and swaps", "[unit][base]") {
  CHECK(EditDistance("lr", "lr") == 0);
  CHECK(EditDistance("lr", "l") == 1);
  CHECK(EditDistance("epochs", "epoch") == 1);
  CHECK(EditDistance("adam", "adma") == 1);  // a transposition is one edit
  CHECK(EditDistance("kitten", "sitting") == 3);
  CHECK(EditDistance("", "abc") == 3);
}

TEST_CASE("Suggest offers the closest valid words for a typo", "[unit][base]") {
  const std::vector<std::string> keys = {"lr", "weight_decay", "betas", "eps", "momentum"};
  CHECK(Suggest("learning_rat", {"learning_rate", "lr"}) ==
        std::vector<std::string>{"learning_rate"});
  CHECK(Suggest("wieght_decay", keys) == std::vector<std::string>{"weight_decay"});
  CHECK(Suggest("betta", keys) == std::vector<std::string>{"betas"});
  CHECK(Suggest("cosine_anealing", {"cosine", "cosine_annealing", "linear"})[0] ==
        "cosine_annealing");
  CHECK(Suggest("zzzzzz", keys).empty());
  CHECK(Suggest("LR", {"lr"}).empty());  // same word in another case is not a suggestion
}

TEST_CASE("DidYouMean phrases one or several suggestions", "[unit][base]") {
  CHECK(DidYouMean({}).empty());
  CHECK(DidYouMean({"lr"}) == "did you mean `lr`?");
  CHECK(DidYouMean({"a", "b"}) == "did you mean `a` or `b`?");
  CHECK(DidYouMean({"a", "b", "c"}) == "did you mean `a`, `b` or `c`?");
}

TEST_CASE("Status and Result carry codes and values", "[unit][base]") {
  Status s = InvalidArgument("bad");
  CHECK_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidArgument);
  CHECK(s.ToString() == "INVALID_ARGUMENT: bad");
  CHECK(static_cast<int>(StatusCode::kUnavailable) == 14);  // equals grpc::StatusCode
  Result<int> r = 7;
  REQUIRE(r.ok());
  CHECK(*r == 7);
  Result<int> e = NotFound("x");
  CHECK_FALSE(e.ok());
  CHECK(e.status().code() == StatusCode::kNotFound);
}

}  // namespace
}  // namespace entrenar
