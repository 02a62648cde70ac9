// The manifest contract end to end: what a run writes about itself trains again.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using entrenar::testing::EntrenarBinary;
using entrenar::testing::LossByStep;
using entrenar::testing::ObservedRun;
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
  CHECK_FALSE(fs::exists(dir.path + "/run/optimizer.pt"));
  CHECK_FALSE(fs::exists(dir.path + "/run/scheduler.json"));
  // merge_lora asking for something on a sequential model is still refused by name.
  ProcessResult asked =
      TrainIn(dir.path, {kSource + "/examples/iris.yaml", "--output", dir.path + "/asked", "--set",
                         "output.model.merge_lora=true"});
  CHECK(asked.exit_code == 3);
  CHECK_THAT(asked.err, Catch::Contains("output.model.merge_lora"));
}

TEST_CASE("train: save_optimizer and save_scheduler write the final state beside the model",
          "[e2e][contract]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  ProcessResult r = TrainIn(
      dir.path, {kSource + "/examples/iris.yaml", "--output", run, "--set", "training.max_steps=5",
                 "--set", "scheduler.name=linear", "--set", "output.model.save_optimizer=true",
                 "--set", "output.model.save_scheduler=true"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json s = nlohmann::json::parse(Slurp(run + "/scheduler.json"));
  CHECK(s["name"] == "linear");
  CHECK(s["step"] == 5);
  CHECK(s["total_steps"] == 5);
  CHECK(s["base_lr"].get<double>() > 0);
  // The linear schedule has decayed to 0 at the last step.
  CHECK(s["learning_rate"].get<double>() == Approx(0).margin(1e-12));
  const nlohmann::json summary = nlohmann::json::parse(Slurp(run + "/summary.json"));
  const std::vector<std::string> files = summary["model_files"];
  CHECK(std::count(files.begin(), files.end(), "optimizer.pt") == 1);
  CHECK(std::count(files.begin(), files.end(), "scheduler.json") == 1);
  CHECK_FALSE(fs::exists(run + "/optimizer.pt.tmp"));
  // PyTorch reads it, and it holds the final checkpoint's optimizer state, tensor for tensor.
  ProcessResult py =
      RunProcess({"/usr/bin/python3", kSource + "/tests/formats/torch_archive_tensors.py",
                  run + "/optimizer.pt", run + "/checkpoints/step-5/optimizer.pt"});
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  CHECK(std::stoi(py.out) > 0);
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

TEST_CASE("train: alerts read step, epoch, lr and a validation metric by its bare name",
          "[e2e][contract]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  // iris: 7 steps per epoch, a validation at the end of each.
  ProcessResult r = TrainIn(
      dir.path,
      {kSource + "/examples/iris.yaml", "--output", run, "--set", "training.epochs=3", "--set",
       "monitoring.alerts=[{condition: \"lr > 0\", action: warn}, {condition: "
       "\"accuracy >= 0\", action: warn}, {condition: \"epoch >= 2\", action: warn}, "
       "{condition: \"step >= 10\", action: halt, message: \"ten steps\"}]"});
  INFO(r.err);
  CHECK(r.exit_code == 6);
  const nlohmann::json s = nlohmann::json::parse(Slurp(run + "/summary.json"));
  CHECK(s["halted"] == true);
  CHECK(s["steps"] == 10);
  std::map<std::string, std::int64_t> fired;
  for (const nlohmann::json& a : s["alerts"])
    fired[a["condition"].get<std::string>()] = a["step"].get<std::int64_t>();
  CHECK(fired == std::map<std::string, std::int64_t>{
                     {"lr > 0", 1}, {"accuracy >= 0", 7}, {"epoch >= 2", 8}, {"step >= 10", 10}});
  CHECK_THAT(r.err, Catch::Contains("alert: ten steps (step >= 10, action halt, step 10)"));
}

TEST_CASE("validate: an alert on grad_norm warns unless something measures it", "[e2e][contract]") {
  TempDir dir;
  const std::string alert = "monitoring.alerts=[{condition: \"grad_norm > 100\", action: warn}]";
  auto validate = [&](std::vector<std::string> sets) {
    std::vector<std::string> argv = {EntrenarBinary(), "validate", kSource + "/examples/iris.yaml",
                                     "--set", alert};
    for (const std::string& s : sets) argv.insert(argv.end(), {"--set", s});
    return RunProcess(argv, "", 60, dir.path);
  };
  ProcessResult unmeasured = validate({});
  CHECK(unmeasured.exit_code == 0);
  CHECK_THAT(unmeasured.out + unmeasured.err,
             Catch::Contains("alert reads `grad_norm`, which this run does not compute"));
  ProcessResult clipped = validate({"training.gradient.clip_norm=1.0"});
  CHECK(clipped.exit_code == 0);
  CHECK((clipped.out + clipped.err).find("does not compute") == std::string::npos);
}

TEST_CASE("train: a time budget logs and shows time, not an unbounded step count",
          "[e2e][contract]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  const std::vector<std::string> budget = {"--set", "training.duration=1s", "--set",
                                           "scheduler.name=constant"};
  std::vector<std::string> args = {kSource + "/examples/iris.yaml", "--output", run};
  args.insert(args.end(), budget.begin(), budget.end());
  ProcessResult r = TrainIn(dir.path, args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string log = Slurp(run + "/logs/train.log");
  CHECK_THAT(log, Catch::Contains("7 steps per epoch, for 1s (a time budget)"));
  CHECK(log.find("2305843009213693951") == std::string::npos);
  const std::string rows = Slurp(run + "/metrics.jsonl");
  CHECK_THAT(rows, Catch::Contains("\"train_loss\""));
  CHECK(rows.find("elapsed_seconds") == std::string::npos);
  CHECK(rows.find("total_steps") == std::string::npos);
  const nlohmann::json s = nlohmann::json::parse(Slurp(run + "/summary.json"));
  CHECK(s["ended"]["reason"] == "duration");

  args.push_back("--dry-run");
  ProcessResult dry = TrainIn(dir.path, args);
  CHECK(dry.exit_code == 0);
  CHECK_THAT(dry.out,
             Catch::Contains("steps:        7 per epoch, as many as 1s allows (a time budget)"));
}

TEST_CASE("train: the quality score's efficiency times the steps' own work, not a slow callback",
          "[e2e][contract]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  ProcessResult r =
      TrainIn(dir.path,
              {kSource + "/examples/iris.yaml", "--output", run, "--set", "training.epochs=4",
               "--set", "callbacks=[{type: custom, trigger: epoch_end, command: [sleep, '0.4']}]"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // The efficiency a quality.yaml reports, recomputed from the run's own rows by the formula of
  // docs/training.md from one series: timings vary from machine to machine, the formula does not.
  std::map<std::string, std::vector<double>> series;
  std::istringstream rows(Slurp(run + "/metrics.jsonl"));
  for (std::string line; std::getline(rows, line);) {
    const nlohmann::json row = nlohmann::json::parse(line);
    if (!row.contains("step_samples_per_second")) continue;
    for (const char* key : {"step_samples_per_second", "samples_per_second"})
      series[key].push_back(row[key].get<double>());
  }
  REQUIRE(series["step_samples_per_second"].size() == 28);
  const auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  };
  // 7 steps an epoch: the reference is steps 4 to 7, the rest is steps 8 to 28.
  const auto efficiency = [&](const std::vector<double>& s) {
    const double ref = median({s.begin() + 3, s.begin() + 7});
    return std::min(100.0, 100 * median({s.begin() + 7, s.end()}) / ref);
  };
  const double own = efficiency(series["step_samples_per_second"]);
  const double average = efficiency(series["samples_per_second"]);
  const std::string q = Slurp(run + "/quality.yaml");
  CHECK_THAT(q, Catch::Contains("in the first epoch (the steps' own work: validation, "
                                "checkpoints and callbacks between steps not counted)"));
  const auto at = q.find("efficiency: ");
  REQUIRE(at != std::string::npos);
  INFO(q);
  CHECK(std::abs(std::stod(q.substr(at + 12)) - own) < 0.1);
  // The run's average so far holds three 0.4 s pauses: a score from it would be far lower.
  CHECK(average < own - 10);
}

TEST_CASE("train: monitoring.terminal chooses what the progress line shows", "[e2e][contract]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  // util-linux's `script` gives the run a pseudo-terminal.
  const std::string command =
      "TERM=xterm NO_COLOR=1 " + EntrenarBinary() + " train " + kSource +
      "/examples/iris.yaml --output " + run +
      " --set training.epochs=3 --set 'monitoring.terminal.metrics=[loss, accuracy, lr]'"
      " --set 'monitoring.terminal.charts=[{type: progress, show_eta: false}, {type: sparkline, "
      "metric: lr, window: 5}]' --set monitoring.terminal.refresh_rate=1";
  ProcessResult r = RunProcess({"/usr/bin/script", "-qefc", command, "/dev/null"}, "", 240);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  // The last line drawn: step 21 of 21, the last validation's accuracy, the rate's sparkline.
  const std::size_t last = r.out.rfind("step 21/21  epoch 3  loss ");
  REQUIRE(last != std::string::npos);
  const std::string line = r.out.substr(last, r.out.find('\n', last) - last);
  CHECK(std::regex_search(
      line, std::regex("  accuracy [01]\\.[0-9]{4}  lr [0-9.e-]+ (▁|▂|▃|▄|▅|▆|▇|█)+")));
  CHECK(line.find("ETA") == std::string::npos);
  // validate knows the names the line can show.
  ProcessResult unknown = RunProcess({EntrenarBinary(), "validate", kSource + "/examples/iris.yaml",
                                      "--set", "monitoring.terminal.metrics=[los]"},
                                     "", 60, dir.path);
  CHECK(unknown.exit_code == 0);
  CHECK_THAT(unknown.out + unknown.err,
             Catch::Contains("the progress line shows `los`, which this run does not compute"));
}

TEST_CASE("train: model.source loads the model.pt a run wrote, as its safetensors",
          "[e2e][contract]") {
  TempDir dir;
  const std::string iris = kSource + "/examples/iris.yaml";
  for (const std::string format : {"pt", "safetensors"}) {
    ProcessResult r =
        TrainIn(dir.path, {iris, "--output", dir.path + "/" + format, "--set", "training.epochs=2",
                           "--set", "output.model.format=" + format});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  auto evaluate = [&](const std::string& source) {
    ProcessResult r = TrainIn(dir.path, {iris, "--evaluate", "--set", "model.source=" + source});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out);
  };
  // The same run written both ways: the same weights, the same validation, to the last bit.
  const nlohmann::json pt = evaluate(dir.path + "/pt/model.pt");
  const nlohmann::json st = evaluate(dir.path + "/safetensors/model.safetensors");
  REQUIRE(pt.contains("val_loss"));
  CHECK(pt["val_loss"].get<double>() == st["val_loss"].get<double>());
  CHECK(pt["val_accuracy"].get<double>() == st["val_accuracy"].get<double>());
  // A file that is no such archive is named.
  WriteFile(dir.path + "/bad.pt", "not an archive");
  ProcessResult bad =
      TrainIn(dir.path, {iris, "--evaluate", "--set", "model.source=" + dir.path + "/bad.pt"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("bad.pt is not a LibTorch archive"));
  // A FIFO no one writes, or a link to a device, is refused at once: it used to wait forever.
  REQUIRE(mkfifo((dir.path + "/fifo.safetensors").c_str(), 0600) == 0);
  REQUIRE(mkfifo((dir.path + "/fifo.pt").c_str(), 0600) == 0);
  fs::create_symlink("/dev/zero", dir.path + "/zero.safetensors");
  for (const std::string name : {"fifo.safetensors", "fifo.pt", "zero.safetensors"}) {
    INFO(name);
    ProcessResult r =
        TrainIn(dir.path, {iris, "--evaluate", "--set", "model.source=" + dir.path + "/" + name});
    CHECK(r.exit_code != 0);
    CHECK_THAT(r.err, Catch::Contains(name + " is a") && Catch::Contains(", not a regular file"));
  }
}

TEST_CASE("train: LoRA adapts the linear layers of a sequential model that target_modules names",
          "[e2e][contract]") {
  TempDir dir;
  const std::string digits = kSource + "/examples/digits.yaml";
  const std::string base = dir.path + "/base";
  ProcessResult first = TrainIn(dir.path, {digits, "--output", base, "--set", "training.epochs=1"});
  REQUIRE(first.exit_code == 0);
  // Layer 0 is linear 64 -> 128: rank 4 adds 4 x (64 + 128) trainable parameters.
  const std::vector<std::string> lora = {
      "--set", "model.source=" + base + "/model.safetensors",
      "--set", "lora={enabled: true, rank: 4, alpha: 8, dropout: 0, target_modules: [layers.0]}",
      "--set", "training.epochs=null",
      "--set", "training.max_steps=30",
      "--set", "training.checkpoint.save_every=10"};
  auto args = [&](const std::string& out, std::vector<std::string> more) {
    std::vector<std::string> a = {digits, "--output", out};
    a.insert(a.end(), lora.begin(), lora.end());
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  ProcessResult plan = TrainIn(dir.path, args(dir.path + "/plan", {"--dry-run"}));
  INFO(plan.err);
  REQUIRE(plan.exit_code == 0);
  CHECK_THAT(plan.out, Catch::Contains("parameters:   768 trainable, 9610 frozen"));
  const std::string run = dir.path + "/lora";
  ProcessResult r = TrainIn(dir.path, args(run, {}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto losses = LossByStep(run + "/metrics.jsonl");
  REQUIRE(losses.size() == 30);
  CHECK(losses.at(30) < losses.at(1));
  // numpy: the other tensors are the base's, the adapted one is base + alpha/r B A, B learned.
  ProcessResult check =
      RunProcess({"/usr/bin/python3", kSource + "/tests/formats/lora_check.py", base, run});
  INFO(check.err);
  REQUIRE(check.exit_code == 0);
  const nlohmann::json c = nlohmann::json::parse(check.out);
  CHECK(c["adapted"] == 1);
  CHECK(c["nonzero_b"] == 1);
  CHECK(c["max_error"].get<double>() < 1e-5);
  // The merged model.safetensors is a plain model of the architecture: it evaluates as one.
  ProcessResult eval = TrainIn(
      dir.path, {digits, "--evaluate", "--set", "model.source=" + run + "/model.safetensors"});
  CHECK(eval.exit_code == 0);
  // A checkpoint holds the adapters: the resumed run continues bit for bit.
  ProcessResult resumed =
      TrainIn(dir.path, args(dir.path + "/resumed", {"--resume", run + "/checkpoints/step-10"}));
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  const auto again = LossByStep(dir.path + "/resumed/metrics.jsonl");
  REQUIRE(again.size() == 20);
  for (const auto& [step, loss] : again) CHECK(loss == losses.at(step));
  // Targets that are not linear layers are refused by name before anything runs.
  ProcessResult wrong = TrainIn(dir.path, {digits, "--output", dir.path + "/wrong", "--set",
                                           "lora={enabled: true, target_modules: [layers.1]}"});
  CHECK(wrong.exit_code == 3);
  CHECK_THAT(wrong.err, Catch::Contains("`layers.1`, which names no linear layer"));
  CHECK_THAT(wrong.err, Catch::Contains("the model's are layers.0, layers.3"));
}

// The schema's enumerated values and booleans at `path` and below, for keys outside lists
// (`node` is the schema at `path`; `defs` its $defs).
void SchemaValues(const nlohmann::json& node, const nlohmann::json& defs, const std::string& path,
                  std::vector<std::pair<std::string, std::string>>* out, int depth = 0) {
  if (depth > 30 || !node.is_object()) return;
  if (node.contains("$ref")) {
    const std::string ref = node["$ref"];
    const std::string name = ref.substr(ref.rfind('/') + 1);
    if (name != "template" && defs.contains(name))
      SchemaValues(defs[name], defs, path, out, depth + 1);
    return;
  }
  if (node.contains("enum")) {
    for (const nlohmann::json& v : node["enum"])
      out->emplace_back(path, v.is_string() ? v.get<std::string>() : v.dump());
  }
  const nlohmann::json type = node.value("type", nlohmann::json());
  const bool boolean = type == "boolean" || (type.is_array() && std::find(type.begin(), type.end(),
                                                                          "boolean") != type.end());
  if (boolean) {
    out->emplace_back(path, "true");
    out->emplace_back(path, "false");
  }
  for (const char* k : {"anyOf", "oneOf", "allOf"}) {
    if (node.contains(k)) {
      for (const nlohmann::json& sub : node[k]) SchemaValues(sub, defs, path, out, depth + 1);
    }
  }
  if (node.contains("properties")) {
    for (const auto& [key, sub] : node["properties"].items()) {
      SchemaValues(sub, defs, path.empty() ? key : path + "." + key, out, depth + 1);
    }
  }
}

// The value at a dotted `path` of a YAML file, as written there ("" when absent).
std::string YamlValue(const std::string& file, const std::string& path) {
  YAML::Node n = YAML::LoadFile(file);
  std::istringstream parts(path);
  for (std::string key; std::getline(parts, key, '.');) {
    if (!n.IsMap() || !n[key]) return "";
    n = n[key];
  }
  return n.IsScalar() ? n.Scalar() : "";
}

// Values a two-step iris run cannot show, each with the reason; where the effect needs a longer
// run or another place to look, the test named checks it.
const std::map<std::string, std::string> kNoVisibleEffect = {
    {"data.format=csv", "iris.csv is CSV: the format its name gives anyway"},
    {"training.loss=cross_entropy", "the loss a class target gets anyway"},
    {"data.loader.drop_last=true", "two steps never reach iris's last, partial batch"},
    {"model.dtype=fp32", "another name of float32, the default"},
    {"model.dtype=float", "another name of float32, the default"},
    {"optimizer.amsgrad=true",
     "in two steps Adam's second moment only grows, so its running maximum is itself"},
    {"scheduler.name=cosine_annealing", "the spec's other name of cosine"},
    {"scheduler.name=linear", "over two steps linear and cosine both give lr/2, then 0"},
    {"training.mixed_precision.dtype=fp16", "another name of float16, the default"},
    {"training.mixed_precision.dtype=half", "another name of float16, the default"},
    {"training.checkpoint.save_best=true", "the default when the run validates"},
    {"training.checkpoint.mode=max", "one validation: its checkpoint is the best either way"},
    {"training.early_stopping.enabled=true", "one validation cannot exhaust the patience"},
    {"training.validation.every_epoch=true", "the default"},
    {"training.validation.every_epoch=false",
     "two steps end inside the first epoch: one validation at the end either way (the test "
     "'data.loader.seed orders the shuffle, every_epoch: false...' sees it)"},
    {"monitoring.terminal.enabled=false",
     "stderr is no terminal here ('monitoring.terminal chooses what the progress line shows')"},
    {"monitoring.system.enabled=true", "sampled every 1000 ms, longer than two steps take"},
    {"output.registry.enabled=true",
     "it publishes outside the run directory ('output.registry publishes to the local registry')"}};

TEST_CASE(
    "contract: every value the schema enumerates, set alone, trains and shows it or says it does "
    "nothing, or is refused by validate as train refuses it",
    "[e2e][contract][slow]") {
  TempDir dir;
  ProcessResult schema = RunProcess({EntrenarBinary(), "schema"});
  REQUIRE(schema.exit_code == 0);
  const nlohmann::json root = nlohmann::json::parse(schema.out);
  std::vector<std::pair<std::string, std::string>> values;
  SchemaValues(root, root["$defs"], "", &values);
  // Values only the data refuses (validate does not read it): iris.csv is a CSV table whose
  // target has three classes. Train names the problem.
  const std::map<std::string, std::string> by_data = {
      {"data.format=tsv", "column `species` is not in"},
      {"data.format=json", "not valid JSON"},
      {"data.format=jsonl", "not valid JSON"},
      {"data.format=parquet", "not a Parquet file"},
      {"training.loss=bce", "the target `species` has 3 classes"},
      {"training.loss=mse", "needs a numeric target"},
      {"training.loss=l1", "needs a numeric target"},
      {"training.loss=huber", "needs a numeric target"}};
  // On the CPU, two steps, and the registry inside the test's directory.
  const std::vector<std::string> base = {
      "/usr/bin/env", "ENTRENAR_REGISTRY=" + dir.path + "/registry", EntrenarBinary()};
  // The run every value is compared with: iris as it is, on the CPU, two steps.
  const std::vector<std::string> common = {"--set", "model.device=cpu", "--set",
                                           "training.max_steps=2"};
  std::vector<std::string> plain = base;
  plain.insert(plain.end(),
               {"train", kSource + "/examples/iris.yaml", "--output", dir.path + "/plain"});
  plain.insert(plain.end(), common.begin(), common.end());
  const ProcessResult as_is = RunProcess(plain, "", 240, dir.path);
  REQUIRE(as_is.exit_code == 0);
  const std::string unchanged = ObservedRun(dir.path + "/plain", as_is.err);
  const std::string resolved = dir.path + "/plain/config.resolved.yaml";
  std::vector<std::string> silent;  // trained, changed nothing visible, and said nothing
  std::size_t trained = 0, refused = 0, seen = 0;
  for (const auto& [path, value] : values) {
    const std::string set = path + "=" + value;
    const std::vector<std::string> sets = {
        "--set", set, "--set", "model.device=cpu", "--set", "training.max_steps=2"};
    INFO(set);
    std::vector<std::string> v = base;
    v.insert(v.end(), {"validate", kSource + "/examples/iris.yaml"});
    v.insert(v.end(), sets.begin(), sets.end());
    const ProcessResult checked = RunProcess(v, "", 60, dir.path);
    const std::string out = dir.path + "/run-" + std::to_string(seen++);
    std::vector<std::string> t = base;
    t.insert(t.end(), {"train", kSource + "/examples/iris.yaml", "--output", out});
    t.insert(t.end(), sets.begin(), sets.end());
    const ProcessResult ran = RunProcess(t, "", 240, dir.path);
    INFO(checked.out + checked.err);
    INFO(ran.err);
    if (const auto data = by_data.find(set); data != by_data.end()) {
      CHECK(checked.exit_code == 0);
      CHECK(ran.exit_code == 1);
      CHECK_THAT(ran.err, Catch::Contains(data->second));
    } else if (checked.exit_code == 0) {
      CHECK(ran.exit_code == 0);
      ++trained;
      // A value other than the one the plain run ran with shows, or is said to do nothing.
      std::string was = YamlValue(resolved, path);
      std::transform(was.begin(), was.end(), was.begin(), ::tolower);
      const bool said = checked.err.find("warning: " + path) != std::string::npos ||
                        checked.err.find("`" + path + "`") != std::string::npos ||
                        ran.err.find("no effect") != std::string::npos;
      if (ran.exit_code == 0 && was != value && !said && !kNoVisibleEffect.count(set) &&
          ObservedRun(out, ran.err) == unchanged)
        silent.push_back(set);
    } else {
      // Refused by validate: train refuses it the same way, before writing anything.
      CHECK(ran.exit_code == checked.exit_code);
      CHECK_FALSE(fs::exists(out));
      ++refused;
    }
  }
  // Nothing is accepted and then ignored without a word.
  CHECK(silent == std::vector<std::string>{});
  // The schema's values did reach the table (today 160 or so), and most of them train.
  CHECK(values.size() > 120);
  CHECK(trained > refused);
}

}  // namespace
