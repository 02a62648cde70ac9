#include "entrenar/store/store.h"

#include <sqlite3.h>

#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "manual_clock.h"
#include "temp_dir.h"

namespace entrenar::store {
namespace {

using testing::ManualClock;
using testing::TempDir;

JobSpec Spec(const std::string& name, std::uint32_t uid = 1000, std::int64_t priority = 0) {
  JobSpec s;
  s.name = name;
  s.uid = uid;
  s.user = "u" + std::to_string(uid);
  s.priority = priority;
  s.manifest = "name: " + name + "\n";
  s.base_dir = "/home/u";
  s.run_dir = "/runs/" + name;
  s.gid = uid;
  s.device_kind = priority > 0 ? "gpu" : "cpu";
  return s;
}

std::unique_ptr<Store> OpenOk(const std::string& path) {
  Result<std::unique_ptr<Store>> s = Store::Open(path);
  INFO(s.status().ToString());
  REQUIRE(s.ok());
  return std::move(s).value();
}

TEST_CASE("Jobs are stored, listed and survive reopening the file", "[unit][store]") {
  TempDir dir;
  const std::string path = dir.path + "/state.db";
  std::int64_t a = 0, b = 0;
  {
    auto store = OpenOk(path);
    CHECK(store->SchemaVersion().value() == Store::CurrentSchema());
    a = store->CreateJob(Spec("a")).value();
    b = store->CreateJob(Spec("b", 1001, 5)).value();
    CHECK(b > a);
  }
  auto store = OpenOk(path);
  Result<Job> job = store->GetJob(b);
  REQUIRE(job.ok());
  CHECK(job->spec.name == "b");
  CHECK(job->spec.uid == 1001);
  CHECK(job->spec.priority == 5);
  CHECK(job->spec.run_dir == "/runs/b");
  CHECK(job->spec.gid == 1001);
  CHECK(job->spec.device_kind == "gpu");
  CHECK(job->state == JobState::kQueued);
  CHECK(job->created_at.size() >= 20);
  CHECK(store->ListJobs({}).value().size() == 2);
  JobFilter mine;
  mine.uid = 1000;
  REQUIRE(store->ListJobs(mine).value().size() == 1);
  CHECK(store->ListJobs(mine).value()[0].id == a);
  JobFilter page;
  page.limit = 1;
  CHECK(store->ListJobs(page).value()[0].id == a);
  page.after_id = a;
  CHECK(store->ListJobs(page).value()[0].id == b);
  CHECK(store->GetJob(999).status().code() == StatusCode::kNotFound);
}

TEST_CASE("Queued jobs come out by priority, then by age", "[unit][store]") {
  TempDir dir;
  auto store = OpenOk(dir.path + "/state.db");
  const std::int64_t a = store->CreateJob(Spec("a", 1, 0)).value();
  const std::int64_t b = store->CreateJob(Spec("b", 1, 5)).value();
  const std::int64_t c = store->CreateJob(Spec("c", 1, 0)).value();
  const std::int64_t d = store->CreateJob(Spec("d", 1, 5)).value();
  REQUIRE(store->Transition(d, JobState::kCancelled, "").ok());
  std::vector<std::int64_t> order;
  const std::vector<Job> next = store->NextQueued(10).value();
  for (const Job& j : next) order.push_back(j.id);
  CHECK(order == std::vector<std::int64_t>{b, a, c});
  CHECK(store->NextQueued(1).value().size() == 1);
  CHECK(store->CountJobs(JobState::kQueued).value() == 3);
  CHECK(store->CountJobs(JobState::kCancelled).value() == 1);
}

TEST_CASE("The job using a run directory is found through an index, not a scan", "[unit][store]") {
  TempDir dir;
  const std::string path = dir.path + "/state.db";
  auto store = OpenOk(path);
  const std::int64_t a = store->CreateJob(Spec("a")).value();
  (void)store->CreateJob(Spec("b")).value();
  const Result<std::optional<Job>> found = store->ActiveJobIn("/runs/a");
  REQUIRE(found.ok());
  REQUIRE(found->has_value());
  CHECK((*found)->id == a);
  REQUIRE(store->Transition(a, JobState::kCancelled, "").ok());
  CHECK_FALSE(store->ActiveJobIn("/runs/a")->has_value());  // ended: the directory is free
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  std::string plan;
  sqlite3_exec(
      db,
      "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE run_dir = 'x' AND state IN ('QUEUED') "
      "ORDER BY id LIMIT 1",
      [](void* out, int n, char** values, char**) {
        for (int i = 0; i < n; ++i) *static_cast<std::string*>(out) += values[i] ? values[i] : "";
        return 0;
      },
      &plan, nullptr);
  sqlite3_close(db);
  CHECK(plan.find("jobs_by_run_dir") != std::string::npos);
}

TEST_CASE("A state event's reason keeps any text: quotes, newlines, control bytes, non-UTF-8",
          "[unit][store]") {
  TempDir dir;
  auto store = OpenOk(dir.path + "/state.db");
  const std::int64_t id = store->CreateJob(Spec("a")).value();
  const std::string reason = "failed: \"x\"\nline 2\tand \\ \x01\x1f end";
  REQUIRE(store->Transition(id, JobState::kFailed, reason).ok());
  const std::vector<Event> events = store->Events(id, 0, 100).value();
  REQUIRE(events.size() == 2);
  const nlohmann::json j = nlohmann::json::parse(events[1].payload);
  CHECK(j["reason"] == reason);
  CHECK(StateOfPayload(events[1].payload) == JobState::kFailed);
  // Bytes that are not UTF-8 are replaced, so the payload stays JSON a client can read.
  REQUIRE(
      store->Transition(store->CreateJob(Spec("b")).value(), JobState::kFailed, "bad \xff").ok());
  CHECK(StatePayload(JobState::kFailed, "bad \xff") ==
        "{\"state\":\"FAILED\",\"reason\":\"bad \xef\xbf\xbd\"}");
  CHECK_FALSE(StateOfPayload("not json").has_value());
  CHECK_FALSE(StateOfPayload(R"({"state": 3})").has_value());
}

TEST_CASE("State changes follow the lifecycle and are recorded as events", "[unit][store]") {
  TempDir dir;
  auto store = OpenOk(dir.path + "/state.db");
  const std::int64_t id = store->CreateJob(Spec("a")).value();
  CHECK(store->Transition(id, JobState::kStarting, "devices cpu:0").ok());
  CHECK(store->Transition(id, JobState::kRunning, "").ok());
  Result<Job> done = store->Transition(id, JobState::kSucceeded, "finished");
  REQUIRE(done.ok());
  CHECK(done->state == JobState::kSucceeded);
  CHECK(done->reason == "finished");
  Result<Job> again = store->Transition(id, JobState::kRunning, "");
  CHECK(again.status().code() == StatusCode::kFailedPrecondition);
  CHECK(again.status().message() == "job 1 is SUCCEEDED and cannot become RUNNING");
  CHECK(store->GetJob(id)->state == JobState::kSucceeded);  // a refused change changes nothing
  const std::vector<Event> events = store->Events(id, 0, 100).value();
  REQUIRE(events.size() == 4);
  CHECK(events[0].payload == R"({"state":"QUEUED","reason":"submitted"})");
  CHECK(events[1].payload == R"({"state":"STARTING","reason":"devices cpu:0"})");
  CHECK(events[3].payload == R"({"state":"SUCCEEDED","reason":"finished"})");
  for (std::size_t i = 0; i < events.size(); ++i) {
    CHECK(events[i].seq == static_cast<std::int64_t>(i + 1));
  }
  // Quotes in a reason stay valid JSON.
  const std::int64_t other = store->CreateJob(Spec("b")).value();
  store->Transition(other, JobState::kCancelled, "by \"root\"").status();
  CHECK(store->Events(other, 1, 10).value()[0].payload ==
        R"({"state":"CANCELLED","reason":"by \"root\""})");
  CHECK(CanTransition(JobState::kInterrupted, JobState::kQueued));
  CHECK(CanTransition(JobState::kRunning, JobState::kPreempted));
  CHECK(CanTransition(JobState::kPreempted, JobState::kQueued));
  CHECK(CanTransition(JobState::kPreempted, JobState::kCancelled));
  CHECK_FALSE(CanTransition(JobState::kQueued, JobState::kPreempted));
  CHECK_FALSE(IsTerminal(JobState::kPreempted));
  CHECK(ParseState("PREEMPTED") == JobState::kPreempted);
  CHECK(StateName(static_cast<JobState>(42)) == "UNKNOWN");  // a client's stray enum value
  // Preemption is on record until the job is queued again.
  const std::int64_t victim = store->CreateJob(Spec("c")).value();
  store->Transition(victim, JobState::kStarting, "").status();
  store->Transition(victim, JobState::kRunning, "").status();
  REQUIRE(store->RequestPreempt(victim, 7).ok());
  CHECK(store->GetJob(victim)->preempted_by == 7);
  CHECK(store->Transition(victim, JobState::kPreempted, "preempted by job 7").ok());
  CHECK(store->GetJob(victim)->preempted_by == 7);
  CHECK(store->Transition(victim, JobState::kQueued, "requeued").ok());
  CHECK(store->GetJob(victim)->preempted_by == 0);
  // How often a job entered a state, from its events.
  CHECK(store->CountStates(victim, JobState::kPreempted).value() == 1);
  CHECK(store->CountStates(victim, JobState::kQueued).value() == 2);
  CHECK(store->CountStates(victim, JobState::kInterrupted).value() == 0);
  CHECK(CanTransition(JobState::kFailed, JobState::kQueued));  // resume
  CHECK_FALSE(CanTransition(JobState::kQueued, JobState::kRunning));
  CHECK(ParseState("HALTED") == JobState::kHalted);
  CHECK_FALSE(ParseState("halted").has_value());
}

TEST_CASE("Events are numbered per job, without gaps, from any number of threads",
          "[unit][store]") {
  TempDir dir;
  auto store = OpenOk(dir.path + "/state.db");
  const std::int64_t a = store->CreateJob(Spec("a")).value();
  const std::int64_t b = store->CreateJob(Spec("b")).value();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        Event e;
        e.kind = "metric";
        e.step = i;
        e.payload = "{\"thread\":" + std::to_string(t) + "}";
        REQUIRE(store->AppendEvents(t % 2 ? a : b, {e, e}).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (std::int64_t job : {a, b}) {
    const std::vector<Event> all = store->Events(job, 0, 1000).value();
    REQUIRE(all.size() == 101);  // the QUEUED event + 2 threads x 25 x 2
    for (std::size_t i = 0; i < all.size(); ++i) {
      CHECK(all[i].seq == static_cast<std::int64_t>(i + 1));
    }
    CHECK(store->LastSeq(job).value() == 101);
  }
  // Replay from a sequence number, in pages.
  const std::vector<Event> page = store->Events(a, 90, 5).value();
  REQUIRE(page.size() == 5);
  CHECK(page.front().seq == 91);
  CHECK(store->Events(a, 101, 5).value().empty());
  CHECK(store->AppendEvents(999, {Event{}}).status().code() == StatusCode::kNotFound);
}

TEST_CASE("Imported worker events and their file offset commit together", "[unit][store]") {
  TempDir dir;
  const std::string path = dir.path + "/state.db";
  std::int64_t id = 0;
  {
    auto store = OpenOk(path);
    id = store->CreateJob(Spec("a")).value();
    REQUIRE(store->SetWorker(id, 4242, "cpu:0", "secret").ok());
    Event e;
    e.kind = "metric";
    e.step = 1;
    e.payload = "{}";
    CHECK(store->ImportEvents(id, {e, e}, 120).value() == 3);
    REQUIRE(store->RequestCancel(id).ok());
  }
  auto store = OpenOk(path);
  const Job job = store->GetJob(id).value();
  CHECK(job.pid == 4242);
  CHECK(job.events_offset == 120);
  CHECK(job.worker_seq == 2);  // two lines of the worker's file
  CHECK(job.worker_token == "secret");
  CHECK(job.assigned == "cpu:0");
  CHECK(job.cancel_requested);
  CHECK(store->LastSeq(id).value() == 3);
  // A failed import leaves the offset as it was.
  CHECK_FALSE(store->ImportEvents(999, {Event{}}, 7).ok());
  CHECK(store->GetJob(id)->events_offset == 120);
}

TEST_CASE("A running job's activity is the worker's latest, until its state changes",
          "[unit][store]") {
  TempDir dir;
  auto store = OpenOk(dir.path + "/state.db");
  const std::int64_t id = store->CreateJob(Spec("a")).value();
  REQUIRE(store->Transition(id, JobState::kStarting, "").ok());
  Event log;
  log.kind = "log";
  log.payload = "{}";
  // The worker may speak before the daemon marks it RUNNING: becoming RUNNING keeps it.
  REQUIRE(store->ImportEvents(id, {log}, 10, "downloading").ok());
  REQUIRE(store->Transition(id, JobState::kRunning, "pid 1").ok());
  CHECK(store->GetJob(id)->activity == "downloading");
  REQUIRE(store->ImportEvents(id, {log}, 20).ok());  // nothing said: unchanged
  CHECK(store->GetJob(id)->activity == "downloading");
  REQUIRE(store->ImportEvents(id, {log}, 30, "running").ok());
  CHECK(store->GetJob(id)->activity == "running");
  REQUIRE(store->Transition(id, JobState::kSucceeded, "").ok());
  CHECK(store->GetJob(id)->activity.empty());
}

TEST_CASE("A version 1 state file is migrated in place, its jobs kept", "[unit][store]") {
  TempDir dir;
  const std::string path = dir.path + "/v1.db";
  // The schema as the first release wrote it, with one job.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  const char* v1 =
      "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, uid INTEGER "
      "NOT NULL, user TEXT NOT NULL, priority INTEGER NOT NULL, devices INTEGER NOT NULL, "
      "manifest TEXT NOT NULL, base_dir TEXT NOT NULL, run_dir TEXT NOT NULL, state TEXT NOT "
      "NULL, reason TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0, pid INTEGER "
      "NOT NULL DEFAULT 0, events_offset INTEGER NOT NULL DEFAULT 0, cancel_requested INTEGER "
      "NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
      "CREATE TABLE events (job_id INTEGER NOT NULL REFERENCES jobs(id), seq INTEGER NOT NULL, "
      "kind TEXT NOT NULL, step INTEGER NOT NULL, payload TEXT NOT NULL, time TEXT NOT NULL, "
      "PRIMARY KEY (job_id, seq)) WITHOUT ROWID;"
      "INSERT INTO jobs (name, uid, user, priority, devices, manifest, base_dir, run_dir, state, "
      "created_at, updated_at) VALUES ('old', 7, 'u7', 0, 1, 'name: old', '/', '/r', 'CANCELLED', "
      "'t', 't');"
      "PRAGMA user_version = 1;";
  REQUIRE(sqlite3_exec(db, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenOk(path);
  CHECK(store->SchemaVersion().value() == Store::CurrentSchema());
  const Job old = store->GetJob(1).value();
  CHECK(old.spec.name == "old");
  CHECK(old.state == JobState::kCancelled);
  CHECK(old.resume_from.empty());
  CHECK(old.spec.gid == 0);
  CHECK(old.spec.device_kind == "cpu");
  REQUIRE(store->SetResumeFrom(1, "/r/checkpoints/step-5").ok());
  CHECK(store->GetJob(1)->resume_from == "/r/checkpoints/step-5");
}

TEST_CASE("Retention deletes ended jobs older than the cutoff with their events", "[unit][store]") {
  TempDir dir;
  auto store = OpenOk(dir.path + "/state.db");
  const std::int64_t done = store->CreateJob(Spec("done")).value();
  const std::int64_t waiting = store->CreateJob(Spec("waiting")).value();
  const std::int64_t running = store->CreateJob(Spec("running")).value();
  REQUIRE(store->Transition(done, JobState::kCancelled, "test").ok());
  REQUIRE(store->Transition(running, JobState::kStarting, "test").ok());
  // Nothing ended before the epoch.
  CHECK(store->PurgeEnded("1970-01-01T00:00:00Z").value().empty());
  const std::vector<Job> gone = store->PurgeEnded("9999-01-01T00:00:00Z").value();
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].id == done);
  CHECK(store->GetJob(done).status().code() == StatusCode::kNotFound);
  CHECK(store->Events(done, 0, 100).value().empty());
  CHECK(store->GetJob(waiting).ok());
  CHECK(store->GetJob(running).ok());
}

// 2031-05-06T07:08:09Z.
std::chrono::system_clock::time_point May2031() {
  return std::chrono::system_clock::from_time_t(1935817689);
}

TEST_CASE("Jobs and their events are stamped with the store's clock", "[unit][store]") {
  TempDir dir;
  ManualClock clock(May2031());
  auto store = std::move(Store::Open(dir.path + "/state.db", clock)).value();
  const std::int64_t id = store->CreateJob(Spec("j")).value();
  Job job = store->GetJob(id).value();
  CHECK(job.created_at == "2031-05-06T07:08:09Z");
  CHECK(job.updated_at == "2031-05-06T07:08:09Z");
  clock.Advance(std::chrono::seconds(90));
  REQUIRE(store->Transition(id, JobState::kCancelled, "test").ok());
  job = store->GetJob(id).value();
  CHECK(job.created_at == "2031-05-06T07:08:09Z");
  CHECK(job.updated_at == "2031-05-06T07:09:39Z");
  const std::vector<Event> events = store->Events(id, 0, 10).value();
  REQUIRE(events.size() == 2);
  CHECK(events[0].time == "2031-05-06T07:08:09Z");
  CHECK(events[1].time == "2031-05-06T07:09:39Z");
  // Retention compares against those times: ended at 07:09:39, so not before 07:09:39.
  CHECK(store->PurgeEnded("2031-05-06T07:09:39Z").value().empty());
  CHECK(store->PurgeEnded("2031-05-06T07:09:40Z").value().size() == 1);
}

TEST_CASE("A damaged or newer state file is refused with the reason", "[unit][store]") {
  TempDir dir;
  std::ofstream(dir.path + "/junk.db") << "this is not a database, just some text that is long "
                                          "enough to fill the sqlite header and more of it......";
  Result<std::unique_ptr<Store>> junk = Store::Open(dir.path + "/junk.db");
  CHECK(junk.status().code() == StatusCode::kDataLoss);
  CHECK(junk.status().message().find("is not an entrenar state database") != std::string::npos);
  OpenOk(dir.path + "/new.db").reset();
  // Pretend a newer entrenard wrote it.
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open((dir.path + "/new.db").c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  Result<std::unique_ptr<Store>> newer = Store::Open(dir.path + "/new.db");
  CHECK(newer.status().code() == StatusCode::kFailedPrecondition);
  CHECK(newer.status().message().find("has schema version 99, written by a newer entrenard") !=
        std::string::npos);
}

}  // namespace
}  // namespace entrenar::store
