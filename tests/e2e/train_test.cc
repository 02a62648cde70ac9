// `entrenar train` end to end: the real binary trains the digits example and leaves a complete
// run directory; unsupported keys and bad data stop it with the right exit code.
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using entrenar::testing::LossByStep;
using entrenar::testing::ProcessResult;
using entrenar::testing::RunProcess;
using entrenar::testing::Slurp;
using entrenar::testing::TempDir;
using entrenar::testing::Train;
using entrenar::testing::WriteFile;

const std::string kSource = ENTRENAR_SOURCE_DIR;

std::vector<double> TrainLosses(const std::string& jsonl) {
  std::vector<double> out;
  std::istringstream in(Slurp(jsonl));
  std::string line;
  while (std::getline(in, line))
    out.push_back(nlohmann::json::parse(line)["train_loss"].get<double>());
  return out;
}

TEST_CASE("train: the digits example reaches 0.97 test accuracy and writes its run", "[e2e]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  ProcessResult r = Train({kSource + "/examples/digits.yaml", "--output", run});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const char* f : {"config.yaml", "config.resolved.yaml", "environment.yaml", "metrics.csv",
                        "metrics.jsonl", "model.safetensors", "summary.json", "logs/train.log"}) {
    INFO(f);
    CHECK(fs::exists(run + "/" + f));
  }
  const nlohmann::json summary = nlohmann::json::parse(Slurp(run + "/summary.json"));
  CHECK(summary["test"]["test_accuracy"].get<double>() >= 0.97);
  CHECK(summary["steps"].get<int>() == 920);  // 40 epochs x ceil(1439 / 64)
  CHECK(summary["parameters"].get<int>() == 9610);
  CHECK(summary["best"]["metric"] == "val_accuracy");
  CHECK(TrainLosses(run + "/metrics.jsonl").size() == 920);
  const std::string csv = Slurp(run + "/metrics.csv");
  CHECK(csv.rfind("step,epoch,train_loss,learning_rate,samples_per_second", 0) == 0);
  // The resolved config records the seed the run used.
  CHECK(Slurp(run + "/config.resolved.yaml").find("seed: 42") != std::string::npos);

  // An independent reader (numpy) sees the weights with their names and shapes.
  ProcessResult py =
      RunProcess({"/usr/bin/python3", kSource + "/tests/formats/safetensors_numpy.py", "read",
                  run + "/model.safetensors"});
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  const nlohmann::json w = nlohmann::json::parse(py.out);
  CHECK(w["layers.0.weight"]["shape"] == nlohmann::json({128, 64}));
  CHECK(w["layers.3.bias"]["shape"] == nlohmann::json({10}));
  const nlohmann::json pre =
      nlohmann::json::parse(w["__metadata__"]["entrenar.preprocessing"].get<std::string>());
  CHECK(pre["features"].size() == 64);
  CHECK(pre["scaling"].size() == 64);
  CHECK(pre["classes"][9] == "9");

  // A finished run directory is never overwritten.
  CHECK(Train({kSource + "/examples/digits.yaml", "--output", run}).exit_code == 4);
}

TEST_CASE("train: every example trains to a sensible result", "[e2e]") {
  TempDir dir;
  for (const char* name : {"iris", "wine", "breast_cancer"}) {
    INFO(name);
    const std::string run = dir.path + "/" + name;
    ProcessResult r = Train({kSource + "/examples/" + name + ".yaml", "--output", run});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const nlohmann::json summary = nlohmann::json::parse(Slurp(run + "/summary.json"));
    CHECK(summary["test"]["test_accuracy"].get<double>() >= 0.85);
  }
  const nlohmann::json bc = nlohmann::json::parse(Slurp(dir.path + "/breast_cancer/summary.json"));
  CHECK(bc["test"]["test_auc_roc"].get<double>() > 0.9);
  CHECK(bc["test"]["test_auc_roc"].get<double>() <= 1.0);
}

