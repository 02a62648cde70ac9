#include "entrenar/base/users.h"

#include <catch2/catch.hpp>

namespace entrenar {
namespace {

TEST_CASE("Users are found by name or uid", "[unit][base]") {
  const std::optional<User> root = FindUser("root");
  REQUIRE(root);
  CHECK(root->uid == 0);
  CHECK(root->gid == 0);
  CHECK(root->home == "/root");
  CHECK(FindUser("0")->name == "root");
  CHECK(UserById(0)->name == "root");
  // A uid without a passwd entry is still that uid.
  const std::optional<User> bare = FindUser("4000321");
  REQUIRE(bare);
  CHECK(bare->uid == 4000321);
  CHECK(bare->name == "4000321");
  CHECK(!UserById(4000321));
  CHECK(!FindUser("no_such_user_here"));
  CHECK(!FindUser(""));
}

}  // namespace
}  // namespace entrenar
