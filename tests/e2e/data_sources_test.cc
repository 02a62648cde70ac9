// Where training data comes from: Parquet files written by an independent writer (DuckDB, as a
// user converting a data set would) train exactly as the CSV or JSON Lines they came from.
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "hub_fixture.h"
#include "hub_server.h"
#include "run_files.h"
#include "s3_server.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

using entrenar::testing::DuckDbCopy;
using entrenar::testing::LossByStep;
using entrenar::testing::RunProcess;
using entrenar::testing::TempDir;
using entrenar::testing::Train;

const std::string kSource = ENTRENAR_SOURCE_DIR;

// Trains `example` twice, from its own data and with data.source set to `parquet`; the per-step
// training losses must be equal.
void TrainsAlike(const std::string& example, const std::string& parquet,
                 const std::vector<std::string>& sets, const std::string& dir) {
  std::vector<std::string> base = {kSource + "/examples/" + example};
  for (const std::string& s : sets) base.insert(base.end(), {"--set", s});
  std::vector<std::string> original = base, converted = base;
  original.insert(original.end(), {"--output", dir + "/original"});
  converted.insert(converted.end(),
                   {"--set", "data.source=" + parquet, "--output", dir + "/parquet"});
  const auto a = Train(original);
  INFO(a.err);
  REQUIRE(a.exit_code == 0);
  const auto b = Train(converted);
  INFO(b.err);
  REQUIRE(b.exit_code == 0);
  const auto losses = LossByStep(dir + "/original/metrics.jsonl");
  CHECK(losses.size() > 5);
  CHECK(losses == LossByStep(dir + "/parquet/metrics.jsonl"));
}

TEST_CASE("train on a Parquet table DuckDB wrote: the same losses as from its CSV", "[e2e]") {
  TempDir dir;
  const std::string parquet = dir.path + "/iris.parquet";
  // Zstd, data pages v2, several row groups; the species strings dictionary-encoded.
  DuckDbCopy(kSource + "/examples/data/iris.csv", parquet, "zstd", "V2", 64);
  TrainsAlike("iris.yaml", parquet, {"training.epochs=3"}, dir.path);
  // plan reads the same rows (its split sizes come from the file).
  const auto plan =
      RunProcess({entrenar::testing::EntrenarBinary(), "plan", kSource + "/examples/iris.yaml",
                  "--set", "data.source=" + parquet});
  INFO(plan.err);
  CHECK(plan.exit_code == 0);
  CHECK_THAT(plan.out, Catch::Contains("150"));
}

TEST_CASE("train on a pattern of Parquet shards: the same losses as from the one CSV", "[e2e]") {
  TempDir dir;
  // iris.csv cut in two at row 75, each half a Parquet shard; the pattern reads them in order.
  std::istringstream csv(entrenar::testing::Slurp(kSource + "/examples/data/iris.csv"));
  std::string header, line;
  std::getline(csv, header);
  std::string halves[2] = {header + "\n", header + "\n"};
  for (int row = 0; std::getline(csv, line); ++row) halves[row < 75 ? 0 : 1] += line + "\n";
  for (int i = 0; i < 2; ++i) {
    const std::string part = dir.path + "/part" + std::to_string(i) + ".csv";
    entrenar::testing::WriteFile(part, halves[i]);
    DuckDbCopy(part, dir.path + "/iris-0000" + std::to_string(i) + "-of-00002.parquet", "zstd",
               "V2", 122880);
  }
  TrainsAlike("iris.yaml", dir.path + "/iris-*-of-00002.parquet", {"training.epochs=3"}, dir.path);
  const auto none =
      Train({kSource + "/examples/iris.yaml", "--set",
             "data.source=" + dir.path + "/nothing-*.parquet", "--output", dir.path + "/none"});
  CHECK(none.exit_code == 1);
  CHECK_THAT(none.err, Catch::Contains("no data file matches " + dir.path + "/nothing-*.parquet"));
}

