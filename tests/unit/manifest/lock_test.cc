#include "entrenar/manifest/lock.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "entrenar/base/sha256.h"
#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"
#include "temp_dir.h"

namespace entrenar::manifest {
namespace {

namespace fs = std::filesystem;
using testing::Load;
using testing::Root;

using entrenar::testing::TempDir;

TEST_CASE("A lock records hashes and verifies until a file changes", "[unit][manifest]") {
  TempDir dir;
  std::ofstream(dir.path + "/train.csv") << "a,label\n1,0\n";
  const std::string text = Root(
      "data:\n  source: train.csv\n  val: missing.csv\n"
      "model:\n  source: hf://org/model\n");
  LoadResult r = Load(text);
  REQUIRE(r.ok());
  Result<std::string> lock = MakeLock(*r.manifest, dir.path);
  REQUIRE(lock.ok());
  CHECK(lock.value().find(Sha256Hex("a,label\n1,0\n")) != std::string::npos);
  CHECK(lock.value().find("hf://org/model") != std::string::npos);

  LoadResult locked = Load(lock.value());
  INFO(lock.value());
  REQUIRE(locked.ok());
  REQUIRE(locked.manifest->lock);
  CHECK(locked.manifest->lock->files.size() == 2);  // the hf:// URI is not a local file
  CHECK(VerifyLock(*locked.manifest, dir.path).empty());

  std::ofstream(dir.path + "/train.csv") << "a,label\n1,1\n";
  std::vector<Diagnostic> diags = VerifyLock(*locked.manifest, dir.path);
  REQUIRE(diags.size() == 1);
  CHECK(diags[0].path == "lock.files[0].sha256");
  CHECK(diags[0].message.find("changed since it was locked") != std::string::npos);

  std::ofstream(dir.path + "/missing.csv") << "now here\n";
  std::ofstream(dir.path + "/train.csv") << "a,label\n1,0\n";
  diags = VerifyLock(*locked.manifest, dir.path);
  REQUIRE(diags.size() == 1);
  CHECK(diags[0].message.find("did not exist when locked") != std::string::npos);
}

TEST_CASE("Verifying a manifest without a lock section is an error", "[unit][manifest]") {
  LoadResult r = Load(Root());
  REQUIRE(r.ok());
  std::vector<Diagnostic> diags = VerifyLock(*r.manifest, ".");
  REQUIRE(diags.size() == 1);
  CHECK(diags[0].path == "lock");
}

TEST_CASE("A lock freezes templates", "[unit][manifest]") {
  TempDir dir;
  LoadResult r = Load(Root("output:\n  dir: \"./runs/{{ timestamp }}\"\n"));
  REQUIRE(r.ok());
  Result<std::string> lock = MakeLock(*r.manifest, dir.path);
  REQUIRE(lock.ok());
  CHECK(lock.value().find("{{") == std::string::npos);
  CHECK(lock.value().find("./runs/2026-01-02T03:04:05Z") != std::string::npos);
}

}  // namespace
}  // namespace entrenar::manifest
