#include "entrenar/supervisor/supervisor.h"

#include <signal.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "manual_clock.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::supervisor {
namespace {

using namespace std::chrono_literals;
using testing::ManualClock;
using testing::TempDir;
using testing::TimeLimit;

// 2031-05-06T07:08:09Z.
std::chrono::system_clock::time_point May2031() {
  return std::chrono::system_clock::from_time_t(1935817689);
}

// Whether `done` holds within `seconds` of real time (scaled for sanitized builds).
template <typename F>
bool Within(int seconds, F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(TimeLimit(seconds));
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

bool Gone(store::Store& store, std::int64_t id) {
  return store.GetJob(id).status().code() == StatusCode::kNotFound;
}

store::JobSpec Spec(const std::string& name, const std::string& run_dir) {
  store::JobSpec spec;
  spec.name = name;
  spec.manifest = "name: " + name + "\n";
  spec.run_dir = run_dir;
  return spec;
}

TEST_CASE("Ended jobs are forgotten once older than the retention period on the supervisor's clock",
          "[unit][supervisor]") {
  TempDir dir;
  ManualClock clock(May2031());
  auto store = std::move(store::Store::Open(dir.path + "/state.db", clock)).value();
  const std::int64_t early = store->CreateJob(Spec("early", dir.path + "/a")).value();
  REQUIRE(store->Transition(early, store::JobState::kCancelled, "test").ok());
  clock.Advance(2h);
  const std::int64_t later = store->CreateJob(Spec("later", dir.path + "/b")).value();
  REQUIRE(store->Transition(later, store::JobState::kCancelled, "test").ok());
  const std::int64_t waiting = store->CreateJob(Spec("waiting", dir.path + "/c")).value();
  clock.Advance(23h);  // `early` ended 25 hours ago, `later` 23
  Config config;
  config.retention = 24h;
  Supervisor supervisor(*store, config, clock);  // no devices: nothing starts
  supervisor.Start();
  REQUIRE(Within(30, [&] { return Gone(*store, early); }));
  CHECK(store->GetJob(later).ok());  // the same purge kept it
  clock.Advance(2h);                 // and the next one, due after ten minutes, forgets it
  CHECK(Within(30, [&] { return Gone(*store, later); }));
  CHECK(store->GetJob(waiting).ok());  // a job that has not ended stays, however old
  supervisor.Stop();
}

// Job `id`'s state, as the store has it.
store::JobState StateOf(store::Store& store, std::int64_t id) {
  return store.GetJob(id).value().state;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Kills a worker's process group when the test ends, however it ends.
struct KillOnExit {
  pid_t group = 0;
  ~KillOnExit() {
    if (group > 0) kill(-group, SIGKILL);
  }
};

TEST_CASE(
    "A worker that does not stop on SIGTERM is killed once the grace period has passed on "
    "the supervisor's clock",
    "[unit][supervisor]") {
  TempDir dir;
  ManualClock clock(May2031());
  auto store = std::move(store::Store::Open(dir.path + "/state.db", clock)).value();
  store::JobSpec spec = Spec("iris", dir.path + "/run");
  const std::string source = ENTRENAR_SOURCE_DIR;
  spec.manifest = ReadFile(source + "/examples/iris.yaml");
  const std::size_t epochs = spec.manifest.find("epochs: 60");
  REQUIRE(epochs != std::string::npos);
  spec.manifest.replace(epochs, 10, "epochs: 100000");  // runs until stopped
  spec.base_dir = source + "/examples";
  const std::int64_t id = store->CreateJob(spec).value();
  Config config;
  config.worker_binary = ENTRENAR_WORKER;
  config.devices = {devices::Device{"cpu:0", "cpu", 0, "", 0}};
  config.grace = 60s;
  Supervisor supervisor(*store, config, clock);
  supervisor.Start();
  REQUIRE(Within(60, [&] { return StateOf(*store, id) == store::JobState::kRunning; }));
  KillOnExit worker{static_cast<pid_t>(store->GetJob(id).value().pid)};
  REQUIRE(worker.group > 0);
  // Training, so its SIGTERM handler is in place (before that, SIGTERM kills even a stopped
  // process).
  REQUIRE(Within(120, [&] {
    return ReadFile(dir.path + "/run/events.jsonl").find(R"("kind":"metric")") != std::string::npos;
  }));
  // A hung worker: stopped, it cannot act on SIGTERM; only SIGKILL ends it.
  REQUIRE(kill(-worker.group, SIGSTOP) == 0);
  REQUIRE(supervisor.Cancel(id, false, "test").ok());
  clock.Advance(59s);
  std::this_thread::sleep_for(300ms);  // some thirty turns of the supervisor's loop
  CHECK(StateOf(*store, id) == store::JobState::kRunning);
  CHECK(kill(worker.group, 0) == 0);
  clock.Advance(2s);
  CHECK(Within(30, [&] { return StateOf(*store, id) == store::JobState::kCancelled; }));
  supervisor.Stop();
}

}  // namespace
}  // namespace entrenar::supervisor
