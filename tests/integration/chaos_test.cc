// Random kills (issue 16): entrenard and its workers are killed with SIGKILL at random moments
// while a job trains with checkpoints. After each kill the daemon is started again (it adopts a
// worker that survived) and a job that failed is resumed, until the job has finished. Then: the
// job SUCCEEDED; its per-step losses equal an uninterrupted run's, bit for bit; `entrenar
// metrics` shows every step once; each attempt stored each of its metric steps once; SQLite's
// integrity check of the state database says ok.
// ENTRENAR_CHAOS_TRIALS trials (default 2; a bench run takes 200), ENTRENAR_CHAOS_SEED to replay
// one (each failure prints the seed of its trial). And a full disk under entrenard's state.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

#include "daemon_harness.h"
#include "recovery_checks.h"

namespace {

using namespace entrenar::testing::daemon;
using namespace entrenar::testing::recovery;

// One kill: the job's worker, entrenard, or both, then entrenard started again.
void KillSomething(Daemon& d, std::int64_t id, std::mt19937& rng, std::string* what) {
  const int victim = std::uniform_int_distribution<int>(0, 2)(rng);
  if (victim != 1) {
    const json job = d.Show(id);
    if (job["state"] == "RUNNING" && job["reason"].get<std::string>().rfind("pid ", 0) == 0) {
      kill(WorkerPid(job), SIGKILL);
      *what += " worker";
    }
  }
  if (victim != 0) {
    d.Kill();
    *what += " entrenard";
    d.Start();
  }
}

TEST_CASE("chaos: entrenard and its workers killed at random moments lose no job and no step",
          "[integration][chaos][slow]") {
  TempDir ref;
  const std::map<std::int64_t, double> reference = Reference(ref.path + "/run");
  REQUIRE(reference.size() == 1500);
  const int trials = EnvInt("ENTRENAR_CHAOS_TRIALS", 2);
  const unsigned first_seed = static_cast<unsigned>(
      EnvInt("ENTRENAR_CHAOS_SEED", static_cast<int>(std::random_device{}())));
  for (int trial = 0; trial < trials; ++trial) {
    const unsigned seed = first_seed + static_cast<unsigned>(trial);
    std::mt19937 rng(seed);
    std::string kills;
    INFO("trial " << trial << ": ENTRENAR_CHAOS_SEED=" << seed << " replays it");
    Daemon d;
    const std::string run = d.dir.path + "/runs/chaos";
    std::vector<std::string> sets = kChaosJob;
    sets.push_back("output.dir=" + run);
    const std::int64_t id = d.Submit(kDigits, sets);
    const int n = std::uniform_int_distribution<int>(1, 3)(rng);
    for (int k = 0; k < n; ++k) {
      std::this_thread::sleep_for(
          std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1200)(rng)));
      KillSomething(d, id, rng, &kills);
      // A killed worker fails its job: resume it before the next kill.
      const json j = d.Show(id);
      if (j["state"] == "FAILED" || j["state"] == "INTERRUPTED") {
        d.Cli({"resume", std::to_string(id)});
      }
    }
    INFO("killed:" << kills);
    const json done = CheckRecovered(d, id, run, reference);
    // One line a trial, for a long run (bench/README.md).
    std::printf("chaos trial %d (ENTRENAR_CHAOS_SEED=%u): killed%s; %d attempts\n", trial, seed,
                kills.c_str(), done["attempts"].get<int>());
    d.Stop();
    CHECK(IntegrityCheck(d.dir.path + "/state/state.db") == "ok\n");
  }
}

// Fills the file system of `dir` with `dir`/filler until a write fails.
void FillDisk(const std::string& dir) {
  std::ofstream filler(dir + "/filler", std::ios::binary);
  const std::string block(1 << 16, '\0');
  while (filler.write(block.data(), static_cast<std::streamsize>(block.size()))) {
  }
}