TEST_CASE("train from s3://: an object and a folder of shards, the same losses as the CSV",
          "[e2e]") {
  TempDir dir;
  entrenar::testing::S3Server s3(dir.path, "data");
  // The data as a user keeps it in a bucket: one Parquet file, and the same rows as two shards
  // under a folder with a README beside them; boto3 puts them there.
  const std::string whole = dir.path + "/iris.parquet";
  DuckDbCopy(kSource + "/examples/data/iris.csv", whole, "zstd", "V2", 122880);
  std::istringstream csv(entrenar::testing::Slurp(kSource + "/examples/data/iris.csv"));
  std::string header, line;
  std::getline(csv, header);
  std::string halves[2] = {header + "\n", header + "\n"};
  for (int row = 0; std::getline(csv, line); ++row) halves[row < 75 ? 0 : 1] += line + "\n";
  std::vector<std::string> put = {"/usr/bin/python3",  kSource + "/tests/formats/s3_boto3.py",
                                  s3.Endpoint(),       "data",
                                  "sets/iris.parquet", whole};
  for (int i = 0; i < 2; ++i) {
    const std::string part = dir.path + "/part" + std::to_string(i);
    entrenar::testing::WriteFile(part + ".csv", halves[i]);
    DuckDbCopy(part + ".csv", part + ".parquet", "snappy", "V1", 122880);
    put.insert(put.end(), {"shards/data/train-0000" + std::to_string(i) + "-of-00002.parquet",
                           part + ".parquet"});
  }
  entrenar::testing::WriteFile(dir.path + "/README.md", "# iris\n");
  put.insert(put.end(), {"shards/README.md", dir.path + "/README.md"});
  const auto r = RunProcess(put);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::vector<std::string> env = {"/usr/bin/env", "AWS_ENDPOINT_URL=" + s3.Endpoint(),
                                        "AWS_ACCESS_KEY_ID=S3RVER", "AWS_SECRET_ACCESS_KEY=S3RVER",
                                        "XDG_CACHE_HOME=" + dir.path + "/cache"};
  const auto train = [&](const std::string& source, const std::string& out) {
    std::vector<std::string> argv = env;
    argv.insert(argv.end(), {entrenar::testing::EntrenarBinary(), "train",
                             kSource + "/examples/iris.yaml", "--set", "training.epochs=3", "--set",
                             "data.source=" + source, "--output", dir.path + "/" + out});
    const auto ran = RunProcess(argv, "", 240);
    INFO(ran.err);
    CHECK(ran.exit_code == 0);
    return ran;
  };
  const auto object = train("s3://data/sets/iris.parquet", "object");
  CHECK_THAT(object.err,
             Catch::Contains("downloading sets/iris.parquet of s3://data/sets/iris.parquet"));
  const auto folder = train("s3://data/shards/", "folder");
  CHECK_THAT(folder.err, Catch::Contains("downloading shards/data/train-00001-of-00002.parquet "
                                         "of s3://data/shards/"));
  CHECK(folder.err.find("README") == std::string::npos);
  const auto reference = Train({kSource + "/examples/iris.yaml", "--set", "training.epochs=3",
                                "--output", dir.path + "/csv"});
  REQUIRE(reference.exit_code == 0);
  const auto losses = LossByStep(dir.path + "/csv/metrics.jsonl");
  CHECK(LossByStep(dir.path + "/object/metrics.jsonl") == losses);
  CHECK(LossByStep(dir.path + "/folder/metrics.jsonl") == losses);
  CHECK(std::filesystem::exists(dir.path + "/cache/entrenar/s3/data/sets/iris.parquet.etag"));
}

// [slow]: two language-model runs, LibTorch's time (Release pass only; the table tests above
// read Parquet in both passes).
TEST_CASE("train a language model on instruction data in Parquet: the same losses as its JSONL",
          "[e2e][slow]") {
  TempDir dir;
  const std::string parquet = dir.path + "/instruct.parquet";
  DuckDbCopy(kSource + "/examples/data/instruct.jsonl", parquet, "snappy", "V1", 122880);
  TrainsAlike("instruct.yaml", parquet, {"training.epochs=1"}, dir.path);
}

}  // namespace

