#include <catch2/catch.hpp>

#include "entrenar/supervisor/supervisor.h"

#include "temp_dir.h"

namespace entrenar::supervisor {
namespace {

using testing::TempDir;

std::vector<std::string> Lines(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i <= to; ++i) {
    out.push_back(R"({"kind":"metric","step":)" + std::to_string(i) + "}");
  }
  return out;
}

TEST_CASE("Worker reports are stored once, in order, only from the job's own worker",
          "[unit][supervisor]") {
  TempDir dir;
  auto store = std::move(store::Store::Open(dir.path + "/state.db")).value();
  store::JobSpec spec;
  spec.name = "j";
  spec.manifest = "name: j\n";
  spec.run_dir = dir.path + "/run";
  const std::int64_t id = store->CreateJob(spec).value();
  REQUIRE(store->SetWorker(id, 1, "cpu:0", "secret").ok());
  Supervisor supervisor(*store, Config{});  // not started: Receive needs only the store
  std::int64_t acked = -1, offset = -1;
  CHECK(supervisor.Receive(id, "guess", 0, {}, 0, &acked, &offset).code() ==
        StatusCode::kPermissionDenied);
  REQUIRE(supervisor.Receive(id, "secret", 0, {}, 0, &acked, &offset).ok());
  CHECK(acked == 0);
  REQUIRE(supervisor.Receive(id, "secret", 1, Lines(1, 3), 60, &acked, &offset).ok());
  CHECK(acked == 3);
  CHECK(offset == 60);
  // A resend after a reconnect overlaps: only the new line is stored.
  REQUIRE(supervisor.Receive(id, "secret", 2, Lines(2, 4), 80, &acked, &offset).ok());
  CHECK(acked == 4);
  // A gap is refused; the worker reconnects and sends from the acknowledged line.
  CHECK(supervisor.Receive(id, "secret", 7, Lines(7, 7), 140, &acked, &offset).code() ==
        StatusCode::kFailedPrecondition);
  const std::vector<store::Event> events = store->Events(id, 0, 100).value();
  REQUIRE(events.size() == 5);  // QUEUED, then steps 1-4 once each
  for (int i = 1; i <= 4; ++i) CHECK(events[static_cast<std::size_t>(i)].step == i);
  const store::Job job = store->GetJob(id).value();
  CHECK(job.worker_seq == 4);
  CHECK(job.events_offset == 80);
  // Another attempt's secret replaces this one.
  REQUIRE(store->SetWorker(id, 2, "cpu:0", "next").ok());
  CHECK(supervisor.Receive(id, "secret", 0, {}, 0, &acked, &offset).code() ==
        StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace entrenar::supervisor
