// The real entrenard on a temporary socket and state directory, driven by the real `entrenar`
// client, running real workers.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon_harness.h"

namespace {

using namespace entrenar::testing::daemon;

// A queue reason without the estimate of its start, which it gets once the jobs it waits for
// have reported their pace (tested on its own: "the first waiting job gets an estimate ...").
std::string WithoutEstimate(const json& reason) {
  const std::string text = reason.get<std::string>();
  return text.substr(0, text.find("; expected to start "));
}

TEST_CASE("daemon: a submitted job runs to SUCCEEDED with the metrics of entrenar train",
          "[integration]") {
  Daemon d;
  const std::string run = d.dir.path + "/runs/a";
  ProcessResult r = d.Cli(
      {"submit", kDigits, "--set", "training.epochs=3", "--set", "output.dir=" + run, "--follow"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // Why it ended, from the run's summary.json.
  CHECK(r.out.find("state: SUCCEEDED (finished: the budget of 3 epochs (69 steps) was reached)") !=
        std::string::npos);
  CHECK(r.out.find("test at step 69:") != std::string::npos);
  // The same manifest trained here, with no daemon, gives the same losses bit for bit.
  ProcessResult local = RunProcess({Binary("entrenar"), "train", kDigits, "--set",
                                    "training.epochs=3", "--output", d.dir.path + "/local"});
  REQUIRE(local.exit_code == 0);
  const auto reference = LossByStep(d.dir.path + "/local");
  REQUIRE(reference.size() == 69);
  CHECK(LossByStep(run) == reference);
  CHECK(json::parse(Slurp(run + "/summary.json"))["test"] ==
        json::parse(Slurp(d.dir.path + "/local/summary.json"))["test"]);
  // Every event is stored once, numbered without gaps; one metric event per step.
  const std::vector<json> events = d.Events(1);
  std::int64_t metrics = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i]["seq"].get<std::int64_t>() == static_cast<std::int64_t>(i + 1));
    if (events[i]["kind"] == "metric") ++metrics;
  }
  CHECK(metrics == 69);
  const json job = d.Show(1);
  CHECK(job["state"] == "SUCCEEDED");
  CHECK(job["attempts"] == 1);
  // The state directory (manifests, workers' secrets) is the daemon's alone.
  CHECK(fs::status(d.dir.path + "/state").permissions() == fs::perms::owner_all);
  CHECK(job["run_dir"] == run);
  // Replay from a sequence number.
  ProcessResult tail = d.Cli({"logs", "1", "--since", std::to_string(events.size() - 1)});
  CHECK(tail.out == "state: SUCCEEDED (finished: the budget of 3 epochs (69 steps) was reached)\n");
  // GetMetrics: the train loss series is the run's metrics.jsonl, step by step.
  ProcessResult metrics_out = d.Cli({"metrics", "1", "--name", "train_loss", "--json"});
  REQUIRE(metrics_out.exit_code == 0);
  const json series = json::parse(metrics_out.out);
  REQUIRE(series.size() == 1);
  REQUIRE(series["train_loss"]["steps"].size() == 69);
  for (std::size_t i = 0; i < 69; ++i) {
    const std::int64_t step = series["train_loss"]["steps"][i];
    CHECK(series["train_loss"]["values"][i].get<double>() == reference.at(step));
  }
  CHECK(d.Cli({"metrics", "1"}).out.find("test_accuracy") != std::string::npos);
  // ListCheckpoints: the run's checkpoint directories.
  const json checkpoints = json::parse(d.Cli({"checkpoints", "1", "--json"}).out);
  REQUIRE(!checkpoints.empty());
  for (const json& cp : checkpoints) {
    CHECK(fs::exists(cp["path"].get<std::string>() + "/state.json"));
    CHECK(cp["path"] == run + "/checkpoints/step-" + std::to_string(cp["step"].get<int>()));
  }
  CHECK(checkpoints.back()["step"] == 69);
  // Filtering the list by user.
  CHECK(json::parse(d.Cli({"ls", "--user", "root", "--json"}).out).size() ==
        (getuid() == 0 ? 1u : 0u));
  CHECK(json::parse(d.Cli({"ls", "--user", std::to_string(getuid()), "--json"}).out).size() == 1);
  ProcessResult nobody = d.Cli({"ls", "--user", "no_such_user_here"});
  CHECK(nobody.exit_code == 1);
  CHECK(nobody.err.find("no user `no_such_user_here`") != std::string::npos);
  // A step budget given to submit replaces the file's epochs, with a note.
  ProcessResult steps = d.Cli({"submit", kDigits, "--set", "training.max_steps=5", "--set",
                               "output.dir=" + d.dir.path + "/runs/steps", "--follow"});
  INFO(steps.err);
  CHECK(steps.exit_code == 0);
  CHECK(steps.err.find("digits.yaml:46:3: note: training.epochs: replaced by --set "
                       "training.max_steps=5") != std::string::npos);
  CHECK(steps.out.find("state: SUCCEEDED (finished: the budget of 5 steps was reached)") !=
        std::string::npos);
}

TEST_CASE("daemon: cancel stops a job after a checkpoint and resume finishes it exactly",
          "[integration]") {
  Daemon d;
  const std::string run = d.dir.path + "/runs/c";
  const std::vector<std::string> sets = {"training.epochs=300", "training.checkpoint.save_every=25",
                                         "training.checkpoint.keep_last=1000",
                                         "training.early_stopping.enabled=false"};
  std::vector<std::string> with_dir = sets;
  with_dir.push_back("output.dir=" + run);
  const std::int64_t id = d.Submit(kDigits, with_dir);
  d.WaitFor(id, [&](const json&) { return LossByStep(run).size() >= 30; });
  ProcessResult cancel = d.Cli({"cancel", std::to_string(id)});
  INFO(cancel.err);
  CHECK(cancel.exit_code == 0);
  const json cancelled = d.WaitFor(id, [](const json& j) { return j["state"] == "CANCELLED"; });
  CHECK(cancelled["reason"].get<std::string>().find("cancelled; last checkpoint step-") == 0);
  CHECK(LossByStep(run).size() < 6900);  // it stopped early
  CHECK(json::parse(Slurp(run + "/summary.json"))["stopped"] == true);

  // Only this job's own checkpoints, by name.
  ProcessResult missing = d.Cli({"resume", std::to_string(id), "--from", "step-99999"});
  CHECK(missing.exit_code == 7);
  CHECK(missing.err.find("has no checkpoint `step-99999`") != std::string::npos);
  CHECK(d.Cli({"resume", std::to_string(id), "--from", "../../etc"}).exit_code == 7);
  // From the first checkpoint rather than the last: the steps after it are trained again.
  REQUIRE(fs::exists(run + "/checkpoints/step-25"));
  ProcessResult resumed = d.Cli({"resume", std::to_string(id), "--from", "step-25", "--follow"});
  INFO(resumed.err);
  CHECK(resumed.exit_code == 0);
  const json done = d.Show(id);
  CHECK(done["state"] == "SUCCEEDED");
  CHECK(done["attempts"] == 2);
  // The same losses, step for step, as a run never interrupted.
  std::vector<std::string> local = {Binary("entrenar"), "train", kDigits, "--output",
                                    d.dir.path + "/local"};
  for (const std::string& s : sets) local.insert(local.end(), {"--set", s});
  REQUIRE(RunProcess(local, "", 300).exit_code == 0);
  const auto reference = LossByStep(d.dir.path + "/local");
  REQUIRE(reference.size() == 6900);
  CHECK(LossByStep(run) == reference);
  // `entrenar metrics` shows each step once, though steps 26 to the cancel were trained twice.
  ProcessResult metrics = d.Cli({"metrics", std::to_string(id), "--name", "train_loss", "--json"});
  REQUIRE(metrics.exit_code == 0);
  const json series = json::parse(metrics.out)["train_loss"];
  const auto steps = series["steps"].get<std::vector<std::int64_t>>();
  const auto values = series["values"].get<std::vector<double>>();
  REQUIRE(steps.size() == 6900);
  for (std::size_t i = 0; i < steps.size(); ++i) {
    CHECK(steps[i] == static_cast<std::int64_t>(i + 1));
    CHECK(values[i] == reference.at(steps[i]));
  }
  // A finished job cannot be resumed.
  CHECK(d.Cli({"resume", std::to_string(id)}).exit_code == 7);
}