namespace {

using entrenar::testing::HubServer;
using entrenar::testing::Slurp;

// `entrenar train` of SPEC §11 with the Hub's settings in the environment.
entrenar::testing::ProcessResult TrainSpec11(const std::string& out,
                                             const std::vector<std::string>& env) {
  std::vector<std::string> argv = {"/usr/bin/env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), {entrenar::testing::EntrenarBinary(), "train"});
  for (const std::string& a : entrenar::testing::Spec11Args()) argv.push_back(a);
  argv.insert(argv.end(), {"--output", out});
  return RunProcess(argv, "", 240);
}

// [slow]: four QLoRA runs of 2048-token sequences, LibTorch's time (Release pass only).
TEST_CASE("SPEC §11 as written trains from a local Hub, then again offline from the cache",
          "[e2e][slow]") {
  TempDir dir;
  const std::string root =
      entrenar::testing::MakeSpec11Hub(dir.path, entrenar::testing::EntrenarBinary());
  const std::string cache = dir.path + "/cache";
  const std::string token = "hf_e2e_secret_4f1d";
  std::map<std::int64_t, double> online;
  {
    HubServer hub(root, {"--token", token});
    const std::vector<std::string> env = {"HF_ENDPOINT=" + hub.Endpoint(), "HF_HUB_CACHE=" + cache};
    // The model is gated: without a token the run stops before training, saying how to get in.
    const auto refused = TrainSpec11(dir.path + "/refused", env);
    CHECK(refused.exit_code == 1);
    CHECK_THAT(refused.err, Catch::Contains("hf://meta-llama/Llama-2-7b is gated or private") &&
                                Catch::Contains("HF_TOKEN"));
    std::vector<std::string> with_token = env;
    with_token.push_back("HF_TOKEN=" + token);
    const auto ran = TrainSpec11(dir.path + "/online", with_token);
    INFO(ran.err);
    REQUIRE(ran.exit_code == 0);
    CHECK(ran.err.find(token) == std::string::npos);
    CHECK(Slurp(dir.path + "/online/logs/train.log").find(token) == std::string::npos);
    CHECK_THAT(ran.err, Catch::Contains("downloading model-00002-of-00002.safetensors of "
                                        "hf://meta-llama/Llama-2-7b"));
    online = LossByStep(dir.path + "/online/metrics.jsonl");
    // `entrenar lock` pins each hf:// source to the commit it is now.
    std::vector<std::string> lock = {"/usr/bin/env"};
    lock.insert(lock.end(), with_token.begin(), with_token.end());
    lock.insert(lock.end(), {entrenar::testing::EntrenarBinary(), "lock"});
    for (const std::string& a : entrenar::testing::Spec11Args()) lock.push_back(a);
    lock.insert(lock.end(), {"-o", dir.path + "/s11.lock.yaml"});
    const auto locked = RunProcess(lock);
    INFO(locked.err);
    REQUIRE(locked.exit_code == 0);
    const std::string text = Slurp(dir.path + "/s11.lock.yaml");
    CHECK_THAT(
        text,
        Catch::Contains("hf://meta-llama/Llama-2-7b@" + hub.Commit("meta-llama/Llama-2-7b")) &&
            Catch::Contains("hf://tatsu-lab/alpaca@" + hub.Commit("datasets/tatsu-lab/alpaca")));
    CHECK(text.find(token) == std::string::npos);
    REQUIRE(online.size() == 1);
    // The run keeps the sources as the manifest wrote them.
    const std::string resolved = Slurp(dir.path + "/online/config.resolved.yaml");
    CHECK_THAT(resolved, Catch::Contains("hf://tatsu-lab/alpaca") &&
                             Catch::Contains("hf://meta-llama/Llama-2-7b"));
    CHECK(resolved.find(cache) == std::string::npos);
  }
  // The server is gone: offline, everything comes from the cache, and trains the same.
  const auto offline =
      TrainSpec11(dir.path + "/offline",
                  {"HF_ENDPOINT=http://127.0.0.1:1", "HF_HUB_CACHE=" + cache, "HF_HUB_OFFLINE=1"});
  INFO(offline.err);
  REQUIRE(offline.exit_code == 0);
  CHECK(offline.err.find("downloading") == std::string::npos);
  CHECK(LossByStep(dir.path + "/offline/metrics.jsonl") == online);
  // The lock trains offline too: its commits need no ref, and --strict has nothing to refuse.
  const auto strict =
      RunProcess({"/usr/bin/env", "HF_HUB_OFFLINE=1", "HF_HUB_CACHE=" + cache,
                  entrenar::testing::EntrenarBinary(), "train", dir.path + "/s11.lock.yaml",
                  "--strict", "--output", dir.path + "/locked"},
                 "", 240);
  INFO(strict.err);
  REQUIRE(strict.exit_code == 0);
  CHECK(LossByStep(dir.path + "/locked/metrics.jsonl") == online);
  // An independent client reads the cache we wrote: both repositories, their refs and files.
  const auto scan =
      RunProcess({"/usr/bin/env", "node", kSource + "/tests/formats/hub_js.mjs", "scan", cache});
  INFO(scan.err);
  REQUIRE(scan.exit_code == 0);
  const nlohmann::json listed = nlohmann::json::parse(scan.out);
  CHECK(listed["warnings"].empty());
  std::map<std::string, std::set<std::string>> files;
  for (const auto& repo : listed["repos"]) {
    REQUIRE(repo["revisions"].size() == 1);
    CHECK(repo["revisions"][0]["refs"] == nlohmann::json::array({"main"}));
    for (const auto& f : repo["revisions"][0]["files"])
      files[repo["type"].get<std::string>() + ":" + repo["name"].get<std::string>()].insert(
          f["name"].get<std::string>());
  }
  CHECK(files["model:meta-llama/Llama-2-7b"] ==
        std::set<std::string>{"config.json", "tokenizer.json", "model.safetensors.index.json",
                              "model-00001-of-00002.safetensors",
                              "model-00002-of-00002.safetensors"});
  // Its scan lists a snapshot's top folder only (it does not descend into data/), so the data
  // set shows as a repository with its ref and no files.
  CHECK(files.count("dataset:tatsu-lab/alpaca") == 0);
  CHECK(listed["repos"].size() == 2);
}

// `entrenar registry ...` and `entrenar train ...` with the registry at `reg`.
entrenar::testing::ProcessResult WithRegistry(const std::string& reg,
                                              std::vector<std::string> args) {
  args.insert(args.begin(),
              {"/usr/bin/env", "ENTRENAR_REGISTRY=" + reg, entrenar::testing::EntrenarBinary()});
  return RunProcess(args, "", 240);
}

TEST_CASE("train from pacha://datasets/: a data set `entrenar registry add` added, its splits",
          "[e2e]") {
  TempDir dir;
  const std::string reg = dir.path + "/registry";
  const std::string csv = kSource + "/examples/data/iris.csv";
  const auto added = WithRegistry(reg, {"registry", "add", "flowers/iris:1.0", csv});
  INFO(added.err);
  REQUIRE(added.exit_code == 0);
  CHECK_THAT(added.out, Catch::Contains("added pacha://datasets/flowers/iris:1.0 (1 file"));
  const auto listed = WithRegistry(reg, {"registry", "ls"});
  CHECK_THAT(listed.out, Catch::Contains("datasets") && Catch::Contains("flowers/iris:1.0"));
  // The same losses as the CSV itself.
  const auto train = [&](const std::string& out, std::vector<std::string> sets) {
    std::vector<std::string> args = {"train", kSource + "/examples/iris.yaml", "--output", out};
    for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
    return WithRegistry(reg, args);
  };
  const auto original = train(dir.path + "/original", {"training.epochs=3"});
  REQUIRE(original.exit_code == 0);
  const auto run = train(dir.path + "/pacha",
                         {"training.epochs=3", "data.source=pacha://datasets/flowers/iris:1.0"});
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const auto losses = LossByStep(dir.path + "/original/metrics.jsonl");
  CHECK(losses.size() > 5);
  CHECK(LossByStep(dir.path + "/pacha/metrics.jsonl") == losses);
  CHECK_THAT(entrenar::testing::Slurp(dir.path + "/pacha/config.resolved.yaml"),
             Catch::Contains("pacha://datasets/flowers/iris:1.0"));
  // Versions are immutable; another file under 1.0 is refused, 1.1 is fine.
  // iris.csv in two: 120 rows to train on, 30 to test.
  const std::string folder = dir.path + "/split";
  std::filesystem::create_directories(folder + "/data");
  std::istringstream rows(entrenar::testing::Slurp(csv));
  std::string header, line, halves[2];
  std::getline(rows, header);
  for (int row = 0; std::getline(rows, line); ++row) halves[row % 5 == 0] += line + "\n";
  entrenar::testing::WriteFile(folder + "/data/train.csv", header + "\n" + halves[0]);
  entrenar::testing::WriteFile(folder + "/data/test.csv", header + "\n" + halves[1]);
  const auto again =
      WithRegistry(reg, {"registry", "add", "flowers/iris:1.0", folder + "/data/test.csv"});
  CHECK(again.exit_code == 7);
  CHECK_THAT(again.err, Catch::Contains("versions are immutable"));
  // A folder keeps its files' paths, and its splits map onto data.train / data.test.
  REQUIRE(WithRegistry(reg, {"registry", "add", "pacha://datasets/flowers/iris:1.1", folder})
              .exit_code == 0);
  const auto split =
      train(dir.path + "/split-run", {"training.epochs=1", "data.source=null", "data.split=null",
                                      "data.train=pacha://datasets/flowers/iris:1.1",
                                      "data.test=pacha://datasets/flowers/iris:1.1"});
  INFO(split.err);
  REQUIRE(split.exit_code == 0);
  CHECK_THAT(split.err, Catch::Contains("data: 120 train, 0 val, 30 test rows"));
  const nlohmann::json summary =
      nlohmann::json::parse(entrenar::testing::Slurp(dir.path + "/split-run/summary.json"));
  CHECK(summary["test"].contains("test_accuracy"));
  // A version that is not there names those that are; a model where data belongs is refused
  // by validate, before anything runs.
  const auto missing =
      train(dir.path + "/missing", {"data.source=pacha://datasets/flowers/iris:2.0"});
  CHECK(missing.exit_code != 0);
  CHECK_THAT(missing.err,
             Catch::Contains("data.source: pacha://datasets/flowers/iris:2.0 is not in the "
                             "registry at " +
                             reg + "; its versions there: 1.0, 1.1"));
  const auto model = WithRegistry(reg, {"validate", kSource + "/examples/iris.yaml", "--set",
                                        "data.source=pacha://models/flowers/iris:1.0"});
  CHECK(model.exit_code != 0);
  CHECK_THAT(model.err, Catch::Contains("pacha://models/flowers/iris:1.0 is a model; data comes "
                                        "from pacha://datasets/NAME:VERSION"));
}

TEST_CASE("train on a terminal: the downloads are one status line until training starts", "[e2e]") {
  TempDir dir;
  std::filesystem::create_directories(dir.path + "/hub/datasets/flowers/iris");
  std::filesystem::copy_file(kSource + "/examples/data/iris.csv",
                             dir.path + "/hub/datasets/flowers/iris/iris.csv");
  HubServer hub(dir.path + "/hub", {"--delay", "0.5"});
  // util-linux's `script` gives the run a pseudo-terminal.
  const std::string command = "TERM=xterm NO_COLOR=1 HF_ENDPOINT=" + hub.Endpoint() +
                              " HF_HUB_CACHE=" + dir.path + "/cache " +
                              entrenar::testing::EntrenarBinary() + " train " + kSource +
                              "/examples/iris.yaml --output " + dir.path +
                              "/run --set training.epochs=1 --set "
                              "data.source=hf://datasets/flowers/iris";
  const auto r = RunProcess({"/usr/bin/script", "-qefc", command, "/dev/null"}, "", 240);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  const std::size_t bar = r.out.find("100%  downloading 1 file: 4.0 kB of 4.0 kB");
  CHECK(bar != std::string::npos);
  CHECK(r.out.find("[████████████████████████] 100%  downloading") != std::string::npos);
  // ... cleared before the run's own lines and steps.
  CHECK(bar < r.out.find("data: 108 train"));
  CHECK(r.out.find("step 7/7") != std::string::npos);
}

TEST_CASE("a run killed mid-download leaves no blob, and the next run resumes the download",
          "[e2e]") {
  TempDir dir;
  // iris 40 times over (~160 kB: an LFS file, fetched in many chunks).
  const std::string iris = entrenar::testing::Slurp(kSource + "/examples/data/iris.csv");
  const std::string header = iris.substr(0, iris.find('\n') + 1);
  std::string big = header;
  for (int i = 0; i < 40; ++i) big += iris.substr(header.size());
  std::filesystem::create_directories(dir.path + "/hub/datasets/flowers/big");
  entrenar::testing::WriteFile(dir.path + "/hub/datasets/flowers/big/iris.csv", big);
  HubServer hub(dir.path + "/hub");
  const std::string cache = dir.path + "/cache";
  const auto train = [&](const std::string& out, const std::vector<std::string>& env) {
    std::vector<std::string> argv = {"/usr/bin/env", "HF_ENDPOINT=" + hub.Endpoint(),
                                     "HF_HUB_CACHE=" + cache};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.insert(argv.end(), {entrenar::testing::EntrenarBinary(), "train",
                             kSource + "/examples/iris.yaml", "--set", "training.max_steps=5",
                             "--set", "data.source=hf://datasets/flowers/big", "--output", out});
    return RunProcess(argv, "", 240);
  };
  const auto killed = train(dir.path + "/killed", {"ENTRENAR_KILL_AT=worker.download.partial@2"});
  CHECK(killed.exit_code != 0);
  // What is in the cache: a partial file beside the blobs, no blob and no snapshot file.
  const std::string repo = cache + "/datasets--flowers--big";
  std::size_t partial = 0, blobs = 0;
  for (const auto& f : std::filesystem::directory_iterator(repo + "/blobs")) {
    const std::string name = f.path().filename().string();
    if (name.size() > 11 && name.substr(name.size() - 11) == ".incomplete") {
      ++partial;
      CHECK(std::filesystem::file_size(f.path()) > 0);
      CHECK(std::filesystem::file_size(f.path()) < big.size());
    } else {
      ++blobs;
    }
  }
  CHECK(partial == 1);
  CHECK(blobs == 0);
  CHECK(std::filesystem::exists(repo + "/snapshots") == false);
  // Again: the download goes on from where it stopped, and the file is whole.
  const auto again = train(dir.path + "/again", {});
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  bool resumed = false;
  for (const auto& r : hub.Requests()) {
    const std::string range = r["range"].is_string() ? r["range"].get<std::string>() : "";
    if (r["path"].get<std::string>().rfind("/lfs/", 0) == 0 && range.rfind("bytes=", 0) == 0 &&
        range != "bytes=0-")
      resumed = true;
  }
  CHECK(resumed);
  const auto snapshots = std::filesystem::directory_iterator(repo + "/snapshots");
  REQUIRE(snapshots != std::filesystem::directory_iterator());
  CHECK(entrenar::testing::Slurp(snapshots->path().string() + "/iris.csv") == big);
  CHECK_THAT(again.err, Catch::Contains("data: 4200 train"));
}

}  // namespace
