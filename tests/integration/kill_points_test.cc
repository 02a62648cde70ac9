// Aimed kills (issue 16): entrenard or a worker kills itself with SIGKILL at a named moment where
// a crash must lose nothing (ENTRENAR_KILL_AT, entrenar/base/kill_point.h): half-way through a
// checkpoint, half-way through an event line, between a fork and the store knowing the pid,
// between storing events and acknowledging them, while adopting workers, while importing a
// finished worker's events, right after a job's end is stored. entrenard is then started without
// the kill point and the job resumed until it ends; it must have trained as an uninterrupted run
// did, bit for bit, with every step stored once per attempt and an intact database.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>

#include "daemon_harness.h"
#include "recovery_checks.h"

namespace {

using namespace entrenar::testing::daemon;
using namespace entrenar::testing::recovery;

std::vector<std::string> KillAt(const std::string& point) {
  return {"/usr/bin/env", "ENTRENAR_KILL_AT=" + point};
}

// The pids of processes whose command line mentions `text`.
std::vector<int> ProcessesWith(const std::string& text) {
  std::vector<int> out;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = Slurp(entry.path().string() + "/cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(text) != std::string::npos) out.push_back(std::stoi(name));
  }
  return out;
}

// entrenard, started under `point`, ended by it: killed by SIGKILL (not a crash of its own).
void ExpectKilledAt(Daemon& d, const std::string& point) {
  const std::optional<int> status = d.WaitExit(120);
  INFO("ENTRENAR_KILL_AT=" << point << "; entrenard's log:\n" << Slurp(d.dir.path + "/daemon.err"));
  REQUIRE(status);
  CHECK(WIFSIGNALED(*status));
  CHECK(WTERMSIG(*status) == SIGKILL);
}

// Every line of the run's events.jsonl is one whole event.
void EventLinesWhole(const std::string& run) {
  std::istringstream in(Slurp(run + "/events.jsonl"));
  std::size_t bad = 0, lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    if (!json::parse(line, nullptr, false).is_object()) ++bad;
  }
  CHECK(lines > 1500);
  CHECK(bad == 0);
}

struct Case {
  Daemon d;
  std::string run;
  std::int64_t id = 0;

  explicit Case(const std::string& point) : run(d.dir.path + "/runs/aimed") {
    if (!point.empty()) {
      d.Stop();
      d.set_launcher(KillAt(point));
      d.Start();
    }
  }
  // The job; entrenard may die at a kill point before its answer is out (then it is the first
  // job of this fresh store, and Restart checks that).
  void Submit() {
    std::vector<std::string> args = {"submit", kDigits, "--set", "output.dir=" + run};
    for (const std::string& s : kChaosJob) args.insert(args.end(), {"--set", s});
    const ProcessResult r = d.Cli(args);
    INFO(r.err);
    REQUIRE((r.exit_code == 0 || r.exit_code == 5));
    id = r.exit_code == 0 ? std::stoll(r.out) : 1;
  }
  // The job submitted and training, entrenard killed under it (the worker trains on).
  void KillDaemonWhileTraining() {
    Submit();
    d.WaitFor(id, [&](const json&) { return LossByStep(run).size() >= 100; });
    d.Kill();
  }
  // entrenard again, without the kill point.
  void Restart() {
    d.Kill();
    d.set_launcher({});
    d.Start();
    REQUIRE(d.Show(id)["run_dir"] == run);
  }
  void Check(const std::map<std::int64_t, double>& reference, int attempts) {
    const json done = CheckRecovered(d, id, run, reference);
    if (attempts > 0) CHECK(done["attempts"] == attempts);
    EventLinesWhole(run);
    d.Stop();
    CHECK(IntegrityCheck(d.dir.path + "/state/state.db") == "ok\n");
  }
};

TEST_CASE("kill points: a worker killed mid-checkpoint or mid-event line resumes losing nothing",
          "[integration][chaos][slow]") {
  TempDir ref;
  const std::map<std::int64_t, double> reference = Reference(ref.path + "/run");
  for (const std::string point :
       {"worker.checkpoint.written@3", "worker.checkpoint.renamed@3", "worker.event.half@700"}) {
    INFO("ENTRENAR_KILL_AT=" << point);
    Case c(point);
    c.Submit();
    const json failed = c.d.WaitFor(c.id, [](const json& j) { return j["state"] == "FAILED"; });
    CHECK_THAT(failed["reason"].get<std::string>(), Catch::Contains("signal 9"));
    c.Restart();
    c.Check(reference, 2);
    std::printf("kill point %s: resumed, bit-exact\n", point.c_str());
  }
}

TEST_CASE(
    "kill points: entrenard killed while it starts, hears from or finishes a worker loses "
    "no job, no step and runs no worker twice",
    "[integration][chaos][slow]") {
  TempDir ref;
  const std::map<std::int64_t, double> reference = Reference(ref.path + "/run");
  SECTION("between the fork and the pid stored: the worker never starts") {
    Case c("daemon.spawn.forked");
    c.Submit();
    ExpectKilledAt(c.d, "daemon.spawn.forked");
    std::this_thread::sleep_for(500ms);
    CHECK(ProcessesWith(c.run).empty());  // no orphan trains beside the next attempt
    CHECK(!fs::exists(c.run + "/metrics.jsonl"));
    c.Restart();
    c.Check(reference, 2);
  }
  SECTION("between the pid stored and RUNNING: the worker is adopted, and RUNNING") {
    Case c("daemon.spawn.stored");
    c.Submit();
    ExpectKilledAt(c.d, "daemon.spawn.stored");
    c.Restart();
    CHECK(c.d.Show(c.id)["state"] != "STARTING");
    c.Check(reference, 1);
  }
  SECTION("between storing a worker's events and acknowledging them") {
    Case c("daemon.receive.stored@3");
    c.Submit();
    ExpectKilledAt(c.d, "daemon.receive.stored@3");
    c.Restart();
    c.Check(reference, 1);
  }
  SECTION("right after storing a job's end") {
    Case c("daemon.finish.stored");
    c.Submit();
    ExpectKilledAt(c.d, "daemon.finish.stored");
    c.Restart();
    c.Check(reference, 1);
  }
  SECTION("while adopting a running worker") {
    Case c("");
    c.KillDaemonWhileTraining();
    c.d.set_launcher(KillAt("daemon.adopt"));
    c.d.Start(2, 30, {}, /*wait=*/false);  // it dies adopting, before it listens
    ExpectKilledAt(c.d, "daemon.adopt");
    c.Restart();
    c.Check(reference, 1);
  }
  SECTION("while importing the events of a worker that finished while entrenard was down") {
    Case c("");
    c.KillDaemonWhileTraining();
    REQUIRE(entrenar::testing::WaitForPath(c.run + "/summary.json", 120));
    std::this_thread::sleep_for(500ms);  // the worker exits after its summary
    c.d.set_launcher(KillAt("daemon.import.stored"));
    c.d.Start(2, 30, {}, /*wait=*/false);
    ExpectKilledAt(c.d, "daemon.import.stored");
    c.Restart();
    // It finished: SUCCEEDED as it was, not trained again.
    CHECK(c.d.Show(c.id)["state"] == "SUCCEEDED");
    c.Check(reference, 1);
  }
}

}  // namespace
