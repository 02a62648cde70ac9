#include "entrenar/store/event_hub.h"

#include <thread>

#include <catch2/catch.hpp>

#include "temp_dir.h"

namespace entrenar::store {
namespace {

using testing::TempDir;

std::vector<Event> Logs(int n) {
  std::vector<Event> out(static_cast<std::size_t>(n));
  for (Event& e : out) e.kind = "log", e.payload = R"({"text":"x"})";
  return out;
}

JobSpec Spec() {
  JobSpec s;
  s.name = "j";
  s.manifest = "name: j\n";
  s.run_dir = "/runs/j";
  return s;
}

TEST_CASE("The hub holds every committed event, in order, as the store numbered it",
          "[unit][store]") {
  TempDir dir;
  auto store = std::move(Store::Open(dir.path + "/state.db")).value();
  EventHub hub(8);
  store->SetObserver([&](const std::vector<Event>& e) { hub.Publish(e); });
  const std::int64_t id = store->CreateJob(Spec()).value();  // seq 1: QUEUED
  REQUIRE(store->AppendEvents(id, Logs(3)).value() == 4);
  std::optional<std::vector<Event>> got = hub.Read(id, 0, 100);
  REQUIRE(got);
  REQUIRE(got->size() == 4);
  CHECK((*got)[0].kind == "state");
  CHECK((*got)[3].seq == 4);
  CHECK((*got)[3].payload == store->Events(id, 3, 1).value()[0].payload);
  CHECK(hub.Read(id, 2, 1)->at(0).seq == 3);
  CHECK(hub.Read(id, 4, 100)->empty());
  CHECK(hub.Complete(id, 4) == false);
  // Only 8 are kept: a follower further behind reads the store.
  REQUIRE(store->AppendEvents(id, Logs(10)).value() == 14);
  CHECK(!hub.Read(id, 0, 100));
  CHECK(!hub.Read(id, 5, 100));  // 7..14 held: seq 6 is not
  CHECK(hub.Read(id, 6, 100)->size() == 8);
  // A terminal state event: the stream is complete once the follower has it.
  REQUIRE(store->Transition(id, JobState::kCancelled, "test").ok());
  CHECK(hub.Complete(id, 14) == false);
  CHECK(hub.Complete(id, 15) == true);
  CHECK(!hub.Complete(999, 0));
}

TEST_CASE("A follower waiting on the hub wakes when an event is published", "[unit][store]") {
  EventHub hub;
  Event e;
  e.job_id = 7;
  e.seq = 1;
  e.kind = "log";
  hub.Publish({e});
  std::thread later([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    Event next = e;
    next.seq = 2;
    hub.Publish({next});
  });
  const auto start = std::chrono::steady_clock::now();
  hub.Wait(7, 1, start + std::chrono::seconds(10));
  // Read before joining the publisher: a Wait that returned early would find nothing yet.
  const std::optional<std::vector<Event>> woken = hub.Read(7, 1, 10);
  const auto waited = std::chrono::steady_clock::now() - start;
  later.join();
  REQUIRE(woken);
  CHECK(woken->size() == 1);
  CHECK(waited >= std::chrono::milliseconds(40));
  CHECK(waited < std::chrono::seconds(5));
  // With nothing new, Wait returns at its deadline, not before.
  const auto quiet = std::chrono::steady_clock::now();
  hub.Wait(7, 2, quiet + std::chrono::milliseconds(100));
  CHECK(std::chrono::steady_clock::now() - quiet >= std::chrono::milliseconds(100));
  // A gap (events the hub never saw) restarts its memory from the newest.
  Event far = e;
  far.seq = 9;
  hub.Publish({far});
  CHECK(!hub.Read(7, 1, 10));
  CHECK(hub.Read(7, 8, 10)->size() == 1);
}

}  // namespace
}  // namespace entrenar::store
