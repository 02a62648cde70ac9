// A shared entrenard tried as a hostile local user would: uid 65534 against the real root
// daemon, beside a second user's (root's) jobs. Each test names the attack it stands for; the
// attacks that need a second user say so and are skipped when the suite does not run as root.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon_harness.h"

namespace {

using namespace entrenar::testing::daemon;

const std::string kHostile = kSource + "/tests/support/hostile_client.py";

// `entrenar submit MANIFEST --set ...` as uid 65534.
ProcessResult SubmitAsNobody(Daemon& d, const std::string& manifest,
                             const std::vector<std::string>& sets,
                             std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"submit", manifest};
  for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
  args.insert(args.end(), extra.begin(), extra.end());
  return AsNobody(d, args);
}

// A daemon that uid 65534 can reach, and a directory of runs it may write in.
std::string OpenToNobody(Daemon& d) {
  fs::permissions(d.dir.path, fs::perms::all, fs::perm_options::add);
  return OpenRunsDir(d);
}

void Write(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A file only root may read, under a directory anyone may pass through.
std::string RootSecret(Daemon& d) {
  const std::string dir = d.dir.path + "/secret";
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::others_exec | fs::perms::group_exec);
  const std::string path = dir + "/shadow";
  Write(path, "TOPSECRET-LINE-1\nTOPSECRET-LINE-2\nTOPSECRET-LINE-3\n");
  chmod(path.c_str(), 0600);
  return path;
}

// `argv` run as uid/gid 65534 with no other groups.
std::vector<std::string> Nobody(std::vector<std::string> argv) {
  argv.insert(argv.begin(),
              {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  return argv;
}

// uid 65534 opens `n` raw connections to the daemon and holds them for `seconds`; returns once
// they are open (`runs` is a directory it may write in).
std::unique_ptr<BackgroundProcess> HoldConnections(Daemon& d, const std::string& runs, int n,
                                                   int seconds) {
  const std::string ready = runs + "/ready";
  fs::remove(ready);
  auto hold = std::make_unique<BackgroundProcess>(
      Nobody({"/usr/bin/python3", kHostile, "hold", d.socket(), std::to_string(n),
              std::to_string(seconds), ready}),
      d.dir.path + "/hold.out", d.dir.path + "/hold.err");
  REQUIRE(entrenar::testing::WaitForPath(ready, 30));
  return hold;
}

// Everything a user can see of a job: show, logs, checkpoints, metrics.
std::string Visible(Daemon& d, std::int64_t id) {
  std::string out;
  for (const char* cmd : {"show", "logs", "checkpoints", "metrics"}) {
    ProcessResult r = d.Cli({cmd, std::to_string(id), "--json"});
    out += r.out + r.err;
  }
  return out;
}

TEST_CASE("security: manifests whose aliases loop or explode are refused and entrenard lives on",
          "[integration][security]") {
  Daemon d;
  const std::string dir = d.dir.path;
  Write(dir + "/loop.yaml", "entrenar: \"1.0\"\na: &a [*a]\n");
  Write(dir + "/loopmap.yaml", "entrenar: \"1.0\"\na: &a {b: *a}\n");
  std::string laughs = "entrenar: \"1.0\"\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    laughs += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) laughs += (k ? ", *l" : "*l") + std::to_string(i - 1);
    laughs += "]\n";
  }
  Write(dir + "/laughs.yaml", laughs);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"loop.yaml", "loop.yaml:2:4: error: an alias refers to a value that contains it"},
      {"loopmap.yaml", "loopmap.yaml:2:4: error: an alias refers to a value that contains it"},
      {"laughs.yaml", "values (aliases expanded)"}};
  for (const auto& [file, error] : cases) {
    ProcessResult r = d.Cli({"submit", dir + "/" + file});
    INFO(file << ": " << r.err);
    CHECK(r.exit_code == 1);  // invalid
    CHECK_THAT(r.err, Catch::Contains(error));
  }
  ProcessResult set = d.Cli({"submit", kIris, "--set", "seed=&a [*a]"});
  CHECK(set.exit_code == 1);
  CHECK_THAT(set.err, Catch::Contains("contains it"));
  // Validate needs no identity: a client that is not ours sends the loop straight to it.
  ProcessResult rpc = RunProcess(
      {"/usr/bin/python3", kHostile, "validate", d.socket(), dir + "/loop.yaml"}, "", 120);
  INFO(rpc.err);
  CHECK(rpc.exit_code == 0);
  CHECK_THAT(rpc.out, Catch::StartsWith("invalid\n2 an alias refers to a value that contains it"));
  ProcessResult big = RunProcess(
      {"/usr/bin/python3", kHostile, "validate", d.socket(), dir + "/laughs.yaml"}, "", 120);
  CHECK_THAT(big.out, Catch::Contains("values (aliases expanded)"));
  CHECK(d.Cli({"devices"}).exit_code == 0);  // still serving
}

