#include "entrenar/base/sha256.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <catch2/catch.hpp>

namespace entrenar {
namespace {

TEST_CASE("Sha256Hex matches the FIPS 180-2 test vectors", "[unit][base]") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("Sha256File hashes a file and reports a missing one", "[unit][base]") {
  char path[] = "/tmp/entrenar_sha_XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << "abc";
  Result<std::string> h = Sha256File(path);
  REQUIRE(h.ok());
  CHECK(*h == Sha256Hex("abc"));
  std::remove(path);
  Result<std::string> missing = Sha256File(path);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);
}

}  // namespace
}  // namespace entrenar