TEST_CASE("daemon: a worker killed with SIGKILL fails its job with the signal", "[integration]") {
  Daemon d;
  const std::int64_t id =
      d.Submit(kDigits, {"training.epochs=400", "training.early_stopping.enabled=false",
                         "output.dir=" + d.dir.path + "/runs/k"});
  const json running = d.WaitFor(id, [](const json& j) { return j["state"] == "RUNNING"; });
  const std::string reason = running["reason"];  // "pid N"
  REQUIRE(reason.rfind("pid ", 0) == 0);
  REQUIRE(kill(std::stoi(reason.substr(4)), SIGKILL) == 0);
  const json failed = d.WaitFor(id, [](const json& j) { return j["state"] == "FAILED"; });
  CHECK(failed["reason"].get<std::string>().find("killed by signal 9") != std::string::npos);
  // The slot is free again: the next job runs.
  ProcessResult next = d.Cli({"submit", kSource + "/examples/iris.yaml", "--set",
                              "output.dir=" + d.dir.path + "/runs/next", "--follow"});
  CHECK(next.exit_code == 0);
}

TEST_CASE(
    "daemon: a data-parallel job holds a slot per rank, and a lost rank requeues it to "
    "resume exactly",
    "[integration]") {
  Daemon d;
  const std::vector<std::string> sets = {"training.distributed.world_size=2",
                                         "data.loader.batch_size=16",
                                         "training.epochs=null",
                                         "training.max_steps=1500",
                                         "training.checkpoint.save_every=50",
                                         "training.early_stopping.enabled=false"};
  // The reference: the same two ranks trained here, with no daemon.
  std::vector<std::string> local = {Binary("entrenar"), "train", kDigits, "--output",
                                    d.dir.path + "/local"};
  for (const std::string& s : sets) local.insert(local.end(), {"--set", s});
  ProcessResult here = RunProcess(local, "", 240);
  INFO(here.err);
  REQUIRE(here.exit_code == 0);
  const auto reference = LossByStep(d.dir.path + "/local");
  REQUIRE(reference.size() == 1500);

  const std::string run = d.dir.path + "/runs/ddp";
  std::vector<std::string> with = sets;
  with.push_back("output.dir=" + run);
  const std::int64_t id = d.Submit(kDigits, with);
  const json running = d.WaitFor(id, [](const json& j) { return j["state"] == "RUNNING"; });
  CHECK(running["devices"] == 2);  // both CPU slots: a second job waits
  // Rank 1 dies after a checkpoint: rank 0 finds its peer gone, the job is INTERRUPTED and
  // queued again, and resumes from the newest checkpoint.
  d.WaitFor(
      id, [&](const json&) { return LossByStep(run).size() >= 120; }, 120);
  const std::string reason = running["reason"];  // "pid N"
  const std::vector<int> ranks = entrenar::testing::ChildrenOf(std::stoi(reason.substr(4)));
  REQUIRE(ranks.size() == 2);
  REQUIRE(kill(ranks[1], SIGKILL) == 0);
  const json done = d.WaitFor(
      id, [](const json& j) { return j["state"] == "SUCCEEDED" || j["state"] == "FAILED"; }, 240);
  INFO(done.dump());
  REQUIRE(done["state"] == "SUCCEEDED");
  CHECK(done["attempts"] == 2);
  bool interrupted = false;
  for (const json& e : d.Events(id)) {
    if (e["kind"] == "state" && e["payload"]["state"] == "INTERRUPTED" &&
        e.dump().find("a rank of the data-parallel run was lost") != std::string::npos)
      interrupted = true;
  }
  CHECK(interrupted);
  // Every step once, each with the loss of the uninterrupted run, bit for bit.
  CHECK(LossByStep(run) == reference);
}

TEST_CASE("daemon: queued jobs start by priority, then in order of submission", "[integration]") {
  Daemon d(1);
  const std::string iris = kSource + "/examples/iris.yaml";
  auto out = [&](const char* name) { return "output.dir=" + d.dir.path + "/runs/" + name; };
  const std::int64_t blocker = d.Submit(
      kDigits, {"training.epochs=5000", "training.early_stopping.enabled=false", out("a")});
  d.WaitFor(blocker, [](const json& j) { return j["state"] == "RUNNING"; });
  const std::int64_t b = d.Submit(iris, {out("b")});
  const std::int64_t c = d.Submit(iris, {out("c")}, {"--priority", "5"});
  const std::int64_t e = d.Submit(iris, {out("e")});
  ProcessResult queue = d.Cli({"queue", "--json"});
  REQUIRE(queue.exit_code == 0);
  const json q = json::parse(queue.out);
  REQUIRE(q.size() == 3);
  CHECK(q[0]["job_id"] == c);
  CHECK(q[1]["job_id"] == b);
  CHECK(q[2]["job_id"] == e);
  CHECK(q[2]["position"] == 3);
  REQUIRE(d.Cli({"cancel", std::to_string(blocker), "--force"}).exit_code == 0);
  for (std::int64_t id : {b, c, e}) {
    d.WaitFor(id, [](const json& j) { return j["state"] == "SUCCEEDED"; });
  }
  // One slot: each started only after the one before it in the queue had ended (a job that
  // jumped the queue would start before the other's end, which comes after its own start).
  auto when = [&](std::int64_t id, const char* state) {
    for (const json& ev : d.Events(id)) {
      if (ev["kind"] == "state" && ev["payload"]["state"] == state) return ev["time"];
    }
    return json();
  };
  REQUIRE(when(c, "SUCCEEDED").is_string());
  REQUIRE(when(b, "STARTING").is_string());
  REQUIRE(when(e, "STARTING").is_string());
  CHECK(when(c, "SUCCEEDED").get<std::string>() <= when(b, "STARTING").get<std::string>());
  CHECK(when(b, "SUCCEEDED").get<std::string>() <= when(e, "STARTING").get<std::string>());
}

TEST_CASE("daemon: the first waiting job gets an estimate of its start from the running job's pace",
          "[integration]") {
  Daemon d(1);
  const std::string run = d.dir.path + "/runs/a";
  const std::int64_t blocker = d.Submit(kDigits, {"training.epochs=200", "output.dir=" + run,
                                                  "training.early_stopping.enabled=false"});
  d.WaitFor(blocker, [&](const json&) { return LossByStep(run).size() >= 100; });
  const std::int64_t next = d.Submit(kIris, {"output.dir=" + d.dir.path + "/runs/b"});
  json q;
  for (int i = 0; i < 500; ++i) {
    q = json::parse(d.Cli({"queue", "--json"}).out);
    if (q.size() == 1 && q[0].contains("starts_in_seconds")) break;
    std::this_thread::sleep_for(20ms);
  }
  REQUIRE(q.size() == 1);
  REQUIRE(q[0].contains("starts_in_seconds"));
  const auto asked = std::chrono::steady_clock::now();
  const double estimate = q[0]["starts_in_seconds"];
  CHECK(q[0]["reason"].get<std::string>().find("until it ends; expected to start in about ") !=
        std::string::npos);
  CHECK(d.Cli({"show", std::to_string(next)})
            .out.find("queue:     position 1 of the CPU queue: needs 1 CPU slot; 0 of 1 free") !=
        std::string::npos);
  d.WaitFor(
      next, [](const json& j) { return j["state"] != "QUEUED"; }, 300);
  // It is an estimate (the blocker's steps to come at its pace so far, its final evaluation
  // not counted), but of the right size.
  const double actual =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
  INFO("estimated " << estimate << " s, started after " << actual << " s");
  CHECK(actual >= estimate / 3 - 1);
  CHECK(actual <= estimate * 3 + 5);
  CHECK(d.Show(blocker)["state"] == "SUCCEEDED");  // it ran to its end meanwhile
}

