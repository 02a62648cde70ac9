// What a run writes runs again (SPEC §15): every example, and every SPEC snippet of
// tests/data/manifests/valid set onto a manifest that has data, is trained briefly; then trained
// again from its config.resolved.yaml and from its lock with --strict, with the same per-step
// losses; and once a byte of its data changed, the lock is refused.
#include <filesystem>
#include <map>
#include <regex>
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
using entrenar::testing::ObservedRun;
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
// three must give the same per-step losses. Returns the lock's path; `observed`, when given,
// gets what the first run showed (ObservedRun, the manifest's path blanked).
std::string RoundTrip(const std::string& dir, const std::string& manifest,
                      const std::vector<std::string>& sets, const std::string& name,
                      std::string* observed = nullptr) {
  const std::string run = dir + "/" + name;
  ProcessResult first =
      Entrenar(dir, "train", Concat({manifest, "--output", run}, Sets(sets)), run + ".registry");
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  const std::map<std::int64_t, double> losses = LossByStep(run + "/metrics.jsonl");
  CHECK_FALSE(losses.empty());
  if (observed) *observed = ObservedRun(run, first.err, {manifest});
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
    // Files only: the image folder (digits-png) belongs to no example locked here.
    if (entry.is_regular_file() && entry.path().extension() != ".md") {
      ChangeOneByte(entry.path().string());
    }
  }
  LocksRefused(dir.path, locks);
}

TEST_CASE(
    "lock: relative paths name the same files from where the lock lies: -o, a redirected "
    "standard output, a pipe, file:// paths",
    "[e2e][contract]") {
  TempDir dir;
  fs::copy(kSource + "/examples", dir.path + "/ml", fs::copy_options::recursive);
  fs::create_directories(dir.path + "/locks");
  const std::string lock = EntrenarBinary() + " lock ml/iris.yaml --set training.max_steps=2";
  const std::map<std::string, std::string> ways = {
      {"locks/o.lock.yaml", lock + " -o locks/o.lock.yaml"},
      {"locks/redirected.lock.yaml", lock + " > locks/redirected.lock.yaml"},
      {"ml/piped.lock.yaml", lock + " | cat > ml/piped.lock.yaml"},
      {"locks/file-uri.lock.yaml",
       lock + " --set data.source=file://data/iris.csv -o locks/file-uri.lock.yaml"}};
  for (const auto& [file, command] : ways) {
    INFO(command);
    ProcessResult made = RunProcess({"/bin/sh", "-c", command}, "", 60, dir.path);
    INFO(made.err);
    REQUIRE(made.exit_code == 0);
    const std::string text = Slurp(dir.path + "/" + file);
    // regex_search, not Catch::Matches("(.|\n)*…"): libstdc++ matches that recursively, one frame
    // per character, and a lock file overflows the stack of a sanitized build.
    CHECK(std::regex_search(text, std::regex("sha256: \"?[0-9a-f]{64}")));
    const std::string out = dir.path + "/run-" + fs::path(file).stem().string();
    ProcessResult strict = Entrenar(dir.path, "train", {file, "--strict", "--output", out});
    INFO(strict.err);
    CHECK(strict.exit_code == 0);
    CHECK_THAT(strict.err, Catch::Contains("lock: the 1 locked file matches its hash"));
  }
}

// The SPEC snippet at `path` set onto examples/iris.yaml: its top-level sections replace
// iris's, except `data` and `model` (snippets name data and models that are not here).
// `took` says whether a section other than the root keys was taken.
std::string OntoIris(const std::string& path, bool* took) {
  YAML::Node base = YAML::LoadFile(kSource + "/examples/iris.yaml");
  const YAML::Node snippet = YAML::LoadFile(path);
  *took = false;
  for (const auto& entry : snippet) {
    const std::string key = entry.first.as<std::string>();
    if (key == "data" || key == "model") continue;
    base[key] = entry.second;
    if (entry.second.IsMap() || entry.second.IsSequence()) *took = true;
  }
  YAML::Emitter out;
  out << base;
  return out.c_str();
}

TEST_CASE(
    "round trip: every SPEC snippet set onto a manifest with data trains again from what it "
    "wrote and shows what it set, or validate refuses it as train does",
    "[e2e][contract][slow]") {
  TempDir dir;
  fs::copy(kSource + "/examples", dir.path + "/examples", fs::copy_options::recursive);
  std::map<std::string, std::string> locks;
  std::set<std::string> refused;
  std::size_t snippets = 0;
  const std::vector<std::string> sets = {"model.device=cpu", "training.max_steps=2"};
  // Plain iris, as every snippet's run is compared with.
  const std::string iris = "examples/iris.yaml";
  ProcessResult as_is =
      Entrenar(dir.path, "train", Concat({iris, "--output", dir.path + "/plain"}, Sets(sets)));
  REQUIRE(as_is.exit_code == 0);
  const std::string unchanged = ObservedRun(dir.path + "/plain", as_is.err, {iris});
  for (const auto& entry : fs::directory_iterator(kSource + "/tests/data/manifests/valid")) {
    const std::string name = entry.path().stem().string();
    INFO(name);
    ++snippets;
    const std::string manifest = "examples/" + name + ".yaml";
    bool took = false;
    WriteFile(dir.path + "/" + manifest, OntoIris(entry.path().string(), &took));
    ProcessResult checked = Entrenar(dir.path, "validate", Concat({manifest}, Sets(sets)));
    INFO(checked.out + checked.err);
    if (checked.exit_code == 0) {
      std::string observed;
      locks[name] = RoundTrip(dir.path, manifest, sets, name, &observed);
      // What the snippet set (beyond data and model) shows in the run, or validate said it
      // does nothing.
      if (took)
        CHECK((observed != unchanged || checked.err.find("warning: ") != std::string::npos));
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
