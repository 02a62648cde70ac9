// What a run writes runs again (SPEC §15): every example, and every SPEC snippet of
// tests/data/manifests/valid set onto a manifest that has data, is trained briefly; then trained
// again from its config.resolved.yaml and from its lock with --strict, with the same per-step
// losses; and once a byte of its data changed, the lock is refused.
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

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

// `entrenar COMMAND ARGS` run in `cwd`, with the model registry in `registry` (each run its own:
// a registry's versions are immutable, and a snippet may publish one).
ProcessResult Entrenar(const std::string& cwd, const std::string& command,
                       const std::vector<std::string>& args,
                       const std::string& registry = "/nonexistent") {
  std::vector<std::string> argv = {"/usr/bin/env", "ENTRENAR_REGISTRY=" + registry,
                                   EntrenarBinary(), command};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, "", 240, cwd);
}

// `--set S` for each of `sets`.
std::vector<std::string> Sets(const std::vector<std::string>& sets) {
  std::vector<std::string> out;
  for (const std::string& s : sets) out.insert(out.end(), {"--set", s});
  return out;
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Trains `manifest` with `sets` into DIR/NAME, then its config.resolved.yaml from another
// directory, then its lock (written to DIR/locks, away from the manifest) with --strict: all
// three must give the same per-step losses. Returns the lock's path.
std::string RoundTrip(const std::string& dir, const std::string& manifest,
                      const std::vector<std::string>& sets, const std::string& name) {
  const std::string run = dir + "/" + name;
  ProcessResult first =
      Entrenar(dir, "train", Concat({manifest, "--output", run}, Sets(sets)), run + ".registry");
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  const std::map<std::int64_t, double> losses = LossByStep(run + "/metrics.jsonl");
  CHECK_FALSE(losses.empty());
  const std::string resolved = Slurp(run + "/config.resolved.yaml");
  // It says what happened: where the run went, and no report unless one was asked for.
  CHECK_THAT(resolved, Catch::Contains("dir: " + run));
  const bool reported = fs::exists(run + "/report.md") || fs::exists(run + "/report.html");

  fs::create_directories(dir + "/elsewhere");
  const std::string again = dir + "/" + name + "-again";
  ProcessResult second =
      Entrenar(dir + "/elsewhere", "train", {run + "/config.resolved.yaml", "--output", again},
               again + ".registry");
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(losses == LossByStep(again + "/metrics.jsonl"));
  CHECK((fs::exists(again + "/report.md") || fs::exists(again + "/report.html")) == reported);

  fs::create_directories(dir + "/locks");
  const std::string lock = dir + "/locks/" + name + ".lock.yaml";
  ProcessResult locked = Entrenar(dir, "lock", Concat({manifest, "-o", lock}, Sets(sets)));
  INFO(locked.err);
  REQUIRE(locked.exit_code == 0);
  const std::string strict = dir + "/" + name + "-strict";
  ProcessResult third =
      Entrenar(dir, "train", {lock, "--strict", "--output", strict}, strict + ".registry");
  INFO(third.err);
  REQUIRE(third.exit_code == 0);
  CHECK(losses == LossByStep(strict + "/metrics.jsonl"));
  return lock;
}

// Changes one digit in the second half of the file at `path`, keeping its size.
void ChangeOneByte(const std::string& path) {
  std::string text = Slurp(path);
  const std::size_t at = text.find_first_of("0123456789", text.size() / 2);
  REQUIRE(at != std::string::npos);
  text[at] = text[at] == '7' ? '8' : '7';
  WriteFile(path, text);
}

// Every lock in `locks` is refused by train --strict, before it writes anything.
void LocksRefused(const std::string& dir, const std::map<std::string, std::string>& locks) {
  for (const auto& [name, lock] : locks) {
    INFO(name);
    const std::string out = dir + "/" + name + "-changed";
    ProcessResult r = Entrenar(dir, "train", {lock, "--strict", "--output", out});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("changed since it was locked"));
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("round trip: every example trains again from its config.resolved.yaml and its lock",
          "[e2e][contract][slow]") {
  TempDir dir;
  fs::copy(kSource + "/examples", dir.path + "/examples", fs::copy_options::recursive);
  std::map<std::string, std::string> locks;
  // instruct_lora adapts the model instruct trains.
  for (const std::string name :
       {"iris", "wine", "breast_cancer", "digits", "digits_cnn", "instruct", "instruct_lora"}) {
    INFO(name);
    std::vector<std::string> sets = {"training.max_steps=3"};
    if (name == "instruct_lora") sets.push_back("model.source=" + dir.path + "/instruct");
    locks[name] = RoundTrip(dir.path, "examples/" + name + ".yaml", sets, name);
    CHECK(LossByStep(dir.path + "/" + name + "/metrics.jsonl").size() == 3);
  }
  for (const auto& entry : fs::directory_iterator(dir.path + "/examples/data")) {
    if (entry.path().extension() != ".md") ChangeOneByte(entry.path().string());
  }
  LocksRefused(dir.path, locks);
}

// The SPEC snippet at `path` set onto examples/iris.yaml: its top-level sections replace
// iris's, except `data` and `model` (snippets name data and models that are not here).
std::string OntoIris(const std::string& path) {
  YAML::Node base = YAML::LoadFile(kSource + "/examples/iris.yaml");
  const YAML::Node snippet = YAML::LoadFile(path);
  for (const auto& entry : snippet) {
    const std::string key = entry.first.as<std::string>();
    if (key != "data" && key != "model") base[key] = entry.second;
  }
  YAML::Emitter out;
  out << base;
  return out.c_str();
}

TEST_CASE(
    "round trip: every SPEC snippet set onto a manifest with data trains again from what it "
    "wrote, or validate refuses it as train does",
    "[e2e][contract][slow]") {
  TempDir dir;
  fs::copy(kSource + "/examples", dir.path + "/examples", fs::copy_options::recursive);
  std::map<std::string, std::string> locks;
  std::set<std::string> refused;
  std::size_t snippets = 0;
  for (const auto& entry : fs::directory_iterator(kSource + "/tests/data/manifests/valid")) {
    const std::string name = entry.path().stem().string();
    INFO(name);
    ++snippets;
    const std::string manifest = "examples/" + name + ".yaml";
    WriteFile(dir.path + "/" + manifest, OntoIris(entry.path().string()));
    const std::vector<std::string> sets = {"model.device=cpu", "training.max_steps=2"};
    ProcessResult checked = Entrenar(dir.path, "validate", Concat({manifest}, Sets(sets)));
    INFO(checked.out + checked.err);
    if (checked.exit_code == 0) {
      locks[name] = RoundTrip(dir.path, manifest, sets, name);
      continue;
    }
    // Refused by validate: train refuses it the same way, before writing anything.
    refused.insert(name);
    const std::string out = dir.path + "/" + name;
    ProcessResult ran =
        Entrenar(dir.path, "train", Concat({manifest, "--output", out}, Sets(sets)));
    CHECK(ran.exit_code == checked.exit_code);
    CHECK_FALSE(fs::exists(out));
  }
  ChangeOneByte(dir.path + "/examples/data/iris.csv");
  LocksRefused(dir.path, locks);
  // Most snippets train (the rest need what iris is not: a language model, remote sources).
  CHECK(snippets >= 26);
  INFO("refused: " << refused.size());
  CHECK(locks.size() >= 2 * refused.size());
}

}  // namespace