TEST_CASE("daemon: killed mid-run and restarted, it re-adopts the job and loses no step",
          "[integration]") {
  Daemon d;
  const std::string run = d.dir.path + "/runs/r";
  const std::int64_t id = d.Submit(
      kDigits,
      {"training.epochs=150", "training.early_stopping.enabled=false", "output.dir=" + run});
  // A follower that is there before, through and after the restart.
  BackgroundProcess follower({Binary("entrenar"), "logs", std::to_string(id), "--follow", "--json",
                              "--socket", d.socket()},
                             d.dir.path + "/follower.out", d.dir.path + "/follower.err");
  d.WaitFor(id, [&](const json&) { return LossByStep(run).size() >= 50; });
  d.Kill();
  std::this_thread::sleep_for(200ms);
  d.Start();
  ProcessResult follow = d.Cli({"logs", std::to_string(id), "--follow"});
  CHECK(follow.exit_code == 0);
  CHECK(follower.Wait(60) == 0);
  std::istringstream followed(Slurp(d.dir.path + "/follower.out"));
  std::int64_t expect_seq = 1, followed_metrics = 0;
  for (std::string line; std::getline(followed, line);) {
    const json ev = json::parse(line);
    CHECK(ev["seq"] == expect_seq++);  // every event once, in order, across the restart
    if (ev["kind"] == "metric") ++followed_metrics;
  }
  CHECK(followed_metrics == 3450);
  CHECK(Slurp(d.dir.path + "/follower.err").find("entrenard went away; reconnecting") !=
        std::string::npos);
  CHECK(d.Show(id)["state"] == "SUCCEEDED");
  std::set<std::int64_t> steps;
  std::int64_t metric_events = 0;
  for (const json& ev : d.Events(id)) {
    if (ev["kind"] != "metric") continue;
    ++metric_events;
    steps.insert(ev["step"].get<std::int64_t>());
  }
  CHECK(metric_events == 3450);  // 150 epochs x 23 steps, each once
  CHECK(steps.size() == 3450);
  // The worker (or, had it finished meanwhile, its resumed successor) reconnected to the new
  // daemon's WorkerService and went on from what the store already had.
  const std::string log = Slurp(d.dir.path + "/daemon.err");
  const std::string connected = "job " + std::to_string(id) + ": worker connected (";
  const std::size_t at = log.find(connected);
  REQUIRE(at != std::string::npos);
  CHECK(log[at + connected.size()] != '0');
}

TEST_CASE("daemon: bad requests are refused with the reason and the daemon keeps serving",
          "[integration]") {
  Daemon d;
  // Bytes that are not HTTP/2 at all.
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, d.socket().c_str(), sizeof(addr.sun_path) - 1);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  const std::string junk(4096, '\x17');
  CHECK(write(fd, junk.data(), junk.size()) > 0);
  close(fd);
  // An invalid manifest: its diagnostics, exit 1.
  std::ofstream(d.dir.path + "/bad.yaml") << "entrenar: \"1.0\"\nname: x\nversion: \"1\"\n"
                                             "optimizer: {name: adamw, lrr: 0.1}\n";
  ProcessResult bad = d.Cli({"submit", d.dir.path + "/bad.yaml"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("bad.yaml:4:") != std::string::npos);
  CHECK(bad.err.find("did you mean `lr`?") != std::string::npos);
  // Too large.
  std::ofstream(d.dir.path + "/big.yaml") << "name: x\n# " << std::string(2 << 20, 'x') << "\n";
  ProcessResult big = d.Cli({"submit", d.dir.path + "/big.yaml"});
  CHECK(big.exit_code == 1);
  CHECK(big.err.find("larger than") != std::string::npos);
  // Impossible: more devices than the server has.
  ProcessResult wide = d.Cli({"submit", kDigits, "--devices", "5"});
  CHECK(wide.exit_code == 7);
  CHECK(wide.err.find("the job needs 5 CPU slot(s) but this server has 2; it could never start") !=
        std::string::npos);
  // A GPU on a server without one.
  ProcessResult gpu = d.Cli({"submit", kDigits, "--set", "model.device=cuda"});
  CHECK(gpu.exit_code == 7);
  CHECK(gpu.err.find("model.device is `cuda` but this server has no GPU") != std::string::npos);
  CHECK(d.Cli({"cancel", "999"}).exit_code == 7);
  CHECK(d.Cli({"show", "999"}).err.find("no job 999") != std::string::npos);
  // Valid but beyond the engine: refused at Submit with the engine's own words (exit 3, as
  // `entrenar train` exits), never queued to fail once a slot is free.
  ProcessResult deep =
      d.Cli({"submit", kDigits, "--set", "training.distributed={strategy: deepspeed}"});
  CHECK(deep.exit_code == 3);
  CHECK(deep.err.find("--set training.distributed={strategy: deepspeed}: error: "
                      "training.distributed.strategy: not supported yet: "
                      "training.distributed.strategy: deepspeed (a Python library)") !=
        std::string::npos);
  CHECK(deep.err.find("hint: use ddp, which entrenar runs itself over c10d") != std::string::npos);
  ProcessResult none = d.Cli({"ls", "--json"});
  REQUIRE(none.exit_code == 0);
  CHECK(json::parse(none.out).empty());
  // Still serving.
  CHECK(d.Cli({"devices"}).exit_code == 0);
  CHECK(d.Cli({"ls"}).exit_code == 0);
}

TEST_CASE("daemon: only a job's owner or an admin may cancel or resume it", "[integration]") {
  // Another user needs root to become (util-linux's setpriv); as anyone else, the owner's side.
  Daemon d(1);
  const std::int64_t id =
      d.Submit(kDigits, {"training.epochs=5000", "training.early_stopping.enabled=false",
                         "output.dir=" + d.dir.path + "/runs/o"});
  d.WaitFor(id, [](const json& j) { return j["state"] == "RUNNING"; });
  if (getuid() == 0 && fs::exists("/usr/bin/setpriv")) {
    fs::permissions(d.dir.path, fs::perms::all, fs::perm_options::add);
    auto as_nobody = [&](const std::string& socket, std::vector<std::string> args) {
      args.insert(args.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                 "--clear-groups", Binary("entrenar")});
      args.insert(args.end(), {"--socket", socket});
      return RunProcess(args, "", 60);
    };
    ProcessResult denied = as_nobody(d.socket(), {"cancel", std::to_string(id)});
    CHECK(denied.exit_code == 7);
    CHECK(denied.err.find("belongs to root; only its owner or an admin may change it") !=
          std::string::npos);
    CHECK(as_nobody(d.socket(), {"resume", std::to_string(id)}).exit_code == 7);
    // Reading is for everyone.
    CHECK(as_nobody(d.socket(), {"show", std::to_string(id)}).exit_code == 0);
    CHECK(d.Show(id)["state"] == "RUNNING");
    // Made an admin, the same user may (the restarted daemon adopts the running worker).
    d.Stop();
    d.Start(1, 30, {"--admin", "65534"});
    CHECK(d.Show(id)["state"] == "RUNNING");
    ProcessResult allowed = as_nobody(d.socket(), {"cancel", std::to_string(id)});
    INFO(allowed.err);
    CHECK(allowed.exit_code == 0);
  } else {
    WARN("not root: the other-user half of this test needs root and setpriv");
    CHECK(d.Cli({"cancel", std::to_string(id)}).exit_code == 0);
  }
  const json cancelled = d.WaitFor(id, [](const json& j) { return j["state"] == "CANCELLED"; });
  CHECK(cancelled["reason"].get<std::string>().find("cancelled") == 0);
}

TEST_CASE("daemon: a Python client built from the proto submits and follows a job",
          "[integration]") {
  Daemon d;
  ProcessResult r = RunProcess(
      {"/usr/bin/python3", kSource + "/examples/python_client.py", kSource + "/examples/iris.yaml",
       "--set", "output.dir=" + d.dir.path + "/runs/py", "--socket", d.socket()},
      "", 120);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("job 1: " + d.dir.path + "/runs/py\n") == 0);
  CHECK(r.out.find("  state RUNNING pid ") != std::string::npos);
  CHECK(r.out.find("final state SUCCEEDED\n") != std::string::npos);
  // The metrics it printed are the run's own.
  const json summary = json::parse(Slurp(d.dir.path + "/runs/py/summary.json"));
  char line[64];
  std::snprintf(line, sizeof(line), "  test_accuracy %.4f\n",
                summary["test"]["test_accuracy"].get<double>());
  CHECK(r.out.find(line) != std::string::npos);
  CHECK(d.Show(1)["state"] == "SUCCEEDED");
}