TEST_CASE("train: the same seed gives the same losses, bit for bit", "[e2e]") {
  TempDir dir;
  const std::vector<std::string> common = {kSource + "/examples/digits.yaml", "--set",
                                           "training.epochs=2", "--set", "seed=7"};
  auto args = [&](const std::string& out) {
    std::vector<std::string> a = common;
    a.insert(a.end(), {"--output", dir.path + "/" + out});
    return a;
  };
  REQUIRE(Train(args("a")).exit_code == 0);
  REQUIRE(Train(args("b")).exit_code == 0);
  const std::vector<double> a = TrainLosses(dir.path + "/a/metrics.jsonl");
  CHECK(a.size() == 46);
  CHECK(a == TrainLosses(dir.path + "/b/metrics.jsonl"));
  std::vector<std::string> other = common;
  other[4] = "seed=8";
  other.insert(other.end(), {"--output", dir.path + "/c"});
  REQUIRE(Train(other).exit_code == 0);
  CHECK(a != TrainLosses(dir.path + "/c/metrics.jsonl"));
}

TEST_CASE("train --resume continues exactly: the same losses and test metrics, bit for bit",
          "[e2e]") {
  TempDir dir;
  const std::vector<std::string> budget = {"--set", "training.epochs=null", "--set",
                                           "training.max_steps=60"};
  auto args = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {kSource + "/examples/digits.yaml"};
    a.insert(a.end(), budget.begin(), budget.end());
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  // 23 steps per epoch: step 20 is mid-epoch, step 46 ends epoch 2 (after its validation).
  for (const char* every : {"20", "23"}) {
    INFO("save_every " << every);
    const std::string full = dir.path + "/full-" + every;
    REQUIRE(Train(args({"--set", std::string("training.checkpoint.save_every=") + every, "--set",
                        "training.checkpoint.keep_last=5", "--output", full}))
                .exit_code == 0);
    const std::map<std::int64_t, double> reference = LossByStep(full + "/metrics.jsonl");
    REQUIRE(reference.size() == 60);
    const std::string from = std::string(every) == "20" ? "step-20" : "step-46";
    const std::string resumed = dir.path + "/resumed-" + every;
    ProcessResult r = Train(args({"--resume", full + "/checkpoints/" + from, "--output", resumed}));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const std::map<std::int64_t, double> again = LossByStep(resumed + "/metrics.jsonl");
    REQUIRE_FALSE(again.empty());
    CHECK(again.begin()->first == std::stoi(from.substr(5)) + 1);
    for (const auto& [step, loss] : again) CHECK(loss == reference.at(step));
    const nlohmann::json a = nlohmann::json::parse(Slurp(full + "/summary.json"));
    const nlohmann::json b = nlohmann::json::parse(Slurp(resumed + "/summary.json"));
    CHECK(a["test"] == b["test"]);
  }
  // keep_last prunes the oldest checkpoints.
  std::vector<std::string> kept;
  for (const auto& e : fs::directory_iterator(dir.path + "/full-20/checkpoints")) {
    kept.push_back(e.path().filename());
  }
  std::sort(kept.begin(), kept.end());
  CHECK(kept == std::vector<std::string>{"step-20", "step-40", "step-60"});
  REQUIRE(Train(args({"--set", "training.checkpoint.save_every=10", "--set",
                      "training.checkpoint.keep_last=2", "--output", dir.path + "/pruned"}))
              .exit_code == 0);
  kept.clear();
  for (const auto& e : fs::directory_iterator(dir.path + "/pruned/checkpoints")) {
    kept.push_back(e.path().filename());
  }
  std::sort(kept.begin(), kept.end());
  CHECK(kept == std::vector<std::string>{"step-50", "step-60"});
}

