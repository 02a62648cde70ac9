#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/base/clock.h"
#include "entrenar/base/status.h"

namespace entrenar::store {

// The job lifecycle (DESIGN.md): QUEUED -> STARTING -> RUNNING -> SUCCEEDED | FAILED | CANCELLED |
// HALTED, plus INTERRUPTED (lost mid-run) and PREEMPTED (stopped for a job of higher priority),
// both requeued at once to resume from their last checkpoint.
enum class JobState {
  kQueued,
  kStarting,
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled,
  kHalted,
  kInterrupted,
  kPreempted
};

std::string_view StateName(JobState s);  // "QUEUED", ...
std::optional<JobState> ParseState(std::string_view name);
bool IsTerminal(JobState s);
// Whether the lifecycle allows going from `from` to `to`.
bool CanTransition(JobState from, JobState to);

// What a submission asks for.
struct JobSpec {
  std::string name;
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;  // the owner's primary group: a root daemon runs the worker as uid:gid
  std::string user;
  std::int64_t priority = 0;
  std::int64_t devices = 1;         // devices (GPUs or CPU slots) the job needs
  std::string device_kind = "cpu";  // "gpu" or "cpu": which devices
  std::string pinned;    // exactly these devices ("cuda:0,cuda:2"); "": any `devices` of the kind
  std::string manifest;  // the resolved manifest (YAML)
  std::string base_dir;  // where its relative paths resolve (the client's directory)
  std::string run_dir;
  bool strict = false;  // the manifest is a lock file: each attempt checks its hashes first
  std::int64_t gpu_memory_bytes = 0;  // free memory it needs on each of its GPUs (0: any)
};

struct Job {
  std::int64_t id = 0;
  JobSpec spec;
  JobState state = JobState::kQueued;
  std::string reason;  // why it is in this state (an error, a signal, "cancelled by uid 1000")
  std::string created_at, updated_at;  // UTC ISO-8601
  std::int64_t attempts = 0;
  std::int64_t pid = 0;            // the running worker's process id
  std::int64_t events_offset = 0;  // bytes of the worker's events.jsonl already imported
  bool cancel_requested = false;
  std::string assigned;         // the devices of the running attempt ("cuda:0,cuda:1")
  std::string worker_token;     // the running attempt's secret for WorkerService
  std::int64_t worker_seq = 0;  // lines of events.jsonl stored (the worker numbers them from 1)
  std::string resume_from;      // the checkpoint the next attempt starts from ("" : the last one)
  std::string activity;  // what the running attempt's worker last said it does ("downloading")
  std::int64_t preempted_by = 0;  // the queued job it was asked to stop for (0: none)
};

// One event of a job, numbered 1, 2, ... in the order it was stored.
struct Event {
  std::int64_t job_id = 0;
  std::int64_t seq = 0;
  std::string kind;  // log, metric, validation, alert, checkpoint, state
  std::int64_t step = 0;
  std::string payload;  // JSON
  std::string time;
};

// The payload of a `state` event: {"state":"RUNNING","reason":"..."}, any text in the reason
// (control characters escaped, bytes that are not UTF-8 replaced). Its one writer and reader.
std::string StatePayload(JobState to, const std::string& reason);
// The state a `state` event's payload names; nullopt for anything else.
std::optional<JobState> StateOfPayload(const std::string& payload);

struct JobFilter {
  std::optional<JobState> state;
  std::optional<std::uint32_t> uid;
  std::int64_t after_id = 0;  // paging: jobs with a larger id
  std::int64_t limit = 100;
};

// Jobs, their state changes and events in one SQLite file (WAL mode, versioned migrations).
// Every state change is committed, with its `state` event, before the call returns. Thread-safe.
class Store {
 public:
  // Opens or creates `path` and migrates it to the current schema. A file written by a newer
  // version is refused (kFailedPrecondition), a file that is not a database is kDataLoss. Times
  // stored (a job's `created_at` and `updated_at`, an event's time when it has none) are
  // `clock`'s, which must outlive the store.
  static Result<std::unique_ptr<Store>> Open(const std::string& path,
                                             const Clock& clock = SystemClock());
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Called after each commit with the events it stored (numbered, in order), under the store's
  // lock: it must be quick and must not call the store. Set it before other threads use the
  // store.
  using Observer = std::function<void(const std::vector<Event>&)>;
  void SetObserver(Observer observer);

  static int CurrentSchema();
  Result<int> SchemaVersion();

  // Stores a new QUEUED job and its first `state` event; returns its id.
  Result<std::int64_t> CreateJob(const JobSpec& spec);
  Result<Job> GetJob(std::int64_t id);
  Result<std::vector<Job>> ListJobs(const JobFilter& filter);
  // How many jobs are in `state`.
  Result<std::int64_t> CountJobs(JobState state);
  // How many times job `id` has entered `state` (its state events).
  Result<std::int64_t> CountStates(std::int64_t id, JobState state);
  // The job, not yet ended, whose run directory is `run_dir` (the oldest if several), or nullopt.
  Result<std::optional<Job>> ActiveJobIn(const std::string& run_dir);
  // The first `limit` QUEUED jobs in the order they start: higher priority first, then older.
  Result<std::vector<Job>> NextQueued(std::int64_t limit);
  // Moves a job to `to` with `reason`, appending a `state` event. kFailedPrecondition when the
  // lifecycle does not allow it (a finished job cannot run again); kNotFound for no such job.
  // Returns the job as it now is.
  Result<Job> Transition(std::int64_t id, JobState to, const std::string& reason);
  // Counts a new attempt (a start or a resume).
  Status AddAttempt(std::int64_t id);
  // Records the worker process running the job (0: none), its devices and its secret.
  Status SetWorker(std::int64_t id, std::int64_t pid, const std::string& assigned = "",
                   const std::string& token = "");
  // The checkpoint directory the next attempt resumes from ("" : the newest).
  Status SetResumeFrom(std::int64_t id, const std::string& checkpoint);
  // Marks that the job's owner asked it to stop.
  Status RequestCancel(std::int64_t id);
  // Marks that the job was asked to stop so that job `by` can start (preemption); queuing it
  // again clears the mark.
  Status RequestPreempt(std::int64_t id, std::int64_t by);
  // Appends events read from the worker's event file (one per line) and the file offset after
  // them, counting the lines in worker_seq, in one transaction, so each line is stored exactly
  // once whichever way it arrives, and the worker's latest `activity` among them when not "" (a
  // change of state but to RUNNING clears it). Returns the last seq.
  Result<std::int64_t> ImportEvents(std::int64_t job_id, const std::vector<Event>& events,
                                    std::int64_t new_offset, const std::string& activity = "");

  // Appends events in one transaction, numbering them after the job's last; returns the last
  // sequence number given.
  Result<std::int64_t> AppendEvents(std::int64_t job_id, const std::vector<Event>& events);
  // Events with seq > after_seq, oldest first, at most `limit`.
  Result<std::vector<Event>> Events(std::int64_t job_id, std::int64_t after_seq,
                                    std::int64_t limit);
  Result<std::int64_t> LastSeq(std::int64_t job_id);

  // Retention: deletes the jobs that ended before `before` (UTC ISO-8601) and their events;
  // returns them (their run directories are the caller's).
  Result<std::vector<Job>> PurgeEnded(const std::string& before);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace entrenar::store