TEST_CASE("daemon: among equal priorities, the user with fewer running jobs starts first",
          "[integration]") {
  Daemon d(2);
  auto out = [&](const char* name) { return "output.dir=" + d.dir.path + "/runs/" + name; };
  const std::vector<std::string> long_job = {"training.epochs=5000",
                                             "training.early_stopping.enabled=false"};
  auto with = [](std::vector<std::string> v, const std::string& extra) {
    v.push_back(extra);
    return v;
  };
  const std::int64_t a1 = d.Submit(kDigits, with(long_job, out("a1")));
  const std::int64_t a2 = d.Submit(kDigits, with(long_job, out("a2")));
  d.WaitFor(a2, [](const json& j) { return j["state"] == "RUNNING"; });
  const std::string iris = kSource + "/examples/iris.yaml";
  const std::int64_t mine = d.Submit(iris, {out("mine")});
  std::int64_t theirs = 0;
  if (getuid() == 0 && fs::exists("/usr/bin/setpriv")) {
    fs::permissions(d.dir.path, fs::perms::all, fs::perm_options::add);  // reach the socket
    OpenRunsDir(d);  // the worker runs as that user
    ProcessResult r = RunProcess({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                  "--clear-groups", Binary("entrenar"), "submit", iris, "--set",
                                  out("theirs"), "--socket", d.socket()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    theirs = std::stoll(r.out);
  } else {
    WARN("not root: fair share between two users needs root and setpriv to be a second user");
  }
  // One slot frees: root has a job running, the other user none.
  REQUIRE(d.Cli({"cancel", std::to_string(a1), "--force"}).exit_code == 0);
  if (theirs) {
    d.WaitFor(theirs, [](const json& j) { return j["state"] != "QUEUED"; });
    CHECK(d.Show(mine)["state"] == "QUEUED");  // older, but its owner already has a job running
  }
  REQUIRE(d.Cli({"cancel", std::to_string(a2), "--force"}).exit_code == 0);
  d.WaitFor(mine, [](const json& j) { return j["state"] == "SUCCEEDED"; });
  if (theirs) d.WaitFor(theirs, [](const json& j) { return j["state"] == "SUCCEEDED"; });
}

TEST_CASE("daemon: gRPC health checking and server reflection answer", "[integration]") {
  Daemon d;
  // Raw calls from Python's grpc (no stubs): Health/Check with an empty request, and
  // ServerReflectionInfo with list_services (field 7, empty).
  const std::string script =
      "import grpc, sys\n"
      "ch = grpc.insecure_channel('unix:' + sys.argv[1])\n"
      "check = ch.unary_unary('/grpc.health.v1.Health/Check', lambda b: b, lambda b: b)\n"
      "print(check(b'', timeout=10).hex())\n"
      "info = ch.stream_stream('/grpc.reflection.v1alpha.ServerReflection/"
      "ServerReflectionInfo', lambda b: b, lambda b: b)\n"
      "for reply in info(iter([b'\\x3a\\x00']), timeout=10):\n"
      "    print(b'entrenar.v1.JobService' in reply)\n";
  ProcessResult r = RunProcess({"/usr/bin/python3", "-c", script, d.socket()}, "", 60);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "0801\nTrue\n");  // status: SERVING (1); the service is listed
}

TEST_CASE("daemon: GPUs found through NVML go to jobs through CUDA_VISIBLE_DEVICES",
          "[integration]") {
  // The fake NVML library reports two 16 GiB GPUs; jobs train on the CPU (LibTorch here has no
  // CUDA) but are scheduled, and see their devices, as on a GPU server.
  Daemon d(1, 30, {"--nvml-library", ENTRENAR_FAKE_NVML});
  ProcessResult devices = d.Cli({"devices", "--json"});
  REQUIRE(devices.exit_code == 0);
  const json status = json::parse(devices.out);
  REQUIRE(status["devices"].size() == 3);
  CHECK(status["devices"][1]["name"] == "cuda:1");
  CHECK(status["devices"][1]["model"] == "Fake NVML GPU 1");
  CHECK(status["devices"][1]["memory_bytes"] == 16LL << 30);
  CHECK(status["devices"][2]["name"] == "cpu:0");
  CHECK(status["note"] == "2 GPU(s) found by NVML");
  CHECK(d.Cli({"devices"}).out.find("cuda:0  free  Fake NVML GPU 0, 16.0 GiB") !=
        std::string::npos);

  // model.device auto on a GPU server: GPUs. Two of them.
  const std::int64_t both =
      d.Submit(kDigits, With(kLongJob, "output.dir=" + d.dir.path + "/r1"), {"--devices", "2"});
  json job = d.WaitFor(both, [](const json& j) { return j["state"] == "RUNNING"; });
  CHECK(job["device_kind"] == "gpu");
  CHECK(job["assigned"] == "cuda:0,cuda:1");
  std::map<std::string, std::string> env = EnvironOf(WorkerPid(job));
  CHECK(env["CUDA_VISIBLE_DEVICES"] == "0,1");
  CHECK(env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID");
  // model.device cpu: the CPU slot, with no GPU visible.
  const std::int64_t cpu = d.Submit(
      kDigits, With(With(kLongJob, "output.dir=" + d.dir.path + "/r2"), "model.device=cpu"));
  job = d.WaitFor(cpu, [](const json& j) { return j["state"] == "RUNNING"; });
  CHECK(job["assigned"] == "cpu:0");
  CHECK(EnvironOf(WorkerPid(job))["CUDA_VISIBLE_DEVICES"].empty());
  // Everything is busy: the queue says who waits for what.
  const std::int64_t gpu_waits = d.Submit(kIris, {"output.dir=" + d.dir.path + "/r3"});
  const std::int64_t cpu_waits =
      d.Submit(kIris, {"output.dir=" + d.dir.path + "/r4", "model.device=cpu"});
  const std::int64_t behind = d.Submit(kIris, {"output.dir=" + d.dir.path + "/r5"});
  ProcessResult queue = d.Cli({"queue", "--json"});
  REQUIRE(queue.exit_code == 0);
  const json waiting = json::parse(queue.out);
  REQUIRE(waiting.size() == 3);
  CHECK(waiting[0]["job_id"] == gpu_waits);
  CHECK(waiting[0]["kind"] == "gpu");
  CHECK(waiting[0]["position"] == 1);
  // The first waiting job of each kind names who holds what it needs.
  const std::string owner = job["user"];
  const auto holds = [&](std::int64_t id, int n) {
    return "; job " + std::to_string(id) + " (" + owner + ", priority 0) holds " +
           std::to_string(n) + " until it ends";
  };
  CHECK(WithoutEstimate(waiting[0]["reason"]) == "needs 1 GPU; 0 of 2 free" + holds(both, 2));
  CHECK(waiting[1]["job_id"] == cpu_waits);
  CHECK(WithoutEstimate(waiting[1]["reason"]) == "needs 1 CPU slot; 0 of 1 free" + holds(cpu, 1));
  CHECK(waiting[2]["job_id"] == behind);
  CHECK(waiting[2]["position"] == 2);
  CHECK(WithoutEstimate(waiting[2]["reason"]) == "behind 1 job(s); the first, job " +
                                                     std::to_string(gpu_waits) +
                                                     ", needs 1 GPU; 0 of 2 free" + holds(both, 2));
  CHECK(d.Cli({"queue"}).out.find("needs 1 GPU; 0 of 2 free") != std::string::npos);
  // More GPUs than the server has, or a device the job does not ask for: refused at submit.
  ProcessResult wide = d.Cli({"submit", kIris, "--devices", "3"});
  CHECK(wide.exit_code == 7);
  CHECK(wide.err.find("the job needs 3 GPU(s) but this server has 2") != std::string::npos);
  ProcessResult ordinal = d.Cli({"submit", kIris, "--set", "model.device=cuda:1"});
  CHECK(ordinal.err.find("submit with --devices 2 or use `cuda`") != std::string::npos);
  // The freed GPUs go to the next GPU jobs.
  REQUIRE(d.Cli({"cancel", std::to_string(both), "--force"}).exit_code == 0);
  job = d.WaitFor(gpu_waits, [](const json& j) { return j["state"] == "SUCCEEDED"; });
  CHECK(job["assigned"].get<std::string>().empty());  // cleared when it ended
  d.WaitFor(behind, [](const json& j) { return j["state"] == "SUCCEEDED"; });
  REQUIRE(d.Cli({"cancel", std::to_string(cpu), "--force"}).exit_code == 0);
  d.WaitFor(cpu_waits, [](const json& j) { return j["state"] == "SUCCEEDED"; });
}

TEST_CASE("daemon: a job that needs GPU memory waits for a GPU NVML says has it free",
          "[integration]") {
  // Fake GPUs of 16 GiB: cuda:0 has 6000 MiB used (10.1 GiB free), cuda:1 12000 MiB (4.3 GiB).
  Daemon d(1, 30, {"--nvml-library", ENTRENAR_FAKE_NVML},
           {"/usr/bin/env", "FAKE_NVML_USED_MIB=6000"});
  // More than any GPU of the server has: refused at once.
  ProcessResult huge = d.Cli({"submit", kIris, "--gpu-memory", "20GiB"});
  CHECK(huge.exit_code == 7);
  CHECK(huge.err.find("the job needs 20.0 GiB of GPU memory but this server's largest GPU has "
                      "16.0 GiB; it could never start") != std::string::npos);
  ProcessResult bad = d.Cli({"submit", kIris, "--gpu-memory", "lots"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--gpu-memory: expected a size such as 24GiB or 24000MiB, got `lots`") !=
        std::string::npos);
  ProcessResult cpu = d.Cli({"submit", kIris, "--gpu-memory", "1GiB", "--set", "model.device=cpu"});
  CHECK(cpu.exit_code == 7);
  CHECK(cpu.err.find("--gpu-memory is for jobs on GPUs") != std::string::npos);
  // cuda:0 taken; cuda:1 is free but has 4.3 GiB: an 8 GiB job waits, saying so.
  const std::int64_t holder =
      d.Submit(kDigits, With(kLongJob, "output.dir=" + d.dir.path + "/h"), {"--devices", "cuda:0"});
  d.WaitFor(holder, [](const json& j) { return j["state"] == "RUNNING"; });
  const std::int64_t big =
      d.Submit(kIris, {"output.dir=" + d.dir.path + "/big"}, {"--gpu-memory", "8GiB"});
  CHECK(d.Show(big)["gpu_memory_bytes"] == 8LL << 30);
  CHECK(
      d.Cli({"show", std::to_string(big)}).out.find("devices:   1 GPU, each with 8.0 GiB free\n") !=
      std::string::npos);
  std::this_thread::sleep_for(300ms);  // several scheduling passes
  CHECK(d.Show(big)["state"] == "QUEUED");
  const json queue = json::parse(d.Cli({"queue", "--json"}).out);
  REQUIRE(queue.size() == 1);
  CHECK(queue[0]["reason"].get<std::string>().rfind(
            "needs 1 GPU with 8.0 GiB free; 1 of 2 free, with at most 4.3 GiB free (NVML); job " +
                std::to_string(holder),
            0) == 0);
  // Once cuda:0 is free (10.1 GiB), the big job runs there.
  REQUIRE(d.Cli({"cancel", std::to_string(holder), "--force"}).exit_code == 0);
  d.WaitFor(big, [](const json& j) { return j["state"] == "SUCCEEDED"; });
  std::string started_on;
  for (const json& e : d.Events(big)) {
    if (e["kind"] == "state" && e["payload"]["state"] == "STARTING") {
      started_on = e["payload"]["reason"];
    }
  }
  CHECK(started_on == "on cuda:0");
}

TEST_CASE("daemon: a job submitted for named devices runs on exactly those", "[integration]") {
  Daemon d(1, 30, {"--nvml-library", ENTRENAR_FAKE_NVML});
  const std::int64_t id =
      d.Submit(kDigits, With(kLongJob, "output.dir=" + d.dir.path + "/r"), {"--devices", "cuda:1"});
  const json job = d.WaitFor(id, [](const json& j) { return j["state"] == "RUNNING"; });
  CHECK(job["pinned"] == "cuda:1");
  CHECK(job["assigned"] == "cuda:1");
  CHECK(EnvironOf(WorkerPid(job))["CUDA_VISIBLE_DEVICES"] == "1");
  CHECK(d.Cli({"show", std::to_string(id)})
            .out.find("devices:   1 GPU (cuda:1), running on cuda:1\n") != std::string::npos);
  // Waiting for a named device that is busy, though another GPU is free.
  const std::int64_t waits =
      d.Submit(kIris, {"output.dir=" + d.dir.path + "/w"}, {"--devices", "cuda:1"});
  const json queue = json::parse(d.Cli({"queue", "--json"}).out);
  REQUIRE(queue.size() == 1);
  CHECK(queue[0]["job_id"] == waits);
  CHECK(WithoutEstimate(queue[0]["reason"]) == "needs cuda:1; cuda:1 busy");
  ProcessResult unknown = d.Cli({"submit", kIris, "--devices", "cuda:7"});
  CHECK(unknown.exit_code == 7);
  CHECK(unknown.err.find("this server has no device `cuda:7` (it has cuda:0, cuda:1, cpu:0)") !=
        std::string::npos);
  ProcessResult mixed = d.Cli({"submit", kIris, "--devices", "cuda:0,cpu:0"});
  CHECK(mixed.err.find("a job runs on GPUs or on CPU slots, not both") != std::string::npos);
  ProcessResult contradicts =
      d.Cli({"submit", kIris, "--devices", "cuda:0", "--set", "model.device=cpu"});
  CHECK(contradicts.err.find("model.device is `cpu` but the devices named are GPUs") !=
        std::string::npos);
  REQUIRE(d.Cli({"cancel", std::to_string(id), "--force"}).exit_code == 0);
  d.WaitFor(waits, [](const json& j) { return j["state"] == "SUCCEEDED"; });
}

TEST_CASE("daemon: the devices setting and its errors", "[integration]") {
  TempDir dir;
  // Only GPU 1, from the config file; the flag's CPU slots win over the file's.
  std::ofstream(dir.path + "/entrenard.yaml")
      << "devices: [1]\ncpu_slots: 4\nnvml_library: " << ENTRENAR_FAKE_NVML << "\n";
  Daemon d(2, 30, {"--config", dir.path + "/entrenard.yaml"});
  const json status = json::parse(d.Cli({"devices", "--json"}).out);
  REQUIRE(status["devices"].size() == 3);
  CHECK(status["devices"][0]["name"] == "cuda:1");
  CHECK(status["devices"][2]["name"] == "cpu:1");
  const std::int64_t id = d.Submit(kDigits, With(kLongJob, "output.dir=" + d.dir.path + "/r"));
  const json job = d.WaitFor(id, [](const json& j) { return j["state"] == "RUNNING"; });
  CHECK(EnvironOf(WorkerPid(job))["CUDA_VISIBLE_DEVICES"] == "1");
  REQUIRE(d.Cli({"cancel", std::to_string(id), "--force"}).exit_code == 0);
  d.WaitFor(id, [](const json& j) { return j["state"] == "CANCELLED"; });
  d.Stop();
  // A GPU NVML does not know, a config mistake: entrenard refuses to start, saying why.
  const std::vector<std::string> base = {Binary("entrenard"), "--socket", dir.path + "/x.sock",
                                         "--state-dir", dir.path + "/state"};
  auto run = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), base.begin(), base.end());
    return RunProcess(extra, "", 30);
  };
  ProcessResult missing = run({"--nvml-library", ENTRENAR_FAKE_NVML, "--devices", "0,5"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("devices lists GPU 5 but NVML finds 2 GPU(s)") != std::string::npos);
  std::ofstream(dir.path + "/bad.yaml") << "cpu_slot: 2\n";
  ProcessResult bad = run({"--config", dir.path + "/bad.yaml"});
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("bad.yaml:1:1: unknown key `cpu_slot`; did you mean `cpu_slots`?") !=
        std::string::npos);
  ProcessResult no_tls = run({"--tcp", "127.0.0.1:0"});
  CHECK(no_tls.exit_code == 2);
  CHECK(no_tls.err.find("tcp.cert, tcp.key and tcp.tokens are required") != std::string::npos);
}

