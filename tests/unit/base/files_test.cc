#include "entrenar/base/files.h"

#include <filesystem>

#include <catch2/catch.hpp>

#include "temp_dir.h"

namespace entrenar {
namespace {

TEST_CASE("WriteFileAtomic replaces a file whole and leaves no temporary", "[unit][base]") {
  testing::TempDir dir;
  const std::string path = dir.path + "/f.txt";
  REQUIRE(WriteFileAtomic(path, "first").ok());
  REQUIRE(WriteFileAtomic(path, "second\n").ok());
  CHECK(*ReadWholeFile(path) == "second\n");
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path),
                      std::filesystem::directory_iterator()) == 1);
  CHECK(WriteFileAtomic(dir.path + "/missing/f.txt", "x").code() == StatusCode::kDataLoss);
}

TEST_CASE("ReadWholeFile tells a missing file from a directory", "[unit][base]") {
  testing::TempDir dir;
  CHECK(ReadWholeFile(dir.path + "/none").status().code() == StatusCode::kNotFound);
  CHECK(ReadWholeFile(dir.path).status().code() == StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace entrenar
