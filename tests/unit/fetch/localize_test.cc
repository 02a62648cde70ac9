// Which files of a Hub repository a run fetches, and the local paths its manifest gets.
#include "entrenar/fetch/localize.h"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "hub_server.h"
#include "temp_dir.h"

namespace entrenar::fetch {
namespace {

namespace fs = std::filesystem;

void Write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

LocalizeOptions Options(const std::string& endpoint, const std::string& cache,
                        std::vector<std::string>* notes) {
  LocalizeOptions o;
  o.hub.endpoint = endpoint;
  o.hub.cache = cache;
  o.note = [notes](const std::string& n) { notes->push_back(n); };
  return o;
}

TEST_CASE("a data set's splits map onto data.source, train, val and test", "[unit][fetch]") {
  testing::TempDir dir;
  const std::string repo = dir.path + "/hub/datasets/org/set";
  Write(repo + "/README.md", "# a data set\n");
  Write(repo + "/dataset_infos.json", "{}");
  Write(repo + "/data/train-00000-of-00002.parquet", "shard 0");
  Write(repo + "/data/train-00001-of-00002.parquet", "shard 1");
  Write(repo + "/data/validation-00000-of-00001.parquet", "val");
  Write(repo + "/data/test.jsonl", "{\"a\": 1}\n");
  Write(repo + "/data/test-00000-of-00001.parquet", "test");
  testing::HubServer hub(dir.path + "/hub");
  std::vector<std::string> notes;
  manifest::Manifest m;
  m.data.source = "hf://org/set";
  m.data.val = "hf://org/set";
  m.data.test = "hf://datasets/org/set";
  Result<Localized> local = Localize(m, Options(hub.Endpoint(), dir.path + "/cache", &notes));
  REQUIRE(local.ok());
  const std::string snap =
      dir.path + "/cache/datasets--org--set/snapshots/" + hub.Commit("datasets/org/set");
  // The shards of a split become one pattern that matches them alone.
  CHECK(*local->manifest.data.source == snap + "/data/train-0000*-of-00002.parquet");
  CHECK(*local->manifest.data.val == snap + "/data/validation-00000-of-00001.parquet");
  // Parquet wins over other files of the same split.
  CHECK(*local->manifest.data.test == snap + "/data/test-00000-of-00001.parquet");
  REQUIRE(local->sources.size() == 3);
  CHECK(local->sources[0].key == "data.source");
  CHECK(local->sources[0].uri == "hf://org/set");
  CHECK(local->sources[0].commit == hub.Commit("datasets/org/set"));
  // Only the data the run reads was downloaded: not the README, not the JSON Lines test file.
  CHECK_FALSE(fs::exists(snap + "/README.md"));
  CHECK_FALSE(fs::exists(snap + "/data/test.jsonl"));
  CHECK(fs::exists(snap + "/data/train-00001-of-00002.parquet"));
  CHECK(notes.size() == 4);  // one line per file downloaded

  // A split the repository lacks is named, with those it has.
  manifest::Manifest none;
  none.data.train = "hf://org/set/data/validation-00000-of-00001.parquet";  // a file: itself
  none.data.val = "hf://org/set/data/train-00000-of-00002.parquet";
  CHECK(Localize(none, Options(hub.Endpoint(), dir.path + "/cache", &notes)).ok());
  Write(dir.path + "/hub/datasets/org/plain/train.csv", "a,b\n1,2\n");
  manifest::Manifest missing;
  missing.data.source = "hf://org/plain";
  missing.data.test = "hf://org/plain";
  const Status s = Localize(missing, Options(hub.Endpoint(), dir.path + "/cache", &notes)).status();
  CHECK(s.code() == StatusCode::kNotFound);
  // (Named as a data set: a bare name under data.* is one.)
  CHECK(s.message() ==
        "data.test: hf://datasets/org/plain has no test split (it has `train`); name a file "
        "with hf://datasets/org/plain/PATH");
}

TEST_CASE("a model fetches its config, tokenizer and the shards its index names", "[unit][fetch]") {
  testing::TempDir dir;
  const std::string repo = dir.path + "/hub/models/org/model";
  Write(repo + "/config.json", "{}");
  Write(repo + "/tokenizer.json", "{}");
  Write(repo + "/model.safetensors.index.json",
        R"({"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}})");
  Write(repo + "/model-1.safetensors", "one");
  Write(repo + "/model-2.safetensors", "two");
  Write(repo + "/pytorch_model.bin", "pickle");
  Write(repo + "/old/model.safetensors", "an older copy");
  Write(dir.path + "/hub/models/org/pickled/config.json", "{}");
  Write(dir.path + "/hub/models/org/pickled/pytorch_model.bin", "pickle");
  testing::HubServer hub(dir.path + "/hub");
  std::vector<std::string> notes;
  manifest::Manifest m;
  m.model.source = "hf://org/model";
  manifest::PreprocessStep step;
  step.tokenize.emplace();
  step.tokenize->tokenizer = "hf://org/model";
  m.data.preprocessing.push_back(step);
  Result<Localized> local = Localize(m, Options(hub.Endpoint(), dir.path + "/cache", &notes));
  REQUIRE(local.ok());
  const std::string snap =
      dir.path + "/cache/models--org--model/snapshots/" + hub.Commit("org/model");
  CHECK(*local->manifest.model.source == snap);
  CHECK(local->manifest.data.preprocessing[0].tokenize->tokenizer == snap + "/tokenizer.json");
  for (const char* f : {"config.json", "tokenizer.json", "model.safetensors.index.json",
                        "model-1.safetensors", "model-2.safetensors"})
    CHECK(fs::exists(snap + "/" + f));
  CHECK_FALSE(fs::exists(snap + "/pytorch_model.bin"));
  CHECK_FALSE(fs::exists(snap + "/old"));
  // Pickled weights alone are refused, with how to convert them.
  manifest::Manifest pickled;
  pickled.model.source = "hf://org/pickled";
  const Status s = Localize(pickled, Options(hub.Endpoint(), dir.path + "/cache", &notes)).status();
  CHECK(s.code() == StatusCode::kUnimplemented);
  CHECK_THAT(s.message(), Catch::StartsWith("model.source: hf://org/pickled has PyTorch pickle "
                                            "weights (pytorch_model.bin)") &&
                              Catch::Contains("safe_serialization=True"));
}

}  // namespace
}  // namespace entrenar::fetch
