// The manifest contract end to end: what a run writes about itself trains again.
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using entrenar::testing::EntrenarBinary;
using entrenar::testing::LossByStep;
using entrenar::testing::ProcessResult;
using entrenar::testing::RunProcess;
using entrenar::testing::Slurp;
using entrenar::testing::TempDir;
using entrenar::testing::WriteFile;

const std::string kSource = ENTRENAR_SOURCE_DIR;

// `entrenar train ARGS` run in `cwd`.
ProcessResult TrainIn(const std::string& cwd, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {EntrenarBinary(), "train"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, "", 240, cwd);
}

TEST_CASE("train: a run's config.resolved.yaml trains the same run again, from anywhere",
          "[e2e][contract]") {
  TempDir dir;
  const std::string elsewhere = dir.path + "/elsewhere";
  fs::create_directories(elsewhere);
  // instruct_lora adapts the model instruct trains.
  for (const std::string name :
       {"iris", "wine", "breast_cancer", "digits", "digits_cnn", "instruct", "instruct_lora"}) {
    INFO(name);
    const std::string run = dir.path + "/" + name;
    std::vector<std::string> args = {kSource + "/examples/" + name + ".yaml", "--output", run,
                                     "--set", "training.max_steps=3"};
    if (name == "instruct_lora")
      args.insert(args.end(), {"--set", "model.source=" + dir.path + "/instruct"});
    ProcessResult first = TrainIn(dir.path, args);
    INFO(first.err);
    REQUIRE(first.exit_code == 0);
    const std::string resolved = Slurp(run + "/config.resolved.yaml");
    // It says what happened: where the run went, and no report (none was asked for or written).
    CHECK_THAT(resolved, Catch::Contains("dir: " + run));
    CHECK_FALSE(fs::exists(run + "/report.md"));
    const std::string again = dir.path + "/" + name + "-again";
    ProcessResult second = TrainIn(elsewhere, {run + "/config.resolved.yaml", "--output", again});
    INFO(second.err);
    REQUIRE(second.exit_code == 0);
    const std::map<std::int64_t, double> losses = LossByStep(run + "/metrics.jsonl");
    CHECK(losses.size() == 3);
    CHECK(losses == LossByStep(again + "/metrics.jsonl"));
    CHECK_FALSE(fs::exists(again + "/report.md"));
  }
}