TEST_CASE("daemon: a root daemon runs each job as the user who submitted it", "[integration]") {
  if (!CanBeNobody()) {
    WARN("not root: running workers as their owners needs a root daemon");
    return;
  }
  Daemon d(1);
  fs::permissions(d.dir.path, fs::perms::all, fs::perm_options::add);  // reach the socket
  const std::string runs = OpenRunsDir(d);
  std::vector<std::string> args = {"submit", kDigits};
  for (const std::string& s : With(kLongJob, "output.dir=" + runs + "/theirs")) {
    args.insert(args.end(), {"--set", s});
  }
  ProcessResult submitted = AsNobody(d, args);
  INFO(submitted.err);
  REQUIRE(submitted.exit_code == 0);
  const std::int64_t id = std::stoll(submitted.out);
  const json job = d.WaitFor(id, [](const json& j) { return j["state"] == "RUNNING"; });
  const int pid = WorkerPid(job);
  // The worker's real and effective uid and gid, its groups, its HOME.
  const std::string status = Slurp("/proc/" + std::to_string(pid) + "/status");
  CHECK(status.find("Uid:\t65534\t65534\t65534\t65534") != std::string::npos);
  CHECK(status.find("Gid:\t65534\t65534\t65534\t65534") != std::string::npos);
  CHECK(EnvironOf(pid)["USER"] == "nobody");
  // Every file of the run is the user's.
  d.WaitFor(id, [&](const json&) { return fs::exists(runs + "/theirs/metrics.jsonl"); });
  for (const char* f : {"", "/job.yaml", "/logs", "/logs/worker.log", "/events.jsonl"}) {
    struct stat st {};
    REQUIRE(stat((runs + "/theirs" + f).c_str(), &st) == 0);
    CHECK(st.st_uid == 65534);
  }
  REQUIRE(d.Cli({"cancel", std::to_string(id), "--force"}).exit_code == 0);
  d.WaitFor(id, [](const json& j) { return j["state"] == "CANCELLED"; });
  // A directory the user may not write: the job fails with the reason, nothing is created.
  fs::create_directories(d.dir.path + "/locked");
  fs::permissions(d.dir.path + "/locked", fs::perms::owner_all);
  ProcessResult denied =
      AsNobody(d, {"submit", kIris, "--set", "output.dir=" + d.dir.path + "/locked/run"});
  REQUIRE(denied.exit_code == 0);
  const json failed =
      d.WaitFor(std::stoll(denied.out), [](const json& j) { return j["state"] == "FAILED"; });
  CHECK(failed["reason"] == "the worker could not create " + d.dir.path +
                                "/locked/run as uid 65534: Permission denied");
  CHECK(!fs::exists(d.dir.path + "/locked/run"));
}