TEST_CASE(
    "faults: with entrenard's state directory on a full disk, submits are refused clearly, a job "
    "that trains on and ends meanwhile loses no event, and the daemon records it when space "
    "returns",
    "[integration]") {
  if (geteuid() != 0) {
    WARN("not root: a full disk is a small tmpfs, which only root can mount");
    return;
  }
  Daemon d;
  d.Stop();
  const std::string state = d.dir.path + "/state";
  if (mount("tmpfs", state.c_str(), "tmpfs", 0, "size=32m") != 0) {
    WARN("cannot mount a tmpfs here (" << std::strerror(errno) << "): the test is skipped");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { umount2(path.c_str(), MNT_DETACH); }
  } unmount{state};
  d.Start();
  const std::string run = d.dir.path + "/runs/full";  // on a disk with room
  const std::int64_t id = d.Submit(
      kDigits,
      {"training.epochs=400", "training.early_stopping.enabled=false", "output.dir=" + run});
  d.WaitFor(id, [&](const json&) { return LossByStep(run).size() >= 50; });
  FillDisk(state);
  // A submit is refused, saying why.
  ProcessResult refused = d.Cli({"submit", kIris, "--set", "output.dir=" + d.dir.path + "/runs/x"});
  INFO(refused.err);
  CHECK(refused.exit_code != 0);
  CHECK_THAT(refused.err, Catch::Contains("entrenard's state directory has no space left"));
  // The job trains on to its end meanwhile; its events wait in its run directory, and its end
  // waits in the supervisor (which tries to store it every poll).
  REQUIRE(entrenar::testing::WaitForPath(run + "/summary.json", 240));
  std::this_thread::sleep_for(2s);
  // Refused, the worker retried with backoff (50 ms doubling to 2 s), also while it stopped.
  const std::string log = Slurp(d.dir.path + "/daemon.err");
  std::size_t connects = 0;
  for (std::size_t at = 0; (at = log.find("worker connected", at)) != std::string::npos; ++at) {
    ++connects;
  }
  const bool deferred = log.find("the store cannot record that yet") != std::string::npos;
  std::printf("faults: the worker ended on the full disk after %zu connections; its end was %s\n",
              connects, deferred ? "deferred until space returned" : "stored at once");
  CHECK(connects < 40);
  fs::remove(state + "/filler");
  const json done = d.WaitFor(
      id, [](const json& j) { return j["state"] != "RUNNING"; }, 60);
  CHECK(done["state"] == "SUCCEEDED");
  // Every step reached the store, once.
  ProcessResult metrics = d.Cli({"metrics", std::to_string(id), "--name", "train_loss", "--json"});
  REQUIRE(metrics.exit_code == 0);
  const json series = json::parse(metrics.out)["train_loss"];
  CHECK(series["steps"].size() == LossByStep(run).size());
  CHECK(LossByStep(run).size() == 400 * 23);
  StepsOncePerAttempt(d, id);
  // Submits work again.
  CHECK(d.Cli({"submit", kIris, "--set", "output.dir=" + d.dir.path + "/runs/y"}).exit_code == 0);
  d.Stop();
  CHECK(IntegrityCheck(state + "/state.db") == "ok\n");
}

// A memory cgroup of the test's, limited to `bytes` (cgroup v2, else v1's memory controller),
// removed at scope exit. `dir` is empty, and `why_not` says why, where none can be made.
struct MemoryCgroup {
  std::string dir, why_not;
  explicit MemoryCgroup(std::int64_t bytes) {
    const std::string name = "entrenar-test-" + std::to_string(getpid());
    const bool v2 = fs::exists("/sys/fs/cgroup/cgroup.controllers");
    const std::string at = v2 ? "/sys/fs/cgroup/" + name : "/sys/fs/cgroup/memory/" + name;
    if (!v2 && !fs::exists("/sys/fs/cgroup/memory")) {
      why_not = "no cgroup v2 and no v1 memory controller";
      return;
    }
    if (mkdir(at.c_str(), 0755) != 0) {
      why_not = "cannot create " + at + ": " + std::strerror(errno);
      return;
    }
    dir = at;
    const std::string limit = v2 ? "/memory.max" : "/memory.limit_in_bytes";
    if (!(std::ofstream(dir + limit) << bytes)) why_not = "cannot write " + dir + limit;
    std::ofstream(dir + (v2 ? "/memory.swap.max" : "/memory.memsw.limit_in_bytes")) << bytes;
  }
  ~MemoryCgroup() {
    for (int i = 0; i < 100 && !dir.empty() && rmdir(dir.c_str()) != 0; ++i) {
      std::this_thread::sleep_for(50ms);  // its last process is being reaped
    }
  }
};

TEST_CASE("faults: a worker killed by the out-of-memory killer fails saying so, with what to do",
          "[integration]") {
  if (geteuid() != 0) {
    WARN("not root: a memory limit is a cgroup of the test's, which only root can make");
    return;
  }
  MemoryCgroup cgroup(768LL << 20);
  if (cgroup.dir.empty() || !cgroup.why_not.empty()) {
    WARN("no memory cgroup here (" << cgroup.why_not << "): the test is skipped");
    return;
  }
  Daemon d;
  d.Stop();
  // entrenard, and so its workers, in the cgroup: as systemd's MemoryMax= or Slurm would put it.
  d.set_launcher(
      {"/bin/sh", "-c", "echo $$ > " + cgroup.dir + "/cgroup.procs && exec \"$@\"", "sh"});
  d.Start();
  // 400M parameters: 1.6 GB of weights alone.
  const std::int64_t id = d.Submit(
      kDigits, {"model.architecture.layers=[{linear: {in_features: 64, out_features: 20000}}, "
                "{activation: relu}, {linear: {in_features: 20000, out_features: 20000}}, "
                "{linear: {in_features: 20000, out_features: 10}}]",
                "output.dir=" + d.dir.path + "/runs/big"});
  const json failed = d.WaitFor(id, [](const json& j) {
    return j["state"] != "QUEUED" && j["state"] != "STARTING" && j["state"] != "RUNNING";
  });
  CHECK(failed["state"] == "FAILED");
  CHECK_THAT(failed["reason"].get<std::string>(),
             Catch::StartsWith("the worker was killed by the out-of-memory killer: its memory "
                               "cgroup ") &&
                 Catch::Contains("is limited to 768 MiB (lower data.loader.batch_size"));
  // A small job in the same cgroup trains: the daemon itself was not the victim.
  const std::int64_t small = d.Submit(kIris, {"output.dir=" + d.dir.path + "/runs/small"});
  CHECK(d.WaitFor(small, [](const json& j) { return j["state"] == "SUCCEEDED"; })["state"] ==
        "SUCCEEDED");
  d.Stop();
}

}  // namespace
