// hf:// references, the Hub cache and downloads, against the local Hub (tests/support/
// hub_server.py) and an independent client of the same cache (@huggingface/hub).
#include "entrenar/fetch/hub.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/sha256.h"
#include "entrenar/fetch/hf_uri.h"
#include "entrenar/fetch/hub_cache.h"

#include "hub_server.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::fetch {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST_CASE("hf:// references parse as the Hub names repositories", "[unit][fetch]") {
  Result<HfRef> model = ParseHfUri("hf://meta-llama/Llama-2-7b", RepoType::kModel);
  REQUIRE(model.ok());
  CHECK(model->type == RepoType::kModel);
  CHECK(model->repo == "meta-llama/Llama-2-7b");
  CHECK(model->revision == "main");
  CHECK(model->path.empty());
  // Under data.* a bare name is a data set; datasets/ and models/ say it anywhere.
  CHECK(ParseHfUri("hf://tatsu-lab/alpaca", RepoType::kDataset)->type == RepoType::kDataset);
  CHECK(ParseHfUri("hf://datasets/tatsu-lab/alpaca", RepoType::kModel)->type == RepoType::kDataset);
  CHECK(ParseHfUri("hf://models/gpt2/gpt2", RepoType::kDataset)->type == RepoType::kModel);
  Result<HfRef> full = ParseHfUri("hf://org/name@v1.0/sub/tokenizer.json", RepoType::kModel);
  REQUIRE(full.ok());
  CHECK(full->revision == "v1.0");
  CHECK(full->path == "sub/tokenizer.json");
  CHECK(full->Uri() == "hf://org/name@v1.0/sub/tokenizer.json");
  CHECK(ParseHfUri("hf://org/name@refs%2Fpr%2F1", RepoType::kModel)->revision == "refs/pr/1");
  CHECK(ParseHfUri("hf://org/name@refs%2Fpr%2F1", RepoType::kModel)->Uri() ==
        "hf://org/name@refs%2Fpr%2F1");
  // An organization named `datasets` (or `models`) keeps its type prefix when written, or it
  // would read back as the type (the hub fuzz target found it).
  Result<HfRef> org = ParseHfUri("hf://datasets/datasets/tatsu/data/x", RepoType::kDataset);
  REQUIRE(org.ok());
  CHECK(org->repo == "datasets/tatsu");
  CHECK(org->Uri(RepoType::kDataset) == "hf://datasets/datasets/tatsu/data/x");
  CHECK(ParseHfUri(org->Uri(RepoType::kDataset), RepoType::kDataset)->repo == "datasets/tatsu");
  CHECK(ParseHfUri("hf://models/x", RepoType::kModel)->Uri(RepoType::kModel) ==
        "hf://models/models/x");
  for (const char* bad : {"hf://", "hf://org", "hf://org/", "hf://org/na me", "hf://-org/name",
                          "hf://org/name/../etc/passwd", "hf://org/name//x", "hf://org/name@",
                          "hf://org/na--me", "s3://org/name", "hf://org/name/a\\b"}) {
    INFO(bad);
    const Status s = ParseHfUri(bad, RepoType::kModel).status();
    CHECK(s.code() == StatusCode::kInvalidArgument);
    CHECK_THAT(s.message(), Catch::Contains("expected hf://ORG/NAME"));
  }
}

TEST_CASE("the cache is found where huggingface_hub keeps it", "[unit][fetch]") {
  const char* home = std::getenv("HOME");
  const std::string saved_home = home ? home : "";
  ::setenv("HOME", "/home/someone", 1);
  ::unsetenv("HF_HUB_CACHE");
  ::unsetenv("HF_HOME");
  ::unsetenv("XDG_CACHE_HOME");
  CHECK(DefaultHubCache() == "/home/someone/.cache/huggingface/hub");
  ::setenv("XDG_CACHE_HOME", "/xdg", 1);
  CHECK(DefaultHubCache() == "/xdg/huggingface/hub");
  ::setenv("HF_HOME", "/hf", 1);
  CHECK(DefaultHubCache() == "/hf/hub");
  ::setenv("HF_HUB_CACHE", "/cache", 1);
  CHECK(DefaultHubCache() == "/cache");
  ::unsetenv("HF_HUB_CACHE");
  ::unsetenv("HF_HOME");
  ::unsetenv("XDG_CACHE_HOME");
  ::setenv("HOME", saved_home.c_str(), 1);
  const HubCache cache("/c");
  HfRef ref = *ParseHfUri("hf://org/name", RepoType::kModel);
  CHECK(cache.RepoDir(ref) == "/c/models--org--name");
  ref.type = RepoType::kDataset;
  CHECK(cache.SnapshotDir(ref, "abc") == "/c/datasets--org--name/snapshots/abc");
}

