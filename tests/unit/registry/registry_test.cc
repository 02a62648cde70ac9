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

TEST_CASE("references are pacha://models/NAME:VERSION and pacha://datasets/NAME:VERSION",
          "[unit][registry]") {
  Result<Ref> ok = ParseModelRef("pacha://models/team/digits-mlp:1.2.0+cpu");
  REQUIRE(ok.ok());
  CHECK(ok->kind == Kind::kModel);
  CHECK(ok->name == "team/digits-mlp");
  CHECK(ok->version == "1.2.0+cpu");
  CHECK(ok->ToString() == "pacha://models/team/digits-mlp:1.2.0+cpu");
  Result<Ref> data = ParseRef("pacha://datasets/mnist:1.0");
  REQUIRE(data.ok());
  CHECK(data->kind == Kind::kDataset);
  CHECK(data->ToString() == "pacha://datasets/mnist:1.0");
  CHECK(ParseModelRef("pacha://datasets/mnist:1.0").status().code() ==
        StatusCode::kInvalidArgument);
  for (const char* bad :
       {"s3://bucket/m:1", "pacha://images/x:1", "pacha://models/x", "pacha://models/../x:1",
        "pacha://models/x:", "pacha://models/a b:1", "pacha://models/x:1/2", "pacha://models//x:1",
        "pacha://datasets/x:..", "pacha://datasets/.:1"}) {
    INFO(bad);
    CHECK(ParseRef(bad).status().code() == StatusCode::kInvalidArgument);
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

TEST_CASE("a data set is added from files and folders, and its snapshot names its files by links",
          "[unit][registry]") {
  testing::TempDir dir;
  fs::create_directories(dir.path + "/iris/data");
  fs::create_directories(dir.path + "/iris/.git");
  REQUIRE(WriteFileAtomic(dir.path + "/iris/data/train.csv", "a,b\n1,2\n").ok());
  REQUIRE(WriteFileAtomic(dir.path + "/iris/data/test.csv", "a,b\n3,4\n").ok());
  REQUIRE(WriteFileAtomic(dir.path + "/iris/.git/HEAD", "ref").ok());
  REQUIRE(WriteFileAtomic(dir.path + "/README.md", "# iris\n").ok());
  Result<std::map<std::string, std::string>> files =
      FilesToAdd({dir.path + "/iris", dir.path + "/README.md"});
  REQUIRE(files.ok());
  CHECK(files->size() == 3);  // .git left out
  CHECK(files->at("data/train.csv") == dir.path + "/iris/data/train.csv");
  CHECK(files->at("README.md") == dir.path + "/README.md");
  CHECK(FilesToAdd({dir.path + "/nope"}).status().code() == StatusCode::kNotFound);
  const Status twice = FilesToAdd({dir.path + "/README.md", dir.path + "/README.md"}).status();
  CHECK(twice.code() == StatusCode::kInvalidArgument);
  CHECK(twice.message().find("two files to add are named README.md") != std::string::npos);

  Registry reg(dir.path + "/reg");
  Entry e;
  e.ref = *ParseRef("pacha://datasets/flowers/iris:1.0");
  REQUIRE(reg.Publish(e, *files).ok());
  Result<Entry> got = reg.Get(e.ref);
  REQUIRE(got.ok());
  CHECK(got->ref.kind == Kind::kDataset);
  CHECK(fs::exists(dir.path + "/reg/datasets/flowers/iris/1.0.json"));
  Result<std::string> snap = reg.Snapshot(*got);
  REQUIRE(snap.ok());
  CHECK(*snap == dir.path + "/reg/snapshots/datasets/flowers/iris@1.0");
  CHECK(fs::is_symlink(*snap + "/data/train.csv"));
  CHECK(*ReadWholeFile(*snap + "/data/train.csv") == "a,b\n1,2\n");
  CHECK(*ReadWholeFile(*snap + "/README.md") == "# iris\n");
  // The links are relative: a registry moved (or mounted elsewhere) still reads.
  fs::rename(dir.path + "/reg", dir.path + "/moved");
  CHECK(*ReadWholeFile(dir.path + "/moved/snapshots/datasets/flowers/iris@1.0/data/test.csv") ==
        "a,b\n3,4\n");
  Registry moved(dir.path + "/moved");
  // The original changing after it was added changes nothing stored.
  REQUIRE(WriteFileAtomic(dir.path + "/iris/data/train.csv", "changed\n").ok());
  CHECK(*ReadWholeFile(dir.path + "/moved/snapshots/datasets/flowers/iris@1.0/data/train.csv") ==
        "a,b\n1,2\n");
  // A version that is not there names those that are.
  const Status missing = moved.Get(*ParseRef("pacha://datasets/flowers/iris:2.0")).status();
  CHECK(missing.code() == StatusCode::kNotFound);
  CHECK(missing.message().find("its versions there: 1.0") != std::string::npos);
  // A snapshot removed is made again from the blobs; a blob gone is a clear error.
  fs::remove_all(dir.path + "/moved/snapshots");
  REQUIRE(moved.Snapshot(*moved.Get(e.ref)).ok());
  CHECK(*ReadWholeFile(dir.path + "/moved/snapshots/datasets/flowers/iris@1.0/README.md") ==
        "# iris\n");
  fs::remove(moved.BlobPath(got->files[0].sha256));
  const Status gone = moved.Snapshot(*moved.Get(e.ref)).status();
  CHECK(gone.code() == StatusCode::kDataLoss);
  CHECK(gone.message().find("are gone") != std::string::npos);
  // Published again (a new version of the same bytes), the damaged blob is replaced.
  REQUIRE(WriteFileAtomic(moved.BlobPath(got->files[1].sha256), "x").ok());
  Entry again = e;
  again.ref.version = "1.0.1";
  REQUIRE(WriteFileAtomic(dir.path + "/iris/data/train.csv", "a,b\n1,2\n").ok());
  REQUIRE(moved.Publish(again, *files).ok());
  CHECK(got->files[1].name == "data/test.csv");
  CHECK(*ReadWholeFile(moved.BlobPath(got->files[1].sha256)) == "a,b\n3,4\n");
  CHECK(*ReadWholeFile(moved.BlobPath(got->files[0].sha256)) == "# iris\n");  // gone, back
  // A name with a `/` is not another version's folder: flowers:iris and flowers/iris:1.0.
  Entry other;
  other.ref = *ParseRef("pacha://datasets/flowers:iris");
  REQUIRE(moved.Publish(other, {{"other.csv", dir.path + "/README.md"}}).ok());
  const std::string mine = *moved.Snapshot(*moved.Get(other.ref));
  CHECK(fs::exists(mine + "/other.csv"));
  CHECK_FALSE(fs::exists(mine + "/data"));
  // Models and data sets are listed together, models first.
  Entry m;
  m.ref = *ParseModelRef("pacha://models/zz:1");
  REQUIRE(moved.Publish(m, {{"model.safetensors", dir.path + "/README.md"}}).ok());
  Result<std::vector<Entry>> all = moved.List();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 4);
  CHECK(all->at(0).ref.kind == Kind::kModel);
  CHECK(all->at(1).ref.ToString() == "pacha://datasets/flowers:iris");
}

TEST_CASE("a registry entry whose names would leave the registry is damage", "[unit][registry]") {
  testing::TempDir dir;
  Registry reg(dir.path);
  fs::create_directories(dir.path + "/datasets/x");
  const std::string sha(64, 'a');
  for (const char* name : {"../../etc/passwd", "/etc/passwd", "a//b", "", "a\\\\b"}) {
    INFO(name);
    std::ofstream(dir.path + "/datasets/x/1.json")
        << R"({"kind": "datasets", "name": "x", "version": "1", "files": [{"name": ")" << name
        << R"(", "sha256": ")" << sha << R"(", "size": 1}]})";
    CHECK(reg.Get(*ParseRef("pacha://datasets/x:1")).status().code() == StatusCode::kDataLoss);
  }
  // A size that is not a whole number of bytes (the fuzzer's 2.7e137 was undefined behaviour).
  for (const char* size : {"2.7e137", "-1", "1.5", "\"7\""}) {
    INFO(size);
    std::ofstream(dir.path + "/datasets/x/1.json")
        << R"({"kind": "datasets", "name": "x", "version": "1", "files": [{"name": "a", "sha256": ")"
        << sha << R"(", "size": )" << size << "}]}";
    CHECK(reg.Get(*ParseRef("pacha://datasets/x:1")).status().code() == StatusCode::kDataLoss);
  }
  std::ofstream(dir.path + "/datasets/x/1.json")
      << R"({"kind": "datasets", "name": "../x", "version": "1", "files": []})";
  CHECK(reg.Get(*ParseRef("pacha://datasets/x:1")).status().code() == StatusCode::kDataLoss);
}

}  // namespace
}  // namespace entrenar::registry