TEST_CASE("train --resume into the checkpoint's own run keeps earlier rows once", "[e2e]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  REQUIRE(Train({kSource + "/examples/digits.yaml", "--set", "training.epochs=2", "--set",
                 "training.checkpoint.save_every=10", "--output", run})
              .exit_code == 0);
  ProcessResult r =
      Train({kSource + "/examples/digits.yaml", "--set", "training.epochs=2", "--set",
             "training.checkpoint.save_every=10", "--resume", run + "/checkpoints/step-30"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::map<std::int64_t, double> rows = LossByStep(run + "/metrics.jsonl");
  CHECK(rows.size() == 46);  // steps 1-46, each once
  CHECK(Train({kSource + "/examples/digits.yaml", "--resume", run + "/nonexistent"}).exit_code ==
        1);
}

TEST_CASE("train --resume refuses a damaged checkpoint state, naming the file and the field",
          "[e2e]") {
  TempDir dir;
  const std::string digits = kSource + "/examples/digits.yaml";
  const std::string run = dir.path + "/run";
  REQUIRE(Train({digits, "--set", "training.max_steps=4", "--set",
                 "training.checkpoint.save_every=2", "--output", run})
              .exit_code == 0);
  const std::string checkpoint = run + "/checkpoints/step-2";
  const std::string state = checkpoint + "/state.json";
  const std::string good = Slurp(state);
  // Each damaged state.json, and what the refusal says of it.
  const std::vector<std::pair<std::string, std::string>> damaged = {
      {"[1, 2]",
       "state.json is damaged (not the state.json entrenar writes): it is not a JSON "
       "object"},
      {std::regex_replace(good, std::regex("\"step\": 2"), "\"step\": \"two\""),
       ": `step` is not an integer"},
      {std::regex_replace(good, std::regex("\"next_batch\": [0-9]+"), "\"next_batch\": -1"),
       ": `next_batch` is negative"},
      {std::regex_replace(good, std::regex("\"next_epoch\": [0-9]+"),
                          "\"next_epoch\": 18446744073709551615"),
       ": `next_epoch` is past 64 bits"},
      {"{\"step\": 2}", ": `next_epoch` is missing"}};
  int n = 0;
  for (const auto& [text, says] : damaged) {
    INFO(text);
    REQUIRE(text != good);
    WriteFile(state, text);
    const std::string out = dir.path + "/resumed-" + std::to_string(++n);
    ProcessResult r =
        Train({digits, "--set", "training.max_steps=4", "--resume", checkpoint, "--output", out});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains(state) && Catch::Contains(says));
    CHECK_THAT(r.err, !Catch::Contains("terminate") && !Catch::Contains("json.exception"));
  }
  // A state.json that is a link to a device is refused at once, not read forever.
  fs::remove(state);
  fs::create_symlink("/dev/zero", state);
  ProcessResult zero = Train({digits, "--set", "training.max_steps=4", "--resume", checkpoint,
                              "--output", dir.path + "/resumed-zero"});
  CHECK(zero.exit_code == 1);
  CHECK_THAT(zero.err, Catch::Contains("state.json is a device, not a regular file"));
  // The state written back whole resumes again.
  fs::remove(state);
  WriteFile(state, good);
  ProcessResult again = Train({digits, "--set", "training.max_steps=4", "--resume", checkpoint,
                               "--output", dir.path + "/resumed-good"});
  INFO(again.err);
  CHECK(again.exit_code == 0);
}

TEST_CASE("train --resume refuses data changed since the run started, and resumes once it is back",
          "[e2e]") {
  TempDir dir;
  const std::string data = dir.path + "/iris.csv";
  const std::string original = Slurp(kSource + "/examples/data/iris.csv");
  WriteFile(data, original);
  const std::string run = dir.path + "/run";
  const std::vector<std::string> sets = {"--set", "data.source=" + data,
                                         "--set", "training.max_steps=20",
                                         "--set", "training.checkpoint.save_every=10"};
  auto train = [&](std::vector<std::string> more) {
    std::vector<std::string> args = {kSource + "/examples/iris.yaml"};
    args.insert(args.end(), sets.begin(), sets.end());
    args.insert(args.end(), more.begin(), more.end());
    return Train(args);
  };
  REQUIRE(train({"--output", run}).exit_code == 0);
  // The run's lock holds the data's sha256, as Python's hashlib computes it.
  std::smatch sha;
  const std::string lock = Slurp(run + "/lock.yaml");
  REQUIRE(std::regex_search(lock, sha, std::regex("sha256: ([0-9a-f]{64})")));
  const ProcessResult hashlib = RunProcess(
      {"/usr/bin/python3", "-c",
       "import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
       data});
  CHECK(sha[1].str() + "\n" == hashlib.out);
  // A row more: resuming would continue the checkpoint's steps on other data.
  WriteFile(data, original + "5.0,3.0,1.0,0.2,setosa\n");
  const std::string checkpoint = run + "/checkpoints/step-10/";  // a trailing slash, as tab adds
  ProcessResult refused = train({"--resume", checkpoint});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err,
             Catch::Contains("--resume: the run's inputs are not the files it started with") &&
                 Catch::Contains(run + "/lock.yaml:") &&
                 Catch::Contains("`" + data + "` (data.source) changed since it was locked") &&
                 Catch::Contains("restore it to resume"));
  // Put back, it resumes into the checkpoint's own run (not into its checkpoints/).
  WriteFile(data, original);
  ProcessResult resumed = train({"--resume", checkpoint});
  INFO(resumed.err);
  CHECK(resumed.exit_code == 0);
  CHECK(fs::exists(run + "/summary.json"));
  CHECK(!fs::exists(run + "/checkpoints/summary.json"));
  // Resumed into another directory, the run's lock goes with it.
  REQUIRE(train({"--resume", checkpoint, "--output", dir.path + "/elsewhere"}).exit_code == 0);
  CHECK(Slurp(dir.path + "/elsewhere/lock.yaml") == lock);
}