// A model and a data set repository for the local Hub.
struct Repos {
  testing::TempDir dir;
  std::string root = dir.path + "/hub";
  std::string weights;  // model.safetensors's bytes (LFS)
  Repos() {
    fs::create_directories(root + "/models/meta-llama/tiny/sub");
    fs::create_directories(root + "/datasets/tatsu-lab/alpaca/data");
    std::ofstream(root + "/models/meta-llama/tiny/config.json") << R"({"model_type": "llama"})";
    std::ofstream(root + "/models/meta-llama/tiny/sub/tokenizer.json") << R"({"version": "1.0"})";
    for (int i = 0; i < 40000; ++i) weights += static_cast<char>((i * 7919) % 251);
    std::ofstream(root + "/models/meta-llama/tiny/model.safetensors", std::ios::binary) << weights;
    std::ofstream(root + "/datasets/tatsu-lab/alpaca/data/train.jsonl") << "{\"text\": \"hi\"}\n";
  }
};

HubSettings Settings(const std::string& endpoint, const std::string& cache) {
  HubSettings s;
  s.endpoint = endpoint;
  s.cache = cache;
  return s;
}

TEST_CASE("hf:// files download into huggingface_hub's cache layout, once", "[unit][fetch]") {
  Repos repos;
  testing::HubServer server(repos.root);
  const std::string cache = repos.dir.path + "/cache";
  Hub hub(Settings(server.Endpoint(), cache));
  const HfRef ref = *ParseHfUri("hf://meta-llama/tiny", RepoType::kModel);
  Result<RepoInfo> info = hub.Info(ref);
  REQUIRE(info.ok());
  CHECK(info->commit == server.Commit("meta-llama/tiny"));
  REQUIRE(info->files.size() == 3);
  CHECK(info->files[0].name == "config.json");
  CHECK(info->files[1].name == "model.safetensors");
  CHECK(info->files[1].sha256 == Sha256Hex(repos.weights));
  CHECK(info->files[1].size == 40000);

  std::vector<DownloadProgress> seen;
  Result<std::string> weights = hub.Fetch(ref, *info, "model.safetensors",
                                          [&](const DownloadProgress& p) { seen.push_back(p); });
  REQUIRE(weights.ok());
  CHECK(*ReadWholeFile(*weights) == repos.weights);
  REQUIRE_FALSE(seen.empty());
  CHECK(seen.back().finished);
  CHECK(seen.back().done == 40000);
  Result<std::string> nested = hub.Fetch(ref, *info, "sub/tokenizer.json");
  REQUIRE(nested.ok());
  REQUIRE(hub.Fetch(ref, *info, "config.json").ok());

  // The layout, exactly: refs/main holds the commit (no newline), snapshots link into blobs with
  // relative links, an LFS blob is named by its sha256, a small file by its git blob SHA-1.
  const std::string repo = cache + "/models--meta-llama--tiny";
  CHECK(*ReadWholeFile(repo + "/refs/main") == info->commit);
  const std::string snap = repo + "/snapshots/" + info->commit;
  CHECK(fs::read_symlink(snap + "/model.safetensors").string() ==
        "../../blobs/" + Sha256Hex(repos.weights));
  CHECK(fs::read_symlink(snap + "/sub/tokenizer.json").string().rfind("../../../blobs/", 0) == 0);
  CHECK(fs::is_regular_file(repo + "/blobs/" + Sha256Hex(repos.weights)));
  for (const auto& e : fs::directory_iterator(repo + "/blobs"))
    CHECK(e.path().extension() != ".incomplete");

  // Fetched again: from the cache, no request for the file.
  const std::size_t before = server.Requests().size();
  REQUIRE(hub.Fetch(ref, *info, "model.safetensors").ok());
  CHECK(server.Requests().size() == before + 1);  // the count itself (/__state)

  // The independent client lists the cache as we wrote it.
  const testing::ProcessResult scan = testing::RunProcess(
      {"/usr/bin/env", "node", std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/hub_js.mjs",
       "scan", cache});
  INFO(scan.err);
  REQUIRE(scan.exit_code == 0);
  const json listed = json::parse(scan.out);
  CHECK(listed["warnings"].empty());
  REQUIRE(listed["repos"].size() == 1);
  CHECK(listed["repos"][0]["name"] == "meta-llama/tiny");
  CHECK(listed["repos"][0]["type"] == "model");
  REQUIRE(listed["repos"][0]["revisions"].size() == 1);
  const json& rev = listed["repos"][0]["revisions"][0];
  CHECK(rev["commit"] == info->commit);
  CHECK(rev["refs"] == json::array({"main"}));
  std::map<std::string, std::int64_t> files;
  for (const json& f : rev["files"]) files[f["name"]] = f["size"];
  CHECK(files["model.safetensors"] == 40000);
  CHECK(files["config.json"] == 23);
}

