// The real entrenard on a temporary socket and state directory, driven by the real `entrenar`
// client: the harness of the integration tests.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::testing::daemon {

namespace fs = std::filesystem;
using entrenar::testing::BackgroundProcess;
using entrenar::testing::ProcessResult;
using entrenar::testing::RunProcess;
using entrenar::testing::Slurp;
using entrenar::testing::TempDir;
using nlohmann::json;
using namespace std::chrono_literals;

const std::string kSource = ENTRENAR_SOURCE_DIR;

inline std::string Binary(const char* name) {
  return (fs::path(entrenar::testing::EntrenarBinary()).parent_path() / name).string();
}

// Step -> train_loss of a run directory (complete lines: it may be being written).
inline std::map<std::int64_t, double> LossByStep(const std::string& run) {
  return entrenar::testing::LossByStep(run + "/metrics.jsonl");
}

// A daemon of our own, on a socket in a temporary directory.
class Daemon {
 public:
  // `launcher`: a command the daemon runs under (e.g. prlimit), kept for restarts.
  explicit Daemon(int slots = 2, int grace = 30, const std::vector<std::string>& extra = {},
                  std::vector<std::string> launcher = {})
      : launcher_(std::move(launcher)) {
    Start(slots, grace, extra);
  }
  ~Daemon() { Stop(); }

  // Starts entrenard and waits until it answers (`wait`).
  void Start(int slots = 2, int grace = 30, const std::vector<std::string>& extra = {},
             bool wait = true) {
    // Negative slots: none given (a config file's, or the default).
    std::vector<std::string> argv = {Binary("entrenard"),  "--socket",          socket(),
                                     "--state-dir",        dir.path + "/state", "--grace",
                                     std::to_string(grace)};
    if (slots >= 0) argv.insert(argv.end(), {"--cpu-slots", std::to_string(slots)});
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.begin(), launcher_.begin(), launcher_.end());
    process_ = std::make_unique<BackgroundProcess>(argv, dir.path + "/daemon.out",
                                                   dir.path + "/daemon.err");
    if (!wait) return;
    auto ready = [&] {
      return RunProcess({Binary("entrenar"), "devices", "--socket", socket()}).exit_code == 0;
    };
    for (int i = 0; i < 200 && !ready(); ++i) std::this_thread::sleep_for(20ms);
    REQUIRE(Cli({"devices"}).exit_code == 0);
  }
  void Stop() {
    if (!process_) return;
    process_->Signal(SIGTERM);
    process_->Wait(10);
    process_.reset();
  }
  void Kill() {
    if (!process_) return;
    process_->Signal(SIGKILL);
    process_->Wait(10);
    process_.reset();
  }
  // Waits for the daemon to end by itself; its wait status (nothing while it still runs).
  std::optional<int> WaitExit(int seconds) {
    std::optional<int> status = process_->WaitStatus(seconds);
    if (status) process_.reset();
    return status;
  }
  // What later starts run under (e.g. {"/usr/bin/env", "NAME=VALUE"}).
  void set_launcher(std::vector<std::string> launcher) { launcher_ = std::move(launcher); }

  std::string socket() const { return dir.path + "/s.sock"; }

  ProcessResult Cli(std::vector<std::string> args, int timeout = 120) {
    args.insert(args.begin(), Binary("entrenar"));
    args.insert(args.end(), {"--socket", socket()});
    ProcessResult r = RunProcess(args, "", timeout);
    if (r.exit_code == 5) {  // unreachable: show what the daemon said last
      WARN("entrenard unreachable; its log:\n" << Slurp(dir.path + "/daemon.err"));
    }
    return r;
  }

  json Show(std::int64_t job) {
    ProcessResult r = Cli({"show", std::to_string(job), "--json"});
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }

  std::vector<json> Events(std::int64_t job) {
    ProcessResult r = Cli({"logs", std::to_string(job), "--json"});
    REQUIRE(r.exit_code == 0);
    std::vector<json> out;
    std::istringstream in(r.out);
    std::string line;
    while (std::getline(in, line)) out.push_back(json::parse(line));
    return out;
  }

  // Submits `manifest` with overrides; returns the job id.
  std::int64_t Submit(const std::string& manifest, const std::vector<std::string>& sets,
                      std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"submit", manifest};
    for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
    args.insert(args.end(), extra.begin(), extra.end());
    ProcessResult r = Cli(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return std::stoll(r.out);
  }

  // Waits until `pred(show)` holds; fails after `seconds` (scaled by TimeLimit).
  template <typename Pred>
  json WaitFor(std::int64_t job, Pred pred, int seconds = 60) {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(TimeLimit(seconds));
    json j;
    while (std::chrono::steady_clock::now() < deadline) {
      j = Show(job);
      if (pred(j)) return j;
      std::this_thread::sleep_for(20ms);
    }
    FAIL("timed out; last state " << j.dump());
    return j;
  }

  TempDir dir;

 private:
  std::vector<std::string> launcher_;
  std::unique_ptr<BackgroundProcess> process_;
};

const std::string kDigits = kSource + "/examples/digits.yaml";
const std::string kIris = kSource + "/examples/iris.yaml";
const std::vector<std::string> kLongJob = {"training.epochs=5000",
                                           "training.early_stopping.enabled=false"};

inline std::vector<std::string> With(std::vector<std::string> sets, const std::string& extra) {
  sets.push_back(extra);
  return sets;
}

// The pid of a RUNNING job's worker (its reason is "pid N").
inline int WorkerPid(const json& job) {
  const std::string reason = job["reason"];
  REQUIRE(reason.rfind("pid ", 0) == 0);
  return std::stoi(reason.substr(4));
}

// NAME=VALUE from a process's environment.
inline std::map<std::string, std::string> EnvironOf(int pid) {
  std::map<std::string, std::string> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ");
  std::string var;
  while (std::getline(in, var, '\0')) {
    const std::size_t eq = var.find('=');
    if (eq != std::string::npos) out[var.substr(0, eq)] = var.substr(eq + 1);
  }
  return out;
}

// A runs/ directory under the daemon's that any user may create run directories in.
inline std::string OpenRunsDir(const Daemon& d) {
  const std::string runs = d.dir.path + "/runs";
  fs::create_directories(runs);
  fs::permissions(runs, fs::perms::all | fs::perms::sticky_bit);
  return runs;
}

// `entrenar ARGS` as uid/gid 65534 (needs root and util-linux's setpriv).
inline ProcessResult AsNobody(Daemon& d, std::vector<std::string> args) {
  args.insert(args.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             Binary("entrenar")});
  args.insert(args.end(), {"--socket", d.socket()});
  return RunProcess(args, "", 60);
}

inline bool CanBeNobody() { return getuid() == 0 && fs::exists("/usr/bin/setpriv"); }

}  // namespace entrenar::testing::daemon
