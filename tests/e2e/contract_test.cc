// The manifest contract end to end: what a run writes about itself trains again.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

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

}  // namespace
