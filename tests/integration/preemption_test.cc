// Preemption through the real entrenard: a queued job of high enough priority stops a running
// job of lower priority, which checkpoints, goes back to the queue as PREEMPTED and resumes.
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "daemon_harness.h"

namespace {

using namespace entrenar::testing::daemon;

// The job's state events, in order: state and reason.
std::vector<std::pair<std::string, std::string>> States(Daemon& d, std::int64_t job) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const json& e : d.Events(job)) {
    if (e["kind"] == "state") out.emplace_back(e["payload"]["state"], e["payload"]["reason"]);
  }
  return out;
}

// The time of the job's first `state` event.
std::string When(Daemon& d, std::int64_t job, const std::string& state) {
  for (const json& e : d.Events(job)) {
    if (e["kind"] == "state" && e["payload"]["state"] == state) return e["time"];
  }
  return "";
}

// The step N of "... resumes from step-N" in a PREEMPTED reason (-1: none).
std::int64_t ResumeStep(const std::string& reason) {
  const std::string mark = "resumes from step-";
  const std::size_t at = reason.find(mark);
  return at == std::string::npos ? -1 : std::stoll(reason.substr(at + mark.size()));
}

// Step -> train loss of `sets` on digits trained with no daemon and no interruption.
std::map<std::int64_t, double> Uninterrupted(Daemon& d, const std::vector<std::string>& sets) {
  std::vector<std::string> local = {Binary("entrenar"), "train", kDigits, "--output",
                                    d.dir.path + "/local"};
  for (const std::string& s : sets) local.insert(local.end(), {"--set", s});
  REQUIRE(RunProcess(local, "", 300).exit_code == 0);
  return LossByStep(d.dir.path + "/local");
}

TEST_CASE("preemption: a job of higher priority stops a lower one, which resumes bit for bit",
          "[integration]") {
  Daemon d(1, 30, {"--preempt-priority", "5"});
  const std::vector<std::string> sets = {"training.epochs=100", "training.checkpoint.save_every=25",
                                         "training.checkpoint.keep_last=1000",
                                         "training.early_stopping.enabled=false"};
  const std::string run = d.dir.path + "/runs/low";
  const std::int64_t low = d.Submit(kDigits, With(sets, "output.dir=" + run));
  d.WaitFor(low, [&](const json&) { return LossByStep(run).size() >= 30; });
  // Priority 4 is below the config's 5: it waits for the slot and preempts nobody.
  const std::int64_t patient =
      d.Submit(kIris, {"output.dir=" + d.dir.path + "/runs/patient"}, {"--priority", "4"});
  const json queue = json::parse(d.Cli({"queue", "--json"}).out);
  REQUIRE(queue.size() == 1);
  CHECK(queue[0]["reason"].get<std::string>().find("preempting") == std::string::npos);
  CHECK(d.Show(low)["state"] == "RUNNING");
  const std::int64_t urgent =
      d.Submit(kIris, {"output.dir=" + d.dir.path + "/runs/urgent"}, {"--priority", "5"});
  d.WaitFor(
      low, [](const json& j) { return j["state"] == "SUCCEEDED"; }, 300);
  for (std::int64_t id : {urgent, patient}) CHECK(d.Show(id)["state"] == "SUCCEEDED");

  // Stopped, queued again, started again: PREEMPTED names the job it made room for and the
  // checkpoint it resumes from, the one it wrote on stopping.
  const auto states = States(d, low);
  std::vector<std::string> names;
  for (const auto& [state, reason] : states) names.push_back(state);
  CHECK(names == std::vector<std::string>{"QUEUED", "STARTING", "RUNNING", "PREEMPTED", "QUEUED",
                                          "STARTING", "RUNNING", "SUCCEEDED"});
  REQUIRE(states.size() == 8);
  const std::string& why = states[3].second;
  CHECK(why.rfind("preempted by job " + std::to_string(urgent) + "; resumes from step-", 0) == 0);
  const std::int64_t stopped_at = ResumeStep(why);
  CHECK(stopped_at >= 30);
  CHECK(stopped_at < 2300);
  CHECK(states[4].second == "requeued after its preemption");
  CHECK(d.Show(low)["attempts"] == 2);
  bool noted = false;
  for (const json& e : d.Events(low)) {
    noted = noted || (e["kind"] == "log" &&
                      e["payload"]["text"].get<std::string>().rfind(
                          "entrenard: preempted by job " + std::to_string(urgent), 0) == 0);
  }
  CHECK(noted);
  // One slot: the urgent job started only once the preempted one had stopped, and the
  // patient one after the urgent one (priority), the preempted one last.
  CHECK(When(d, low, "PREEMPTED") <= When(d, urgent, "STARTING"));
  CHECK(When(d, urgent, "SUCCEEDED") <= When(d, patient, "STARTING"));
  std::vector<std::string> low_starts;
  for (const json& e : d.Events(low)) {
    if (e["kind"] == "state" && e["payload"]["state"] == "STARTING")
      low_starts.push_back(e["time"]);
  }
  REQUIRE(low_starts.size() == 2);
  CHECK(When(d, patient, "SUCCEEDED") <= low_starts[1]);
  // The same losses, step for step, as a run never preempted.
  const auto reference = Uninterrupted(d, sets);
  REQUIRE(reference.size() == 2300);
  CHECK(LossByStep(run) == reference);
}

TEST_CASE(
    "preemption: a job that does not stop within the grace period is killed and resumes "
    "from its last checkpoint",
    "[integration]") {
  // A callback that sleeps at the end of epoch 5 holds its worker there (the worker waits for
  // it), so SIGTERM is not answered within the 2 s grace period.
  Daemon d(1, 2, {"--preempt-priority", "5", "--allow-custom-callbacks"});
  const std::vector<std::string> sets = {"training.epochs=10", "training.checkpoint.save_every=23",
                                         "training.checkpoint.keep_last=1000",
                                         "training.early_stopping.enabled=false"};
  const std::string hook =
      R"(callbacks=[{type: custom, trigger: epoch_end, interval: 1, timeout: 120s, )"
      R"(command: [sh, -c, 'if [ "$ENTRENAR_STEP" -ge 115 ] && [ ! -e "$ENTRENAR_RUN_DIR/held" ]; )"
      R"(then touch "$ENTRENAR_RUN_DIR/held"; sleep 20; fi']}])";
  const std::string run = d.dir.path + "/runs/held";
  const std::int64_t low = d.Submit(kDigits, With(With(sets, hook), "output.dir=" + run));
  d.WaitFor(
      low, [&](const json&) { return fs::exists(run + "/held"); }, 120);
  const std::int64_t urgent =
      d.Submit(kIris, {"output.dir=" + d.dir.path + "/runs/urgent"}, {"--priority", "9"});
  d.WaitFor(
      low, [](const json& j) { return j["state"] == "SUCCEEDED"; }, 300);
  CHECK(d.Show(urgent)["state"] == "SUCCEEDED");
  const auto states = States(d, low);
  REQUIRE(states.size() == 8);
  CHECK(states[3].first == "PREEMPTED");
  const std::string& why = states[3].second;
  CHECK(why.rfind("preempted by job " + std::to_string(urgent) +
                      ": killed after the grace period; resumes from step-",
                  0) == 0);
  // It had no time to checkpoint where it stopped: it resumes from its last periodic one.
  const std::int64_t from = ResumeStep(why);
  CHECK(from % 23 == 0);
  CHECK(from >= 92);
  CHECK(from <= 115);
  CHECK(LossByStep(run) == Uninterrupted(d, sets));
}

}  // namespace