TEST_CASE("train: keys written at their defaults ask for nothing and are not refused",
          "[e2e][contract]") {
  TempDir dir;
  ProcessResult r = TrainIn(
      dir.path, {kSource + "/examples/iris.yaml", "--output", dir.path + "/run", "--set",
                 "training.max_steps=2", "--set", "data.augmentation=[]", "--set",
                 "monitoring.terminal.metrics=[]", "--set", "monitoring.terminal.charts=[]",
                 "--set", "output.model.save_optimizer=false", "--set",
                 "output.model.save_scheduler=false", "--set", "output.model.merge_lora=false"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  // The same keys asking for something are still refused by name.
  ProcessResult asked = TrainIn(
      dir.path, {kSource + "/examples/iris.yaml", "--output", dir.path + "/asked", "--set",
                 "output.model.save_optimizer=true", "--set", "output.model.merge_lora=true"});
  CHECK(asked.exit_code == 3);
  CHECK_THAT(asked.err, Catch::Contains("not supported yet: output.model.save_optimizer"));
  CHECK_THAT(asked.err, Catch::Contains("output.model.merge_lora"));
}

// The sha256 the lock file `text` records for its first file.
std::string LockedHash(const std::string& text) {
  std::smatch m;
  return std::regex_search(text, m, std::regex("sha256: \"?([0-9a-f]{64})")) ? m[1].str() : "";
}

TEST_CASE(
    "train --strict: a lock trains as its manifest did, and a changed, missing or new file is "
    "refused before anything is written",
    "[e2e][contract]") {
  TempDir dir;
  const std::string data = dir.path + "/iris.csv";
  fs::copy_file(kSource + "/examples/data/iris.csv", data);
  WriteFile(dir.path + "/iris.yaml",
            std::regex_replace(Slurp(kSource + "/examples/iris.yaml"),
                               std::regex("\\./data/iris\\.csv"), "iris.csv"));
  ProcessResult lock = RunProcess({EntrenarBinary(), "lock", "iris.yaml", "--set",
                                   "training.max_steps=6", "-o", "iris.lock.yaml"},
                                  "", 60, dir.path);
  INFO(lock.err);
  REQUIRE(lock.exit_code == 0);
  const std::string locked = LockedHash(Slurp(dir.path + "/iris.lock.yaml"));
  REQUIRE(locked.size() == 64);

  // SPEC 15.2 as written: the lock trains, bit for bit as the manifest it came from.
  ProcessResult plain =
      TrainIn(dir.path, {"iris.yaml", "--set", "training.max_steps=6", "--output", "plain"});
  ProcessResult strict = TrainIn(dir.path, {"iris.lock.yaml", "--strict", "--output", "strict"});
  INFO(plain.err << strict.err);
  REQUIRE(plain.exit_code == 0);
  REQUIRE(strict.exit_code == 0);
  CHECK_THAT(strict.err, Catch::Contains("lock: the 1 locked file matches its hash"));
  const std::map<std::int64_t, double> losses = LossByStep(dir.path + "/plain/metrics.jsonl");
  CHECK(losses.size() == 6);
  CHECK(losses == LossByStep(dir.path + "/strict/metrics.jsonl"));

  // One byte of the data changed (the size kept): refused, naming the file and both hashes.
  std::string csv = Slurp(data);
  csv[csv.find("5.1")] = '6';
  WriteFile(data, csv);
  ProcessResult changed = TrainIn(dir.path, {"iris.lock.yaml", "--strict", "--output", "changed"});
  CHECK(changed.exit_code == 1);
  CHECK_THAT(changed.err, Catch::Contains("iris.lock.yaml:"));
  CHECK_THAT(changed.err, Catch::Contains("error: lock.files[0].sha256: `iris.csv` (data.source) "
                                          "changed since it was locked: its sha256 is now "));
  CHECK_THAT(changed.err, Catch::Contains(", the lock has " + locked));
  CHECK_FALSE(fs::exists(dir.path + "/changed"));
  // Without --strict a lock file is an ordinary manifest: it trains on what is there.
  CHECK(TrainIn(dir.path, {"iris.lock.yaml", "--output", "loose"}).exit_code == 0);

  // A file the lock does not cover.
  ProcessResult added = TrainIn(dir.path, {"iris.lock.yaml", "--strict", "--set",
                                           "data.source=other.csv", "--output", "added"});
  CHECK(added.exit_code == 1);
  CHECK_THAT(added.err, Catch::Contains("`other.csv` is not covered by the lock"));
  CHECK_FALSE(fs::exists(dir.path + "/added"));

  // The locked file gone.
  fs::remove(data);
  ProcessResult missing = TrainIn(dir.path, {"iris.lock.yaml", "--strict", "--output", "missing"});
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err,
             Catch::Contains("`iris.csv` (data.source) is locked with sha256 " + locked));
  CHECK_FALSE(fs::exists(dir.path + "/missing"));

  // --strict on a manifest that is no lock file.
  ProcessResult none = TrainIn(dir.path, {"iris.yaml", "--strict", "--output", "none"});
  CHECK(none.exit_code == 1);
  CHECK_THAT(none.err, Catch::Contains("--strict needs a lock file"));
}

// The rows of metrics.jsonl that carry a validation, by step.
std::vector<std::int64_t> ValidationSteps(const std::string& jsonl) {
  std::vector<std::int64_t> steps;
  std::istringstream in(Slurp(jsonl));
  for (std::string line; std::getline(in, line);) {
    const nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("val_loss"))
      steps.push_back(row["step"].get<std::int64_t>());
  }
  return steps;
}

std::size_t Count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_CASE(
    "train: data.loader.seed orders the shuffle, every_epoch: false validates once at the end, "
    "and deterministic and benchmark say once that the CPU ignores them",
    "[e2e][contract]") {
  TempDir dir;
  auto train = [&](const std::string& name, std::vector<std::string> sets) {
    std::vector<std::string> args = {kSource + "/examples/iris.yaml", "--output",
                                     dir.path + "/" + name, "--set", "training.epochs=3"};
    for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
    ProcessResult r = TrainIn(dir.path, args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return r;
  };
  auto losses = [&](const std::string& name) {
    return LossByStep(dir.path + "/" + name + "/metrics.jsonl");
  };
  train("default", {});
  // iris.yaml's seed is 42: the loader's own seed 42 is the same shuffle, 7 another.
  train("seed42", {"data.loader.seed=42"});
  train("seed7", {"data.loader.seed=7"});
  REQUIRE(losses("default").size() == 21);
  CHECK(losses("seed42") == losses("default"));
  CHECK(losses("seed7").size() == 21);
  CHECK(losses("seed7") != losses("default"));
  // Same init (the global seed), another order: the very first batch already differs.
  CHECK(losses("seed7").at(1) != losses("default").at(1));

  CHECK(ValidationSteps(dir.path + "/default/metrics.jsonl") ==
        std::vector<std::int64_t>{7, 14, 21});
  train("once", {"training.validation.every_epoch=false"});
  CHECK(ValidationSteps(dir.path + "/once/metrics.jsonl") == std::vector<std::int64_t>{21});
  CHECK(losses("once") == losses("default"));

  ProcessResult quiet = train("quiet", {});
  CHECK(quiet.err.find("training.deterministic") == std::string::npos);
  ProcessResult said = train("said", {"training.deterministic=true", "training.benchmark=true"});
  CHECK(Count(said.err, "training.deterministic has no effect on the CPU") == 1);
  CHECK(Count(said.err, "training.benchmark has no effect on the CPU") == 1);
  CHECK(losses("said") == losses("default"));
}

}  // namespace
