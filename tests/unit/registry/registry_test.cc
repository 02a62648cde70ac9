#include "entrenar/registry/registry.h"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/sha256.h"

#include "temp_dir.h"

namespace entrenar::registry {
namespace {

namespace fs = std::filesystem;

TEST_CASE("model references are pacha://models/NAME:VERSION", "[unit][registry]") {
  Result<ModelRef> ok = ParseModelRef("pacha://models/team/digits-mlp:1.2.0+cpu");
  REQUIRE(ok.ok());
  CHECK(ok->name == "team/digits-mlp");
  CHECK(ok->version == "1.2.0+cpu");
  CHECK(ok->ToString() == "pacha://models/team/digits-mlp:1.2.0+cpu");
  for (const char* bad : {"s3://bucket/m:1", "pacha://datasets/x:1", "pacha://models/x",
                          "pacha://models/../x:1", "pacha://models/x:", "pacha://models/a b:1",
                          "pacha://models/x:1/2", "pacha://models//x:1"}) {
    INFO(bad);
    CHECK(ParseModelRef(bad).status().code() == StatusCode::kInvalidArgument);
  }
}

TEST_CASE("publishing stores files by content hash, once, and versions are immutable",
          "[unit][registry]") {
  testing::TempDir dir;
  REQUIRE(WriteFileAtomic(dir.path + "/model.safetensors", "weights-1").ok());
  REQUIRE(WriteFileAtomic(dir.path + "/config.yaml", "name: x\n").ok());
  Registry reg(dir.path + "/reg");
  Entry e;
  e.ref = *ParseModelRef("pacha://models/x:1");
  e.created = "2026-11-25T00:00:00Z";
  e.run_dir = "/runs/a";
  e.metrics = {{"test_accuracy", 0.75}};
  e.quality_score = 88.5;
  e.quality_grade = "A-";
  const std::map<std::string, std::string> files = {
      {"model.safetensors", dir.path + "/model.safetensors"},
      {"config.yaml", dir.path + "/config.yaml"}};
  REQUIRE(reg.Publish(e, files).ok());
  Result<Entry> got = reg.Get(e.ref);
  REQUIRE(got.ok());
  REQUIRE(got->files.size() == 2);
  CHECK(got->files[1].name == "model.safetensors");
  CHECK(got->files[1].sha256 == Sha256Hex("weights-1"));
  CHECK(*ReadWholeFile(reg.BlobPath(got->files[1].sha256)) == "weights-1");
  CHECK(got->metrics.at("test_accuracy") == 0.75);
  CHECK(got->quality_grade == "A-");
  // The same files again: fine. Other weights under the same version: refused.
  CHECK(reg.Publish(e, files).ok());
  REQUIRE(WriteFileAtomic(dir.path + "/model.safetensors", "weights-2").ok());
  const Status again = reg.Publish(e, files);
  CHECK(again.code() == StatusCode::kAlreadyExists);
  CHECK(again.message().find("versions are immutable") != std::string::npos);
  CHECK(*ReadWholeFile(reg.BlobPath(got->files[1].sha256)) == "weights-1");
  // A new version shares the unchanged config blob.
  e.ref.version = "2";
  REQUIRE(reg.Publish(e, files).ok());
  std::size_t blobs = 0;
  for (const auto& b : fs::directory_iterator(dir.path + "/reg/blobs/sha256"))
    blobs += !!b.exists();
  CHECK(blobs == 3);
  Result<std::vector<Entry>> all = reg.List();
  REQUIRE(all.ok());
  CHECK(all->size() == 2);
  CHECK(reg.List("y")->empty());
  CHECK(reg.Get(*ParseModelRef("pacha://models/x:3")).status().code() == StatusCode::kNotFound);
  // A missing file, and a damaged entry, are errors, not crashes.
  CHECK(reg.Publish(e, {{"m", dir.path + "/nope"}}).code() == StatusCode::kNotFound);
  std::ofstream(dir.path + "/reg/models/x/1.json") << "{\"name\": 3}";
  CHECK(reg.Get(*ParseModelRef("pacha://models/x:1")).status().code() == StatusCode::kDataLoss);
  CHECK(reg.List().status().code() == StatusCode::kDataLoss);
}

}  // namespace
}  // namespace entrenar::registry