TEST_CASE(
    "daemon: a data file its owner cannot read fails the job naming the file, as the owner "
    "would see it",
    "[integration]") {
  if (!CanBeNobody()) {
    WARN("not root, or no setpriv: the test is skipped");
    return;
  }
  Daemon d;
  fs::permissions(d.dir.path, fs::perms::all, fs::perm_options::add);  // reach the socket
  const std::string secret = d.dir.path + "/secret";
  fs::create_directories(secret);
  fs::permissions(secret, fs::perms::owner_all | fs::perms::others_exec);  // 0701: no listing
  fs::copy_file(kSource + "/examples/data/iris.csv", secret + "/iris.csv");
  fs::permissions(secret + "/iris.csv", fs::perms::owner_read | fs::perms::owner_write);
  const std::string runs = OpenRunsDir(d);
  ProcessResult submitted =
      AsNobody(d, {"submit", kIris, "--set", "data.source=" + secret + "/iris.csv", "--set",
                   "output.dir=" + runs + "/r"});
  INFO(submitted.err);
  // Refused at submit, or failed by the worker: either way the file and the reason are named.
  std::string said = submitted.err;
  if (submitted.exit_code == 0) {
    const json failed = d.WaitFor(std::stoll(submitted.out), [](const json& j) {
      return j["state"] == "FAILED" || j["state"] == "SUCCEEDED";
    });
    CHECK(failed["state"] == "FAILED");
    said = failed["reason"].get<std::string>();
  }
  CHECK_THAT(said, Catch::Contains(secret + "/iris.csv") && Catch::Contains("Permission denied"));
  CHECK_THAT(said, !Catch::Contains("terminate") && !Catch::Contains("exception"));
}