TEST_CASE("a cache that @huggingface/hub filled is used offline, without a server",
          "[unit][fetch]") {
  Repos repos;
  const std::string cache = repos.dir.path + "/cache";
  std::string commit;
  {
    testing::HubServer server(repos.root);
    commit = server.Commit("meta-llama/tiny");
    const testing::ProcessResult r = testing::RunProcess(
        {"/usr/bin/env", "node", std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/hub_js.mjs",
         "download", server.Endpoint(), cache, "meta-llama/tiny", commit, "config.json",
         "model.safetensors"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  HubSettings s = Settings("http://127.0.0.1:1", cache);
  s.offline = true;
  Hub hub(s);
  const HfRef ref = *ParseHfUri("hf://meta-llama/tiny@" + commit, RepoType::kModel);
  Result<RepoInfo> info = hub.Info(ref);
  REQUIRE(info.ok());
  CHECK(info->from_cache);
  Result<std::string> weights = hub.Fetch(ref, *info, "model.safetensors");
  REQUIRE(weights.ok());
  CHECK(*ReadWholeFile(*weights) == repos.weights);
  // What is not there is named, with where it was looked for.
  const Status missing = hub.Fetch(ref, *info, "sub/tokenizer.json").status();
  CHECK(missing.code() == StatusCode::kNotFound);
  CHECK_THAT(missing.message(), Catch::Contains("sub/tokenizer.json") &&
                                    Catch::Contains("HF_HUB_OFFLINE") && Catch::Contains(cache));
  // A revision by name needs refs/NAME, which @huggingface/hub does not write.
  const Status by_name = hub.Info(*ParseHfUri("hf://meta-llama/tiny", RepoType::kModel)).status();
  CHECK(by_name.code() == StatusCode::kNotFound);
  CHECK_THAT(by_name.message(), Catch::Contains("no revision `main`"));
}

TEST_CASE("an interrupted download resumes with Range and is checked against its sha256",
          "[unit][fetch]") {
  Repos repos;
  testing::HubServer server(repos.root, {"--cut-after", "12345"});
  const std::string cache = repos.dir.path + "/cache";
  Hub hub(Settings(server.Endpoint(), cache));
  const HfRef ref = *ParseHfUri("hf://meta-llama/tiny", RepoType::kModel);
  const RepoInfo info = *hub.Info(ref);
  const Status cut = hub.Fetch(ref, info, "model.safetensors").status();
  CHECK(cut.code() == StatusCode::kUnavailable);
  CHECK_THAT(cut.message(), Catch::Contains("cut short at 12345 of 40000") &&
                                Catch::Contains("run again to resume"));
  const std::string partial =
      cache + "/models--meta-llama--tiny/blobs/" + Sha256Hex(repos.weights) + ".incomplete";
  CHECK(fs::file_size(partial) == 12345);
  CHECK_FALSE(fs::exists(cache + "/models--meta-llama--tiny/snapshots/" + info.commit +
                         "/model.safetensors"));
  Result<std::string> resumed = hub.Fetch(ref, info, "model.safetensors");
  REQUIRE(resumed.ok());
  CHECK(*ReadWholeFile(*resumed) == repos.weights);
  CHECK_FALSE(fs::exists(partial));
  bool ranged = false;
  for (const json& r : server.Requests()) ranged = ranged || r["range"] == "bytes=12345-";
  CHECK(ranged);
  // A partial file whose bytes are not the blob's: the whole is refused and removed.
  fs::remove(cache + "/models--meta-llama--tiny/blobs/" + Sha256Hex(repos.weights));
  fs::remove_all(cache + "/models--meta-llama--tiny/snapshots");
  std::ofstream(partial, std::ios::binary) << std::string(100, 'x');
  const Status bad = hub.Fetch(ref, info, "model.safetensors").status();
  CHECK(bad.code() == StatusCode::kDataLoss);
  CHECK_THAT(bad.message(), Catch::Contains("sha256"));
  CHECK_FALSE(fs::exists(partial));
  REQUIRE(hub.Fetch(ref, info, "model.safetensors").ok());
}

TEST_CASE("a full disk keeps the partial download for the next run, never a half blob",
          "[unit][fetch]") {
  if (geteuid() != 0) {
    WARN("not root: a full disk is a small tmpfs, which only root can mount");
    return;
  }
  Repos repos;
  std::string big;
  for (int i = 0; i < 3'000'000; ++i) big += static_cast<char>((i * 31) % 253);
  std::ofstream(repos.root + "/models/meta-llama/tiny/big.safetensors", std::ios::binary) << big;
  testing::HubServer server(repos.root);
  const std::string cache = repos.dir.path + "/cache";
  fs::create_directories(cache);
  if (::mount("tmpfs", cache.c_str(), "tmpfs", 0, "size=1m") != 0) {
    WARN("cannot mount a tmpfs here: " << std::strerror(errno));
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{cache};
  Hub hub(Settings(server.Endpoint(), cache));
  const HfRef ref = *ParseHfUri("hf://meta-llama/tiny", RepoType::kModel);
  const RepoInfo info = *hub.Info(ref);
  const Status full = hub.Fetch(ref, info, "big.safetensors").status();
  CHECK(full.code() == StatusCode::kResourceExhausted);
  CHECK_THAT(full.message(),
             Catch::Contains("No space left on device") && Catch::Contains("run again to resume"));
  const std::string blob = cache + "/models--meta-llama--tiny/blobs/" + Sha256Hex(big);
  CHECK_FALSE(fs::exists(blob));
  CHECK_FALSE(fs::exists(cache + "/models--meta-llama--tiny/snapshots/" + info.commit +
                         "/big.safetensors"));
  REQUIRE(fs::exists(blob + ".incomplete"));
  const auto kept = fs::file_size(blob + ".incomplete");
  CHECK(kept > 0);
  CHECK(kept < big.size());
  // Space again: the next try resumes after what was kept.
  REQUIRE(::mount("tmpfs", cache.c_str(), "tmpfs", MS_REMOUNT, "size=8m") == 0);
  Result<std::string> path = hub.Fetch(ref, info, "big.safetensors");
  REQUIRE(path.ok());
  CHECK(*ReadWholeFile(*path) == big);
  bool resumed = false;
  for (const json& r : server.Requests())
    resumed = resumed || r["range"] == "bytes=" + std::to_string(kept) + "-";
  CHECK(resumed);
}

TEST_CASE("Hub errors name the repository, the file and the way out, never the token",
          "[unit][fetch]") {
  Repos repos;
  std::ofstream(repos.root + "/models/meta-llama/tiny/.gated") << "";
  const std::string token = "hf_secret_token_123";
  testing::HubServer server(repos.root, {"--token", token});
  const std::string cache = repos.dir.path + "/cache";
  const HfRef ref = *ParseHfUri("hf://meta-llama/tiny", RepoType::kModel);
  {
    Hub anonymous(Settings(server.Endpoint(), cache));
    const Status s = anonymous.Info(ref).status();
    CHECK(s.code() == StatusCode::kUnauthenticated);
    CHECK_THAT(s.message(), Catch::Contains("hf://meta-llama/tiny is gated or private") &&
                                Catch::Contains("HF_TOKEN"));
  }
  {
    HubSettings wrong = Settings(server.Endpoint(), cache);
    wrong.token = "hf_wrong_" + token;
    const Status s = Hub(wrong).Info(ref).status();
    CHECK(s.code() == StatusCode::kUnauthenticated);
    CHECK(s.message().find(token) == std::string::npos);
  }
  HubSettings with = Settings(server.Endpoint(), cache);
  with.token = token;
  Hub hub(with);
  Result<RepoInfo> info = hub.Info(ref);
  REQUIRE(info.ok());
  REQUIRE(hub.Fetch(ref, *info, "model.safetensors").ok());
  const Status file = hub.Fetch(ref, *info, "no-such.json").status();
  CHECK(file.code() == StatusCode::kNotFound);
  CHECK_THAT(file.message(), Catch::Contains("no-such.json does not exist"));
  const Status repo = hub.Info(*ParseHfUri("hf://meta-llama/none", RepoType::kModel)).status();
  CHECK(repo.code() == StatusCode::kNotFound);
  CHECK_THAT(repo.message(), Catch::Contains("no such repository") &&
                                 Catch::Contains("hf://datasets/meta-llama/none"));
  const Status rev = hub.Info(*ParseHfUri("hf://meta-llama/tiny@v9", RepoType::kModel)).status();
  CHECK(rev.code() == StatusCode::kNotFound);
  CHECK_THAT(rev.message(), Catch::Contains("revision `v9` does not exist"));
  // No network: the cache serves what it has; what it lacks says the Hub cannot be reached.
  Hub unreachable(Settings("http://127.0.0.1:1", cache));
  Result<RepoInfo> cached = unreachable.Info(ref);
  REQUIRE(cached.ok());
  CHECK(cached->from_cache);
  CHECK(unreachable.Fetch(ref, *cached, "model.safetensors").ok());
  const Status none = unreachable.Info(*ParseHfUri("hf://org/other", RepoType::kModel)).status();
  CHECK(none.code() == StatusCode::kUnavailable);
  CHECK_THAT(none.message(), Catch::Contains("cannot reach http://127.0.0.1:1"));
}

TEST_CASE("file names from the Hub that would leave the cache are refused", "[unit][fetch]") {
  const HfRef ref = *ParseHfUri("hf://org/name", RepoType::kModel);
  const std::string commit(40, 'a');
  for (const char* name : {"../../etc/passwd", "/etc/passwd", "a/../../b", "a\\b", "", "a//b"}) {
    INFO(name);
    const json body = {{"sha", commit}, {"siblings", {{{"rfilename", name}}}}};
    const Status s = ParseRevisionInfo(body.dump(), ref).status();
    CHECK(s.code() == StatusCode::kDataLoss);
  }
  CHECK(ParseRevisionInfo("{\"sha\": \"abc\", \"siblings\": []}", ref).status().code() ==
        StatusCode::kDataLoss);
  CHECK(ParseRevisionInfo("not json", ref).status().code() == StatusCode::kDataLoss);
  const json good = {{"sha", commit}, {"siblings", {{{"rfilename", "a/b.json"}, {"size", 3}}}}};
  Result<RepoInfo> info = ParseRevisionInfo(good.dump(), ref);
  REQUIRE(info.ok());
  CHECK(info->files[0].size == 3);
}

}  // namespace
}  // namespace entrenar::fetch