TEST_CASE("security: a manifest that is not UTF-8 gets its line and column, not a bare error",
          "[integration][security]") {
  Daemon d;
  Write(d.dir.path + "/latin1.yaml", "entrenar: \"1.0\"\nname: caf\xe9\nversion: \"1\"\n");
  ProcessResult r = d.Cli({"submit", d.dir.path + "/latin1.yaml"});
  CHECK(r.exit_code == 1);  // invalid
  CHECK_THAT(r.err, Catch::Contains("latin1.yaml:2:10: error: the manifest is not UTF-8 text"));
  ProcessResult v =
      RunProcess({Binary("entrenar"), "validate", "--json", d.dir.path + "/latin1.yaml"});
  CHECK(v.exit_code == 1);
  CHECK(nlohmann::json::parse(v.out, nullptr, false).is_object());
  CHECK(d.Cli({"devices"}).exit_code == 0);
}

TEST_CASE("security: malformed event lines become notes, and scheduling and restarts go on",
          "[integration][security]") {
  Daemon d(2);
  const std::string run = d.dir.path + "/runs/bad";
  const std::int64_t bad = d.Submit(kDigits, With(kLongJob, "output.dir=" + run));
  d.WaitFor(bad, [](const json& j) { return j["state"] == "RUNNING"; });
  d.WaitFor(bad, [&](const json&) { return fs::exists(run + "/events.jsonl"); });
  {
    // One write(2) with O_APPEND: the worker's own lines, appended meanwhile, cannot land
    // inside these (a stream would split the long line into several writes).
    const std::string lines = std::string("{\"kind\": 5, \"step\": \"x\"}\n") +
                              "{\"kind\": \"metric\", \"step\": \"x\"}\n" +
                              "{\"kind\": \"metric\", \"values\": {\"a\": \"b\"}}\n" +
                              "{\"text\": \"caf\xe9\"}\n" + "[1, 2, 3]\n" +
                              "{\"kind\": \"state\", \"text\": 7}\n" + "{\"text\": \"" +
                              std::string(100000, 'a') + "\"}\n";
    const int fd = open((run + "/events.jsonl").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(write(fd, lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()));
    close(fd);
  }
  // Another job starts on the free slot while the bad lines are being read.
  const std::int64_t other =
      d.Submit(kIris, {"training.epochs=3", "output.dir=" + d.dir.path + "/runs/other"});
  d.WaitFor(other, [](const json& j) { return j["state"] == "SUCCEEDED"; });
  // The bad lines are notes in the job's events, saying why.
  const auto has_note = [&](const json&) {
    int notes = 0;
    for (const json& e : d.Events(bad)) {
      const std::string p = e["payload"].dump();
      if (p.find("of events.jsonl was ignored") != std::string::npos) ++notes;
    }
    return notes == 7;
  };
  d.WaitFor(bad, has_note);
  // Killed and restarted, the daemon starts (it aborted at every start) and still serves.
  d.Kill();
  d.Start();
  CHECK(d.Cli({"devices"}).exit_code == 0);
  (void)d.Cli({"cancel", std::to_string(bad), "--force"});  // unless it has ended meanwhile
  d.WaitFor(bad,
            [](const json& j) { return j["state"] == "CANCELLED" || j["state"] == "SUCCEEDED"; });
  CHECK(Slurp(d.dir.path + "/daemon.err").find("type_error") == std::string::npos);
}

TEST_CASE("security: a run directory belongs to one job", "[integration][security]") {
  Daemon d(2);
  const std::string run = d.dir.path + "/runs/shared";
  const std::int64_t first = d.Submit(kDigits, With(kLongJob, "output.dir=" + run));
  // The same explicit directory, and the same relative default from the same folder.
  ProcessResult again = d.Cli({"submit", kDigits, "--set", "output.dir=" + run});
  CHECK(again.exit_code != 0);
  CHECK_THAT(again.err,
             Catch::Contains(run + " is the run directory of job " + std::to_string(first)));
  REQUIRE(d.Cli({"cancel", std::to_string(first), "--force"}).exit_code == 0);
  d.WaitFor(first, [](const json& j) { return j["state"] == "CANCELLED"; });
  // Ended, its directory still holds its run: only `resume` continues it.
  ProcessResult after = d.Cli({"submit", kDigits, "--set", "output.dir=" + run + "/"});
  CHECK(after.exit_code != 0);
  CHECK_THAT(after.err, Catch::Contains(run + " already holds a run (job.yaml)"));
  CHECK_THAT(after.err, Catch::Contains("entrenar resume JOB"));
  // {{ timestamp }}: four jobs submitted at once get four directories.
  std::set<std::string> dirs;
  for (int i = 0; i < 4; ++i) {
    ProcessResult r = d.Cli({"submit", kIris, "--json", "--set",
                             "output.dir=" + d.dir.path + "/runs/t-{{ timestamp }}", "--set",
                             "training.epochs=1"});
    REQUIRE(r.exit_code == 0);
    dirs.insert(json::parse(r.out)["run_dir"].get<std::string>());
  }
  CHECK(dirs.size() == 4);
}

TEST_CASE("security: a huge job name is refused and `ls` keeps working for everyone",
          "[integration][security]") {
  Daemon d;
  ProcessResult r = d.Cli({"submit", kIris, "--name", std::string(100000, 'n'), "--set",
                           "output.dir=" + d.dir.path + "/runs/n"});
  CHECK(r.exit_code != 0);
  CHECK_THAT(r.err, Catch::Contains("a job's name is UTF-8 text of at most 256 bytes"));
  d.Submit(kIris, {"training.epochs=1", "output.dir=" + d.dir.path + "/runs/ok"});
  ProcessResult ls = d.Cli({"ls"});
  CHECK(ls.exit_code == 0);
  CHECK_THAT(ls.out, Catch::Contains("iris"));
}

TEST_CASE("security: priorities above the ceiling need an admin", "[integration][security]") {
  if (!CanBeNobody()) {
    WARN("not root: a second user is needed (uid 65534); skipped");
    return;
  }
  Daemon d(1, 30, {"--max-priority", "10"});
  const std::string runs = OpenToNobody(d);
  ProcessResult high =
      SubmitAsNobody(d, kIris, {"output.dir=" + runs + "/p"}, {"--priority", "2147483647"});
  CHECK(high.exit_code != 0);
  CHECK_THAT(high.err, Catch::Contains("priority 2147483647 is above 10"));
  ProcessResult ok = SubmitAsNobody(d, kIris, {"output.dir=" + runs + "/q"}, {"--priority", "10"});
  CHECK(ok.exit_code == 0);
  // The daemon's own user is an admin.
  CHECK(d.Cli({"submit", kIris, "--set", "output.dir=" + runs + "/r", "--priority", "1000"})
            .exit_code == 0);
}

TEST_CASE("security: the root daemon reads nothing of a run through its owner's symlinks",
          "[integration][security]") {
  if (!CanBeNobody()) {
    WARN("not root: a second user is needed (uid 65534); skipped");
    return;
  }
  Daemon d(2);
  const std::string runs = OpenToNobody(d);
  const std::string secret = RootSecret(d);
  // A private run of root's, in a directory nobody may enter.
  const std::string priv = d.dir.path + "/private";
  const std::string root_run = priv + "/run";
  fs::create_directories(priv);
  chmod(priv.c_str(), 0700);
  d.WaitFor(d.Submit(kIris, {"training.epochs=2", "output.dir=" + root_run}),
            [](const json& j) { return j["state"] == "SUCCEEDED"; });
  fs::create_directories(d.dir.path + "/rootonly/step-77");
  chmod((d.dir.path + "/rootonly").c_str(), 0700);
  Write(d.dir.path + "/rootonly/step-77/state.json", "{}");

  // Three runs of nobody's, each swapping a file for a symlink while it trains, then killed.
  struct Swap {
    std::string name;
    std::function<void(const std::string&)> swap;
  };
  const std::vector<Swap> swaps = {
      {"events",
       [&](const std::string& r) {
         fs::remove(r + "/logs/worker.log");
         fs::create_symlink(secret, r + "/logs/worker.log");
         fs::remove(r + "/events.jsonl");
         fs::create_symlink(secret, r + "/events.jsonl");
         fs::create_directory_symlink(d.dir.path + "/rootonly", r + "/checkpoints");
       }},
      {"rundir",
       [&](const std::string& r) {
         fs::rename(r, r + ".away");
         fs::create_directory_symlink(root_run, r);
       }},
  };
  for (const Swap& s : swaps) {
    INFO(s.name);
    const std::string run = runs + "/" + s.name;
    ProcessResult submitted = SubmitAsNobody(d, kDigits, With(kLongJob, "output.dir=" + run));
    INFO(submitted.err);
    REQUIRE(submitted.exit_code == 0);
    const std::int64_t id = std::stoll(submitted.out);
    const json job = d.WaitFor(id, [](const json& j) { return j["state"] == "RUNNING"; });
    d.WaitFor(id, [&](const json&) { return LossByStep(run).size() >= 3; });
    fs::remove_all(run + "/checkpoints");
    s.swap(run);
    kill(WorkerPid(job), SIGKILL);
    const json ended = d.WaitFor(id, [](const json& j) { return j["state"] == "FAILED"; });
    const std::string seen = Visible(d, id);
    CHECK(seen.find("TOPSECRET") == std::string::npos);
    CHECK(seen.find("step-77") == std::string::npos);
    CHECK(seen.find("test_accuracy") == std::string::npos);  // root's run's metrics
  }
  // What the daemon could not read is said in the job's events.
  ProcessResult logs = d.Cli({"logs", "2"});
  CHECK_THAT(logs.out, Catch::Contains("symbolic link"));
}

TEST_CASE("security: FIFOs and devices in a run directory block nothing",
          "[integration][security]") {
  Daemon d(1);
  const std::string run = d.dir.path + "/runs/fifo";
  const std::int64_t id = d.Submit(kDigits, With(kLongJob, "output.dir=" + run));
  const json job = d.WaitFor(id, [](const json& j) { return j["state"] == "RUNNING"; });
  d.WaitFor(id, [&](const json&) { return LossByStep(run).size() >= 3; });
  REQUIRE(mkfifo((run + "/summary.json").c_str(), 0644) == 0);
  fs::remove(run + "/events.jsonl");
  fs::create_symlink("/dev/zero", run + "/events.jsonl");
  kill(WorkerPid(job), SIGKILL);
  d.WaitFor(
      id, [](const json& j) { return j["state"] == "FAILED"; }, 30);
  // The slot is free again: the next job runs.
  const std::int64_t next =
      d.Submit(kIris, {"training.epochs=2", "output.dir=" + d.dir.path + "/runs/next"});
  d.WaitFor(next, [](const json& j) { return j["state"] == "SUCCEEDED"; });
}

TEST_CASE("security: running out of descriptors does not stop entrenard accepting",
          "[integration][security]") {
  if (!CanBeNobody()) {
    WARN("not root: a second user is needed (uid 65534); skipped");
    return;
  }
  // 48 descriptors in all, fewer than one user's connection cap (64): the process runs out.
  Daemon d(1, 30, {}, {"/usr/bin/prlimit", "--nofile=48:48"});
  const std::string runs = OpenToNobody(d);
  HoldConnections(d, runs, 100, 3)->Wait(10);  // it lets go after 3 s
  // Accepting went on once the descriptors came back.
  ProcessResult devices = d.Cli({"devices"}, 30);
  CHECK(devices.exit_code == 0);
  CHECK_THAT(Slurp(d.dir.path + "/daemon.err"), Catch::Contains("accept: Too many open files"));
  const std::int64_t id =
      d.Submit(kIris, {"training.epochs=2", "output.dir=" + d.dir.path + "/runs/after"});
  d.WaitFor(id, [](const json& j) { return j["state"] == "SUCCEEDED"; });
}

TEST_CASE("security: a user may follow only so many event streams at once",
          "[integration][security]") {
  if (!CanBeNobody()) {
    WARN("not root: a second user is needed (uid 65534); skipped");
    return;
  }
  Daemon d(1, 30, {"--max-followers-per-user", "3"});
  const std::string runs = OpenToNobody(d);
  const std::int64_t id = d.Submit(kDigits, With(kLongJob, "output.dir=" + runs + "/long"));
  d.WaitFor(id, [](const json& j) { return j["state"] == "RUNNING"; });
  ProcessResult follow =
      RunProcess({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                  "/usr/bin/python3", kHostile, "follow", d.socket(), std::to_string(id), "4"},
                 "", 120);
  INFO(follow.err);
  // Which of the four was refused depends on the order they reached the daemon.
  std::multiset<std::string> answers;
  std::istringstream lines(follow.out);
  for (std::string line; std::getline(lines, line);) answers.insert(line);
  CHECK(answers.count("OK") == 3);
  CHECK(answers.count("RESOURCE_EXHAUSTED") == 1);
  // The admin (the daemon's user) is not capped.
  CHECK(d.Cli({"logs", std::to_string(id)}).exit_code == 0);
  REQUIRE(d.Cli({"cancel", std::to_string(id), "--force"}).exit_code == 0);
}

TEST_CASE("security: a user's connections past the cap are closed, others still connect",
          "[integration][security]") {
  if (!CanBeNobody()) {
    WARN("not root: a second user is needed (uid 65534); skipped");
    return;
  }
  Daemon d(1, 30, {"--max-connections-per-user", "8"});
  const std::string runs = OpenToNobody(d);
  std::unique_ptr<BackgroundProcess> hold = HoldConnections(d, runs, 50, 20);
  // uid 65534 holds its eight: its next call is refused; root's are not.
  ProcessResult theirs = AsNobody(d, {"devices"});
  CHECK(theirs.exit_code != 0);
  CHECK(d.Cli({"devices"}).exit_code == 0);
  hold->Signal(SIGKILL);
  hold->Wait(10);
  const auto again = std::chrono::steady_clock::now() + 30s;
  while (AsNobody(d, {"devices"}).exit_code != 0 && std::chrono::steady_clock::now() < again) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(AsNobody(d, {"devices"}).exit_code == 0);
}

}  // namespace