TEST_CASE("daemon: over TCP, TLS and a per-user bearer token are required", "[integration]") {
  TempDir tls;
  // A self-signed certificate for localhost (openssl), and tokens stored as SHA-256 hashes
  // computed by Python's hashlib: the daemon's file never holds a token.
  ProcessResult cert =
      RunProcess({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", tls.path + "/key.pem",
                  "-out", tls.path + "/cert.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                  "subjectAltName=DNS:localhost,IP:127.0.0.1"},
                 "", 60);
  INFO(cert.err);
  REQUIRE(cert.exit_code == 0);
  ProcessResult hashes = RunProcess(
      {"/usr/bin/python3", "-c",
       "import hashlib\nfor u, t in (('root', 'root-secret'), ('nobody', 'nobody-secret')):\n"
       "    print(u, hashlib.sha256(t.encode()).hexdigest())\n"});
  REQUIRE(hashes.exit_code == 0);
  std::ofstream(tls.path + "/tokens") << "# user sha256(token)\n" << hashes.out;
  Daemon d(1, 30,
           {"--tcp", "127.0.0.1:0", "--tls-cert", tls.path + "/cert.pem", "--tls-key",
            tls.path + "/key.pem", "--tokens", tls.path + "/tokens"});
  const std::string log = Slurp(d.dir.path + "/daemon.err");
  const std::size_t at = log.find("TCP port ");
  REQUIRE(at != std::string::npos);
  // An IP literal: no DNS lookup (c-ares), checked against the certificate's IP name.
  const std::string addr = "127.0.0.1:" + std::to_string(std::stoi(log.substr(at + 9)));
  CHECK(Slurp(tls.path + "/tokens").find("root-secret") == std::string::npos);
  auto tcp = [&](const std::string& token, std::vector<std::string> args) {
    std::vector<std::string> argv = {"/usr/bin/env",
                                     "-u",
                                     "ENTRENAR_SOCKET",
                                     "ENTRENAR_ADDR=" + addr,
                                     "ENTRENAR_CA=" + tls.path + "/cert.pem",
                                     "ENTRENAR_TOKEN=" + token,
                                     Binary("entrenar")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunProcess(argv, "", 120);
  };
  // No token, a wrong one: refused, whatever the call.
  ProcessResult none = tcp("", {"ls"});
  CHECK(none.exit_code == 7);
  CHECK(none.err.find("entrenard requires a bearer token on TCP") != std::string::npos);
  ProcessResult wrong = tcp("guess", {"devices"});
  CHECK(wrong.exit_code == 7);
  CHECK(wrong.err.find("the bearer token is not valid") != std::string::npos);
  // A valid token is its user: submit and follow to the end over TLS.
  ProcessResult ran = tcp("root-secret", {"submit", kIris, "--set",
                                          "output.dir=" + d.dir.path + "/runs/tcp", "--follow"});
  INFO(ran.err);
  CHECK(ran.exit_code == 0);
  CHECK(d.Show(1)["state"] == "SUCCEEDED");
  CHECK(d.Show(1)["uid"] == 0);
  // Another user's token may read but not cancel root's job.
  const std::int64_t id = d.Submit(kDigits, With(kLongJob, "output.dir=" + d.dir.path + "/r"));
  CHECK(tcp("nobody-secret", {"show", std::to_string(id)}).exit_code == 0);
  ProcessResult denied = tcp("nobody-secret", {"cancel", std::to_string(id)});
  INFO(denied.err);  // once seen exiting 1 under the sanitizers and load: say why if again
  CHECK(denied.exit_code == 7);
  CHECK(denied.err.find("only its owner or an admin may change it") != std::string::npos);
  CHECK(tcp("root-secret", {"cancel", std::to_string(id), "--force"}).exit_code == 0);
  // A client that does not trust the daemon's certificate cannot reach it.
  ProcessResult plain =
      RunProcess({"/usr/bin/env", "-u", "ENTRENAR_SOCKET", "ENTRENAR_ADDR=" + addr,
                  "ENTRENAR_CA=/nonexistent", Binary("entrenar"), "ls"},
                 "", 60);
  CHECK(plain.exit_code == 5);
}

TEST_CASE("daemon: 200 jobs of mixed priorities drain on 2 slots in order, none lost",
          "[integration]") {
  // ENTRENAR_DRAIN_JOBS lowers the count for the sanitizer build, where each worker is slower.
  const char* env = std::getenv("ENTRENAR_DRAIN_JOBS");
  const int count = env ? std::atoi(env) : 200;
  Daemon d(2);
  // Both slots held while the queue fills, so the order is the scheduler's alone.
  std::vector<std::int64_t> blockers;
  for (const char* name : {"b1", "b2"}) {
    blockers.push_back(d.Submit(kDigits, With(kLongJob, "output.dir=" + d.dir.path + "/" + name)));
  }
  for (std::int64_t b : blockers) {
    d.WaitFor(b, [](const json& j) { return j["state"] == "RUNNING"; });
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> expected;  // (-priority, id)
  std::map<std::int64_t, std::string> runs;
  for (int i = 0; i < count; ++i) {
    const int priority = (i * 7) % 5 - 2;  // -2..2, interleaved
    const std::string run = d.dir.path + "/runs/" + std::to_string(i);
    const std::int64_t id = d.Submit(kIris, {"training.epochs=1", "output.dir=" + run},
                                     {"--priority", std::to_string(priority)});
    expected.emplace_back(-priority, id);
    runs[id] = run;
  }
  std::sort(expected.begin(), expected.end());
  const json queue = json::parse(d.Cli({"queue", "--json"}).out);
  REQUIRE(queue.size() == static_cast<std::size_t>(count));
  CHECK(queue[0]["job_id"] == expected[0].second);
  CHECK(queue[static_cast<std::size_t>(count) - 1]["job_id"] == expected.back().second);
  for (std::int64_t b : blockers)
    REQUIRE(d.Cli({"cancel", std::to_string(b), "--force"}).exit_code == 0);
  // The last in the queue ends last (or beside the one before it): list them all only then,
  // so the waiting does not take the workers' CPU.
  d.WaitFor(
      expected.back().second,
      [&](const json& last) {
        if (last["state"] != "SUCCEEDED") return false;
        const json all = json::parse(d.Cli({"ls", "--state", "succeeded", "--json"}).out);
        return all.size() == static_cast<std::size_t>(count);
      },
      900);
  // The order they started in, from the daemon's log.
  std::vector<std::int64_t> started;
  std::istringstream log(Slurp(d.dir.path + "/daemon.err"));
  std::string line;
  while (std::getline(log, line)) {
    const std::size_t at = line.find(" info job ");  // "TIME info job N started: pid P on D"
    if (at == std::string::npos || line.find(" started: pid ") == std::string::npos) continue;
    const std::int64_t id = std::stoll(line.substr(at + 10));
    if (std::find(blockers.begin(), blockers.end(), id) == blockers.end()) started.push_back(id);
  }
  std::vector<std::int64_t> want;
  for (const auto& [neg, id] : expected) want.push_back(id);
  CHECK(started == want);
  // Nothing lost: each job's events end with SUCCEEDED after its final metrics, and its run
  // directory has its summary.
  for (const auto& [id, run] : runs) {
    const std::vector<json> events = d.Events(id);
    REQUIRE(events.size() >= 4);
    CHECK(events.back()["payload"]["state"] == "SUCCEEDED");
    CHECK(std::count_if(events.begin(), events.end(),
                        [](const json& e) { return e["kind"] == "metric"; }) >= 1);
    CHECK(fs::exists(run + "/summary.json"));
  }
}

TEST_CASE("daemon: logs --follow on a terminal draws a progress line, piped it prints plain lines",
          "[integration]") {
  Daemon d;
  const std::int64_t id = d.Submit(kIris, {"output.dir=" + d.dir.path + "/runs/tty"});
  // util-linux's `script` gives the client a pseudo-terminal.
  const std::string command = "TERM=xterm " + Binary("entrenar") + " logs " + std::to_string(id) +
                              " --follow --socket " + d.socket();
  ProcessResult tty = RunProcess({"/usr/bin/script", "-qefc", command, "/dev/null"}, "", 120);
  INFO(tty.out);
  REQUIRE(tty.exit_code == 0);
  const json summary = json::parse(Slurp(d.dir.path + "/runs/tty/summary.json"));
  const std::string total = std::to_string(summary["steps"].get<std::int64_t>());
  CHECK(tty.out.find("\r\033[K[████████████████████████] 100%  step " + total + "/" + total) !=
        std::string::npos);
  CHECK(tty.out.find("loss ") != std::string::npos);
  CHECK(tty.out.find("state: SUCCEEDED") != std::string::npos);
  // Piped: no control characters, and about twenty step lines (every n-th step, and the last).
  ProcessResult piped = d.Cli({"logs", std::to_string(id), "--follow"});
  CHECK(piped.out.find("\033[") == std::string::npos);
  CHECK(piped.out.find("step " + total + "  epoch") != std::string::npos);
  std::istringstream lines(piped.out);
  int step_lines = 0;
  for (std::string line; std::getline(lines, line);) step_lines += line.rfind("step ", 0) == 0;
  const std::int64_t steps = summary["steps"].get<std::int64_t>();
  const std::int64_t every = std::max<std::int64_t>(1, steps / 20);
  CHECK(step_lines == steps / every + (steps % every != 0 ? 1 : 0));
  CHECK(step_lines <= 21);

  // Under a time budget the length in steps is unknown: piped, a line per twentieth of the time.
  const std::int64_t timed = d.Submit(kIris, {"output.dir=" + d.dir.path + "/runs/timed",
                                              "training.duration=2s", "scheduler.name=constant"});
  ProcessResult budget = d.Cli({"logs", std::to_string(timed), "--follow"});
  INFO(budget.out);
  CHECK(budget.out.find("state: SUCCEEDED") != std::string::npos);
  const json timed_summary = json::parse(Slurp(d.dir.path + "/runs/timed/summary.json"));
  CHECK(timed_summary["ended"]["reason"] == "duration");
  std::istringstream timed_lines(budget.out);
  int timed_steps = 0;
  for (std::string line; std::getline(timed_lines, line);)
    timed_steps += line.rfind("step ", 0) == 0;
  CHECK(timed_summary["steps"].get<std::int64_t>() > 40);  // iris steps take milliseconds
  CHECK(timed_steps >= 1);
  CHECK(timed_steps <= 21);

  // The job's monitoring.terminal chooses what the followed line shows.
  const std::int64_t shown =
      d.Submit(kIris, {"output.dir=" + d.dir.path + "/runs/shown",
                       "monitoring.terminal.metrics=[lr, accuracy]",
                       "monitoring.terminal.charts=[{type: progress, show_eta: false}]"});
  const std::string follow_shown = "TERM=xterm " + Binary("entrenar") + " logs " +
                                   std::to_string(shown) + " --follow --socket " + d.socket();
  ProcessResult laid_out =
      RunProcess({"/usr/bin/script", "-qefc", follow_shown, "/dev/null"}, "", 120);
  INFO(laid_out.out);
  REQUIRE(laid_out.exit_code == 0);
  const std::size_t end = laid_out.out.rfind("100%  step ");
  REQUIRE(end != std::string::npos);
  const std::string line = laid_out.out.substr(end, laid_out.out.find('\n', end) - end);
  CHECK(line.find("  lr ") != std::string::npos);
  CHECK(line.find("  accuracy ") != std::string::npos);
  CHECK(line.find("accuracy -") == std::string::npos);  // the validations' value reached it
  CHECK(line.find("loss") == std::string::npos);
  CHECK(line.find("ETA") == std::string::npos);
}

TEST_CASE("daemon: the client finds the user's own daemon, else the system one", "[integration]") {
  TempDir runtime, empty;
  const std::string own = runtime.path + "/entrenar/entrenard.sock";
  BackgroundProcess daemon(
      {Binary("entrenard"), "--socket", own, "--state-dir", runtime.path + "/state"},
      runtime.path + "/out", runtime.path + "/err");
  auto client = [&](const std::string& xdg) {
    // As a user (uid 65534 when root, since root always uses the system socket).
    std::vector<std::string> argv = {
        "/usr/bin/env", "-u", "ENTRENAR_SOCKET", "-u", "ENTRENAR_ADDR", "XDG_RUNTIME_DIR=" + xdg};
    if (CanBeNobody()) {
      argv.insert(argv.end(),
                  {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
    }
    argv.insert(argv.end(), {Binary("entrenar"), "devices"});
    return RunProcess(argv, "", 30);
  };
  fs::permissions(runtime.path, fs::perms::all, fs::perm_options::add);
  ProcessResult found;
  for (int i = 0; i < 200; ++i) {
    found = client(runtime.path);
    if (found.exit_code == 0) break;
    std::this_thread::sleep_for(20ms);
  }
  INFO(found.err);
  CHECK(found.exit_code == 0);
  // No daemon of one's own: the system daemon's socket (none runs here).
  ProcessResult system = client(empty.path);
  CHECK(system.exit_code == 5);
  CHECK(system.err.find("cannot reach entrenard at /run/entrenar/entrenard.sock") !=
        std::string::npos);
  daemon.Signal(SIGTERM);
  CHECK(daemon.Wait(10) == 0);
}

TEST_CASE("daemon: an alert's halt ends a job HALTED, and the alert reaches logs --follow",
          "[integration]") {
  Daemon d;
  ProcessResult r =
      d.Cli({"submit", kDigits, "--set", "optimizer.lr=5", "--set",
             "monitoring.alerts=[{condition: \"loss > 10\", action: halt, message: \"the loss "
             "is diverging\"}]",
             "--set", "output.dir=" + d.dir.path + "/runs/h", "--follow"});
  CHECK(r.exit_code == 6);  // the followed job did not succeed
  CHECK(r.out.find("alert: the loss is diverging") != std::string::npos);
  const json job = d.Show(1);
  CHECK(job["state"] == "HALTED");
  CHECK(job["reason"].get<std::string>().rfind("halted by an alert: the loss is diverging (step ",
                                               0) == 0);
  // The alert event carries its condition and action.
  bool seen = false;
  for (const json& ev : d.Events(1)) {
    if (ev["kind"] != "alert") continue;
    seen = true;
    CHECK(ev["payload"]["condition"] == "loss > 10");
    CHECK(ev["payload"]["action"] == "halt");
  }
  CHECK(seen);
  // The checkpoint it stopped at is there to resume from.
  const std::string step =
      job["reason"].get<std::string>().substr(job["reason"].get<std::string>().find("(step ") + 6);
  CHECK(fs::exists(d.dir.path + "/runs/h/checkpoints/step-" + step.substr(0, step.size() - 1)));
}

TEST_CASE("daemon: a client with no daemon gets a clear error", "[integration]") {
  TempDir dir;
  ProcessResult r = RunProcess({Binary("entrenar"), "ls", "--socket", dir.path + "/nothing.sock"});
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("cannot reach entrenard at " + dir.path + "/nothing.sock") != std::string::npos);
}

}  // namespace

namespace {

TEST_CASE("daemon: custom callbacks run only where the config allows them", "[integration]") {
  const std::string hook =
      "callbacks=[{type: custom, trigger: epoch_end, interval: 10, "
      "command: [sh, -c, 'echo \"$ENTRENAR_STEP $ENTRENAR_NVML_LIBRARY\" >> "
      "\"$ENTRENAR_RUN_DIR/hook\"']}]";
  {
    Daemon d(1);
    ProcessResult refused = d.Cli({"submit", kIris, "--set", hook});
    CHECK(refused.exit_code != 0);
    CHECK(refused.err.find("callbacks[0]: custom callbacks are off on this entrenard; an admin "
                           "can allow them with `allow_custom_callbacks: true`") !=
          std::string::npos);
    CHECK(d.Cli({"show", "1"}).exit_code == 7);  // nothing was queued: there is no job 1
  }
  // The daemon's NVML library reaches workers (for GPU metrics), here seen by the hook.
  Daemon d(1, 30,
           {"--allow-custom-callbacks", "--devices", "cpu", "--nvml-library", ENTRENAR_FAKE_NVML});
  const std::string run = d.dir.path + "/runs/hooked";
  const std::int64_t id = d.Submit(kIris, {hook, "output.dir=" + run});
  const json done = d.WaitFor(
      id, [](const json& j) { return j["state"] == "SUCCEEDED"; }, 120);
  const std::string ran = Slurp(run + "/hook");
  CHECK_FALSE(ran.empty());
  CHECK(ran.find(std::string(" ") + ENTRENAR_FAKE_NVML + "\n") != std::string::npos);
  CHECK(fs::exists(run + "/quality.yaml"));
}

}  // namespace

namespace {

TEST_CASE("daemon: a language-model job trains a tiny LLaMA from its manifest's relative paths",
          "[integration]") {
  Daemon d(1);
  const std::string run = d.dir.path + "/runs/lm";
  const std::int64_t id =
      d.Submit(kSource + "/examples/instruct.yaml",
               {"training.epochs=2", "model.architecture.hidden_size=64", "output.dir=" + run});
  const json done = d.WaitFor(
      id, [](const json& j) { return j["state"] == "SUCCEEDED" || j["state"] == "FAILED"; }, 180);
  INFO(done.dump());
  REQUIRE(done["state"] == "SUCCEEDED");
  for (const char* f : {"config.json", "tokenizer.json", "model.safetensors", "samples.jsonl"}) {
    CHECK(fs::exists(run + "/" + f));
  }
  const json summary = json::parse(Slurp(run + "/summary.json"));
  CHECK(summary["val"]["val_perplexity"].get<double>() > 1);
  // The events the worker streamed carry the language-model metrics.
  ProcessResult logs = d.Cli({"logs", std::to_string(id)});
  CHECK(logs.out.find("val_perplexity") != std::string::npos);
  CHECK(logs.out.find("loss on the answers") != std::string::npos);
}

TEST_CASE("daemon: submit --strict refuses a changed lock file, and each attempt checks it again",
          "[integration]") {
  Daemon d(1);
  const std::string data = d.dir.path + "/iris.csv";
  fs::copy_file(kSource + "/examples/data/iris.csv", data);
  std::ofstream(d.dir.path + "/iris.yaml") << std::regex_replace(
      Slurp(kSource + "/examples/iris.yaml"), std::regex("\\./data/iris\\.csv"), "iris.csv");
  const std::string lock = d.dir.path + "/iris.lock.yaml";
  REQUIRE(RunProcess({Binary("entrenar"), "lock", d.dir.path + "/iris.yaml", "--set",
                      "training.max_steps=4", "-o", lock})
              .exit_code == 0);
  // The files as locked: the job trains, and its worker checked them.
  const std::int64_t ok = d.Submit(lock, {"output.dir=runs/ok"}, {"--strict"});
  const json done = d.WaitFor(
      ok, [](const json& j) { return j["state"] == "SUCCEEDED" || j["state"] == "FAILED"; });
  INFO(done.dump());
  CHECK(done["state"] == "SUCCEEDED");
  CHECK(done["strict"] == true);
  CHECK_THAT(Slurp(done["run_dir"].get<std::string>() + "/logs/worker.log"),
             Catch::Contains("lock: the 1 locked file matches its hash"));

  // Queued behind a long job, then the data changes before it starts: the attempt fails,
  // naming the file, and trains nothing.
  const std::int64_t blocker =
      d.Submit(kDigits, {"training.epochs=1000", "output.dir=" + d.dir.path + "/long"});
  d.WaitFor(blocker, [](const json& j) { return j["state"] == "RUNNING"; });
  const std::int64_t queued = d.Submit(lock, {"output.dir=runs/queued"}, {"--strict"});
  CHECK(d.Show(queued)["state"] == "QUEUED");
  std::string csv = Slurp(data);
  csv[csv.find("5.1")] = '6';
  std::ofstream(data, std::ios::binary) << csv;
  REQUIRE(d.Cli({"cancel", std::to_string(blocker)}).exit_code == 0);
  const json failed = d.WaitFor(
      queued, [](const json& j) { return j["state"] == "SUCCEEDED" || j["state"] == "FAILED"; });
  CHECK(failed["state"] == "FAILED");
  CHECK_THAT(failed["reason"].get<std::string>(),
             Catch::Contains("`iris.csv` (data.source) changed since it was locked"));
  CHECK_FALSE(fs::exists(failed["run_dir"].get<std::string>() + "/metrics.jsonl"));

  // Submitted now, the change is refused by the client before anything reaches the daemon.
  ProcessResult refused = d.Cli({"submit", lock, "--strict", "--set", "output.dir=runs/late"});
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("iris.lock.yaml:"));
  CHECK_THAT(refused.err, Catch::Contains("changed since it was locked: its sha256 is now "));
  CHECK(json::parse(d.Cli({"ls", "--json"}).out).size() == 3);
  // --strict on a manifest that is no lock file.
  ProcessResult plain = d.Cli({"submit", d.dir.path + "/iris.yaml", "--strict"});
  CHECK(plain.exit_code == 1);
  CHECK_THAT(plain.err, Catch::Contains("--strict needs a lock file"));
}

}  // namespace
