// What a job that was killed and resumed must come to (tests/integration/chaos_test.cc,
// kill_points_test.cc): the checks against an uninterrupted run and the store.
#pragma once

#include <cstdlib>
#include <random>

#include "daemon_harness.h"

namespace entrenar::testing::recovery {

using namespace entrenar::testing::daemon;

inline int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

inline const std::vector<std::string> kChaosJob = {
    "training.epochs=null", "training.max_steps=1500", "training.checkpoint.save_every=100",
    "training.checkpoint.keep_last=1000", "training.early_stopping.enabled=false"};

// Per-step losses of the job trained once, uninterrupted, by `entrenar train`.
inline std::map<std::int64_t, double> Reference(const std::string& dir) {
  std::vector<std::string> args = {Binary("entrenar"), "train", kDigits, "--output", dir};
  for (const std::string& s : kChaosJob) args.insert(args.end(), {"--set", s});
  const ProcessResult r = RunProcess(args, "", 300);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return daemon::LossByStep(dir);
}

// Drives job `id` to its end: a failed attempt (its worker killed) is resumed.
inline json Finish(Daemon& d, std::int64_t id) {
  for (int round = 0; round < 20; ++round) {
    const json j = d.WaitFor(
        id,
        [](const json& s) {
          // Compared as a std::string: GCC 12 at -O3 warns (-Warray-bounds, a false positive)
          // on json == const char* inlined into this lambda.
          const std::string state = s.value("state", std::string());
          return state == "SUCCEEDED" || state == "FAILED" || state == "INTERRUPTED" ||
                 state == "CANCELLED";
        },
        240);
    if (j["state"] == "SUCCEEDED") return j;
    const ProcessResult resumed = d.Cli({"resume", std::to_string(id)});
    INFO(resumed.err);
    REQUIRE(resumed.exit_code == 0);
  }
  FAIL("job " << id << " did not finish in 20 attempts");
  return {};
}

// Each attempt (the events after each RUNNING state) stored each metric step once, in order.
inline void StepsOncePerAttempt(Daemon& d, std::int64_t id) {
  std::int64_t last = 0, attempts = 0;
  for (const json& ev : d.Events(id)) {
    const json& payload = ev["payload"];
    if (ev["kind"] == "state" && payload.is_object() && payload.contains("state") &&
        payload["state"] == "RUNNING") {
      last = 0;
      ++attempts;
    }
    if (ev["kind"] != "metric") continue;
    const std::int64_t step = ev["step"];
    CHECK(step > last);
    last = step;
  }
  CHECK(attempts >= 1);
}

// "" when `got` is `want`, else where they first differ.
inline std::string Difference(const std::map<std::int64_t, double>& got,
                              const std::map<std::int64_t, double>& want) {
  for (const auto& [step, loss] : want) {
    const auto it = got.find(step);
    if (it == got.end()) return "step " + std::to_string(step) + " is missing";
    if (it->second != loss) {
      return "step " + std::to_string(step) + ": " + std::to_string(it->second) + " instead of " +
             std::to_string(loss);
    }
  }
  if (got.size() != want.size()) return std::to_string(got.size() - want.size()) + " steps more";
  return "";
}

inline std::string IntegrityCheck(const std::string& db) {
  const ProcessResult r =
      RunProcess({"/usr/bin/python3", "-c",
                  "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA "
                  "integrity_check').fetchone()[0])",
                  db},
                 "", 60);
  return r.out;
}

// Job `id`, driven to its end, trained as the uninterrupted run did (`reference`, its per-step
// losses), bit for bit; `entrenar metrics` shows each step once; each attempt stored each step
// once. Returns the finished job.
inline json CheckRecovered(Daemon& d, std::int64_t id, const std::string& run,
                           const std::map<std::int64_t, double>& reference) {
  const json done = Finish(d, id);
  CHECK(done["state"] == "SUCCEEDED");
  CHECK(Difference(daemon::LossByStep(run), reference) == "");
  ProcessResult metrics = d.Cli({"metrics", std::to_string(id), "--name", "train_loss", "--json"});
  REQUIRE(metrics.exit_code == 0);
  const json series = json::parse(metrics.out)["train_loss"];
  const auto steps = series["steps"].get<std::vector<std::int64_t>>();
  const auto values = series["values"].get<std::vector<double>>();
  CHECK(steps.size() == reference.size());
  bool same = steps.size() == values.size();
  for (std::size_t i = 0; same && i < steps.size(); ++i) {
    same = reference.count(steps[i]) && reference.at(steps[i]) == values[i];
  }
  CHECK(same);
  StepsOncePerAttempt(d, id);
  return done;
}

}  // namespace entrenar::testing::recovery