// The checkpoints of `run`, oldest first.
std::vector<std::string> Checkpoints(const std::string& run) {
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints", ec)) {
    const std::string name = e.path().filename();
    if (name.rfind("step-", 0) == 0) found.emplace_back(std::stoi(name.substr(5)), e.path());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (const auto& [step, path] : found) out.push_back(path);
  return out;
}

TEST_CASE("train on a full disk: a clear error, no temporary left, the last checkpoint resumes",
          "[e2e]") {
  if (geteuid() != 0) {
    WARN("not root: a full disk is a small tmpfs, which only root can mount");
    return;
  }
  TempDir dir;
  const std::string disk = dir.path + "/disk";
  fs::create_directories(disk);
  // 512 KiB: the run's first files and two or three checkpoints of the digits MLP (~170 KiB).
  if (mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=512k") != 0) {
    WARN("cannot mount a tmpfs here (" << std::strerror(errno) << "): the test is skipped");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{disk};
  const std::vector<std::string> sets = {kSource + "/examples/digits.yaml",
                                         "--set",
                                         "training.max_steps=60",
                                         "--set",
                                         "training.checkpoint.save_every=2",
                                         "--set",
                                         "training.checkpoint.keep_last=100"};
  const std::string run = disk + "/run";
  std::vector<std::string> args = sets;
  args.insert(args.end(), {"--output", run});
  ProcessResult full = Train(args);
  INFO(full.err);
  CHECK(full.exit_code == 4);  // a file could not be written: not an abort inside LibTorch
  CHECK_THAT(full.err, Catch::Contains("No space left on device"));
  CHECK_THAT(full.err, !Catch::Contains("terminate called") && !Catch::Contains("enforce fail"));
  // Nothing half-written is left: no temporary file or checkpoint directory.
  for (const auto& e : fs::recursive_directory_iterator(run)) {
    INFO(e.path());
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
  }
  const std::vector<std::string> written = Checkpoints(run);
  REQUIRE_FALSE(written.empty());
  CHECK_THAT(full.err, Catch::Contains(written.back() + " is intact"));
  CHECK_THAT(full.err, Catch::Contains("without writing its final model"));
  CHECK_FALSE(fs::exists(run + "/model.safetensors"));
  // The newest checkpoint is whole: the run resumes from it on a disk with room.
  args = sets;
  args.insert(args.end(), {"--resume", written.back(), "--output", dir.path + "/resumed"});
  ProcessResult resumed = Train(args);
  INFO(resumed.err);
  CHECK(resumed.exit_code == 0);
  CHECK(LossByStep(dir.path + "/resumed/metrics.jsonl").rbegin()->first == 60);
}

TEST_CASE("train: Ctrl-C stops after a step, saves a checkpoint, and the run resumes", "[e2e]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  const char* b = std::getenv("ENTRENAR_BINARY");
  REQUIRE(b != nullptr);
  entrenar::testing::BackgroundProcess p(
      {b, "train", kSource + "/examples/digits.yaml", "--set", "training.epochs=100000", "--set",
       "training.early_stopping.enabled=false", "--output", run},
      dir.path + "/out.txt", dir.path + "/err.txt");
  // SIGINT once training is under way (a few steps recorded), never by a fixed sleep.
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(entrenar::testing::TimeLimit(120));
  while (std::chrono::steady_clock::now() < deadline &&
         LossByStep(run + "/metrics.jsonl").size() < 5) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  p.Signal(SIGINT);
  const int code = p.Wait(120);
  INFO(Slurp(dir.path + "/err.txt"));
  REQUIRE(code == 0);
  const nlohmann::json summary = nlohmann::json::parse(Slurp(run + "/summary.json"));
  CHECK(summary["stopped"] == true);
  const std::int64_t steps = summary["steps"].get<std::int64_t>();
  REQUIRE(steps >= 5);
  CHECK(fs::exists(run + "/checkpoints/step-" + std::to_string(steps) + "/state.json"));
  CHECK(fs::exists(run + "/model.safetensors"));
  CHECK(LossByStep(run + "/metrics.jsonl").size() == static_cast<std::size_t>(steps));
  CHECK(summary["ended"]["reason"] == "stopped");
  // The run resumes from that checkpoint: three more steps, after the stopped one.
  const std::string resumed = dir.path + "/resumed";
  ProcessResult again =
      Train({kSource + "/examples/digits.yaml", "--set",
             "training.max_steps=" + std::to_string(steps + 3), "--set",
             "training.early_stopping.enabled=false", "--resume",
             run + "/checkpoints/step-" + std::to_string(steps), "--output", resumed});
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  const std::map<std::int64_t, double> more = LossByStep(resumed + "/metrics.jsonl");
  REQUIRE(more.size() == 3);
  CHECK(more.begin()->first == steps + 1);
  CHECK(nlohmann::json::parse(Slurp(resumed + "/summary.json"))["steps"] == steps + 3);
}

nlohmann::json ReadWeights(const std::string& path) {
  ProcessResult py = RunProcess(
      {"/usr/bin/python3", kSource + "/tests/formats/safetensors_numpy.py", "read", path});
  REQUIRE(py.exit_code == 0);
  nlohmann::json w = nlohmann::json::parse(py.out);
  w.erase("__metadata__");
  return w;
}

// A manifest of `rows` digits in train.csv and val.csv (explicit files), batches of 32 with the
// last partial batch dropped, two batches accumulated per step.
std::string HundredRows(const std::string& dir, int rows) {
  std::ifstream in(kSource + "/examples/data/digits.csv");
  std::ofstream out(dir + "/train.csv");
  std::string line;
  for (int i = 0; i <= rows && std::getline(in, line); ++i) out << line << "\n";
  out.close();
  fs::copy_file(dir + "/train.csv", dir + "/val.csv");
  const std::string file = dir + "/m.yaml";
  std::ofstream(file) << "entrenar: \"1.0\"\nname: h\nversion: \"1\"\nseed: 1\n"
                         "data:\n  train: train.csv\n  val: val.csv\n  target: label\n"
                         "  loader: {batch_size: 32, drop_last: true}\n"
                         "model:\n  architecture:\n    type: sequential\n    layers:\n"
                         "      - linear: {in_features: 64, out_features: 10}\n"
                         "training:\n  epochs: 3\n  gradient: {accumulation_steps: 2}\n"
                         "output:\n  dir: run\n";
  return file;
}

TEST_CASE("plan agrees with training: split sizes, steps and parameters", "[e2e]") {
  TempDir dir;
  // A stratified 0.7 / 0.1 / 0.2 split: each class rounds on its own.
  const std::vector<std::string> split = {kSource + "/examples/digits.yaml", "--set",
                                          "data.split={train: 0.7, val: 0.1, test: 0.2, "
                                          "stratify: label}"};
  std::vector<std::string> plan_args = {"plan"};
  plan_args.insert(plan_args.end(), split.begin(), split.end());
  ProcessResult plan = RunProcess(
      [&] {
        std::vector<std::string> a = plan_args;
        a.insert(a.begin(), entrenar::testing::EntrenarBinary());
        return a;
      }(),
      "", 60);
  INFO(plan.err);
  REQUIRE(plan.exit_code == 0);
  std::vector<std::string> dry = split;
  dry.push_back("--dry-run");
  ProcessResult trained = Train(dry);
  REQUIRE(trained.exit_code == 0);
  CHECK(trained.out.find("data:         1266 train / 176 val / 355 test rows") !=
        std::string::npos);
  CHECK(plan.out.find("train 0.7 / val 0.1 / test 0.2 = 1,266 / 176 / 355 rows") !=
        std::string::npos);
  CHECK(plan.out.find("40 epochs × 20 steps = 800 steps") != std::string::npos);
  CHECK(trained.out.find("steps:        20 per epoch, 800 in total (40 epochs)") !=
        std::string::npos);

  // 100 rows, batches of 32 with drop_last: 3 batches, so 2 steps of 2 (the second of one).
  const std::string file = HundredRows(dir.path, 100);
  ProcessResult small =
      RunProcess({entrenar::testing::EntrenarBinary(), "plan", file}, "", 60, dir.path);
  INFO(small.out);
  REQUIRE(small.exit_code == 0);
  CHECK(small.out.find("3 epochs × 2 steps = 6 steps") != std::string::npos);
  CHECK(small.out.find("parameters  650") != std::string::npos);
  ProcessResult run = Train({file, "--output", dir.path + "/run"});
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  const nlohmann::json summary = nlohmann::json::parse(Slurp(dir.path + "/run/summary.json"));
  CHECK(summary["steps"] == 6);
  CHECK(summary["parameters"] == 650);
  CHECK(summary["ended"]["reason"] == "budget");
  CHECK(summary["ended"]["message"] == "the budget of 3 epochs (6 steps) was reached");
}

TEST_CASE("train --set of one budget key replaces the file's other, with a note", "[e2e]") {
  TempDir dir;
  // digits.yaml bounds its run by epochs: 40; a step budget replaces it.
  ProcessResult r = Train({kSource + "/examples/digits.yaml", "--set", "training.max_steps=30",
                           "--output", dir.path + "/run"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("digits.yaml:46:3: note: training.epochs: replaced by --set "
                   "training.max_steps=30 (a run has one budget)") != std::string::npos);
  const nlohmann::json summary = nlohmann::json::parse(Slurp(dir.path + "/run/summary.json"));
  CHECK(summary["steps"] == 30);
  CHECK(summary["ended"]["message"] == "the budget of 30 steps was reached");
  // Two budgets given on the command line still contradict each other.
  ProcessResult both = Train({kSource + "/examples/digits.yaml", "--set", "training.max_steps=30",
                              "--set", "training.duration=1m", "--dry-run"});
  CHECK(both.exit_code == 1);
  CHECK(both.err.find("are mutually exclusive") != std::string::npos);
  // validate says the same, and its JSON lists the note.
  ProcessResult v =
      RunProcess({entrenar::testing::EntrenarBinary(), "validate", "--json",
                  kSource + "/examples/digits.yaml", "--set", "training.duration=10m", "--set",
                  "scheduler.name=constant", "--set", "scheduler.warmup.ratio=null"},
                 "", 60);
  INFO(v.err);
  REQUIRE(v.exit_code == 0);
  const nlohmann::json notes = nlohmann::json::parse(v.out)["notes"];
  REQUIRE(notes.size() == 1);
  CHECK(notes[0]["path"] == "training.epochs");
}

TEST_CASE("train --resume with a longer budget continues to it, and says how", "[e2e]") {
  TempDir dir;
  const std::string digits = kSource + "/examples/digits.yaml";
  const std::string run = dir.path + "/run";
  // 23 steps per epoch: the run ends mid-epoch 2, where its final checkpoint is.
  REQUIRE(Train({digits, "--set", "training.max_steps=30", "--set",
                 "training.early_stopping.enabled=false", "--output", run})
              .exit_code == 0);
  const std::string resumed = dir.path + "/resumed";
  ProcessResult r = Train({digits, "--set", "training.max_steps=60", "--set",
                           "training.early_stopping.enabled=false", "--resume",
                           run + "/checkpoints/step-30", "--output", resumed});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("the budget changed since the checkpoint: 30 steps then, 60 now; training "
                   "continues to step 60 with the cosine_annealing schedule laid over 60 steps") !=
        std::string::npos);
  const std::map<std::int64_t, double> rows = LossByStep(resumed + "/metrics.jsonl");
  REQUIRE(rows.size() == 30);
  CHECK(rows.begin()->first == 31);
  CHECK(rows.rbegin()->first == 60);
  const nlohmann::json summary = nlohmann::json::parse(Slurp(resumed + "/summary.json"));
  CHECK(summary["steps"] == 60);
  CHECK(summary["ended"]["message"] == "the budget of 60 steps was reached");
  // Resumed with the same budget, nothing is left to do: it ends at once, saying so.
  ProcessResult done = Train({digits, "--set", "training.max_steps=30", "--set",
                              "training.early_stopping.enabled=false", "--resume",
                              run + "/checkpoints/step-30", "--output", dir.path + "/again"});
  REQUIRE(done.exit_code == 0);
  CHECK(nlohmann::json::parse(Slurp(dir.path + "/again/summary.json"))["steps"] == 30);
  // Resumed in place and killed before its end: the earlier summary is gone with the ended run
  // it described (entrenard, finding it, would call the dead attempt finished).
  REQUIRE(fs::exists(run + "/summary.json"));
  ProcessResult killed = RunProcess(
      {"/usr/bin/env", "ENTRENAR_KILL_AT=worker.checkpoint.written",
       entrenar::testing::EntrenarBinary(), "train", digits, "--set", "training.max_steps=60",
       "--set", "training.checkpoint.save_every=40", "--set",
       "training.early_stopping.enabled=false", "--resume", run + "/checkpoints/step-30"},
      "", 300);
  CHECK(killed.exit_code != 0);
  CHECK(LossByStep(run + "/metrics.jsonl").rbegin()->first == 40);
  CHECK(!fs::exists(run + "/summary.json"));
}

TEST_CASE("train: early stopping says why the run ended", "[e2e]") {
  TempDir dir;
  // No validation improves on the first by 10: patience 1 stops after the second epoch.
  ProcessResult r = Train({kSource + "/examples/digits.yaml", "--set",
                           "training.early_stopping={enabled: true, metric: val_loss, patience: 1, "
                           "min_delta: 10}",
                           "--output", dir.path + "/run"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json summary = nlohmann::json::parse(Slurp(dir.path + "/run/summary.json"));
  CHECK(summary["steps"] == 46);
  CHECK(summary["early_stopped"] == true);
  CHECK(summary["ended"]["reason"] == "early_stopping");
  CHECK(summary["ended"]["message"] ==
        "early stopping: val_loss has not improved for 1 validations (step 46)");
}

TEST_CASE("train: freeze and param_groups select what learns", "[e2e]") {
  TempDir dir;
  // eta_min 0: the schedule's floor is absolute, so it would lift a tiny group lr.
  const std::vector<std::string> base = {kSource + "/examples/digits.yaml", "--set",
                                         "training.epochs=2", "--set", "scheduler.eta_min=0"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = base;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  ProcessResult plan = Train(with({"--set", "model.freeze=[layers.0]", "--dry-run"}));
  INFO(plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK(plan.out.find("parameters:   1290 trainable, 8320 frozen") != std::string::npos);

  // A group whose lr (1e-30) is below float resolution and a frozen layer both leave that layer
  // as initialised, and the rest of the model trains identically: the same final weights.
  REQUIRE(Train(with({"--set", "model.freeze=[layers.3]", "--output", dir.path + "/frozen"}))
              .exit_code == 0);
  REQUIRE(Train(with({"--set", "optimizer.param_groups=[{params: \"layers.3.*\", lr: 1e-30}]",
                      "--output", dir.path + "/grouped"}))
              .exit_code == 0);
  REQUIRE(Train(with({"--output", dir.path + "/plain"})).exit_code == 0);
  const nlohmann::json frozen = ReadWeights(dir.path + "/frozen/model.safetensors");
  const nlohmann::json grouped = ReadWeights(dir.path + "/grouped/model.safetensors");
  const nlohmann::json plain = ReadWeights(dir.path + "/plain/model.safetensors");
  CHECK(frozen == grouped);
  CHECK(frozen["layers.3.weight"] != plain["layers.3.weight"]);

  ProcessResult typo =
      Train(with({"--set", "model.freeze=[layer.0]", "--output", dir.path + "/typo"}));
  CHECK(typo.exit_code == 1);
  // Refused before the run starts, as validate refuses it.
  CHECK_THAT(typo.err, Catch::Contains("error: model.freeze[0]: `layer.0` matches no parameter"));
  CHECK_THAT(typo.err, Catch::Contains("hint: parameters are `layers.0.weight`"));
  CHECK_FALSE(std::filesystem::exists(dir.path + "/typo"));
}

TEST_CASE("train: a duration budget ends the run on time", "[e2e]") {
  TempDir dir;
  const std::vector<std::string> base = {kSource + "/examples/digits.yaml",
                                         "--set",
                                         "training.epochs=null",
                                         "--set",
                                         "training.duration=1s",
                                         "--set",
                                         "training.early_stopping.enabled=false"};
  std::vector<std::string> ok = base;
  ok.insert(ok.end(), {"--set", "scheduler.name=constant", "--set", "scheduler.warmup.ratio=null",
                       "--output", dir.path + "/run"});
  ProcessResult r = Train(ok);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("the time budget of 1s was spent after step") != std::string::npos);
  const nlohmann::json summary = nlohmann::json::parse(Slurp(dir.path + "/run/summary.json"));
  CHECK(summary["ended"]["reason"] == "duration");
  // On time: at least the budget, and not much more (one step, the test split and the save).
  CHECK(summary["wall_seconds"].get<double>() >= 1.0);
  CHECK(summary["wall_seconds"].get<double>() < 4.0);
  CHECK(summary["steps"].get<int>() > 23);  // more than one epoch in a second
  // A schedule that needs the total length cannot run on a time budget.
  std::vector<std::string> cosine = base;
  cosine.insert(cosine.end(), {"--output", dir.path + "/cosine"});
  ProcessResult bad = Train(cosine);
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("set scheduler.T_max") != std::string::npos);
}

TEST_CASE("train --dry-run prints the plan and trains nothing", "[e2e]") {
  TempDir dir;
  ProcessResult r =
      Train({kSource + "/examples/digits.yaml", "--dry-run", "--output", dir.path + "/run"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("# resolved configuration\n") == 0);
  CHECK(r.out.find("data:         1445 train / 176 val / 176 test rows") != std::string::npos);
  CHECK(r.out.find("target:       label (classification, 10 classes") != std::string::npos);
  CHECK(r.out.find("parameters:   9610 trainable, 0 frozen") != std::string::npos);
  CHECK(r.out.find("steps:        23 per epoch, 920 in total (40 epochs)") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path + "/run"));
}

TEST_CASE("train: keys not built yet stop the run before training with exit 3", "[e2e]") {
  TempDir dir;
  ProcessResult r =
      Train({kSource + "/examples/digits.yaml", "--output", dir.path + "/run", "--set",
             "model.device=mps", "--set", "lora={enabled: true, target_modules: [q_proj]}"});
  CHECK(r.exit_code == 3);
  CHECK(r.err.find("error: lora.target_modules: not supported yet: lora.target_modules: "
                   "`q_proj`, which names no linear layer") != std::string::npos);
  CHECK(r.err.find("not supported yet: model.device: mps") != std::string::npos);
  CHECK_FALSE(fs::exists(dir.path + "/run"));
}

TEST_CASE("train: bad data stops the run with the file and line", "[e2e]") {
  TempDir dir;
  std::ofstream(dir.path + "/d.csv") << "a,b,label\n1,2,0\n3,oops,1\n";
  std::ofstream(dir.path + "/m.yaml")
      << "entrenar: \"1.0\"\nname: t\nversion: \"1\"\ndata:\n  source: d.csv\n"
         "model:\n  architecture:\n    type: sequential\n    layers:\n"
         "      - linear: {in_features: 2, out_features: 2}\n";
  ProcessResult r = Train({dir.path + "/m.yaml", "--output", dir.path + "/run"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(dir.path + "/d.csv:3: column `b` holds `oops`, not a number") !=
        std::string::npos);
}

TEST_CASE("train: a Latin-1 label stops the run before training, with its place", "[e2e]") {
  TempDir dir;
  std::ofstream(dir.path + "/d.csv") << "a,b,label\n1,2,cat\n3,4,caf\xe9\n5,6,cat\n";
  std::ofstream(dir.path + "/m.yaml")
      << "entrenar: \"1.0\"\nname: t\nversion: \"1\"\ndata:\n  source: d.csv\n"
         "  split: {train: 1.0}\nmodel:\n  architecture:\n    type: sequential\n    layers:\n"
         "      - linear: {in_features: 2, out_features: 2}\n";
  ProcessResult r = Train({dir.path + "/m.yaml", "--output", dir.path + "/run"});
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains(dir.path + "/d.csv:3: column 8: byte 0xE9 is not UTF-8"));
  CHECK_FALSE(fs::exists(dir.path + "/run/model.safetensors"));
  CHECK(Slurp(dir.path + "/run/metrics.jsonl").empty());  // not a step trained
}

}  // namespace
