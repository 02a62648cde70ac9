#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "entrenar/base/clock.h"
#include "entrenar/base/status.h"
#include "entrenar/devices/devices.h"
#include "entrenar/store/store.h"
#include "entrenar/supervisor/oom.h"
#include "entrenar/supervisor/plan.h"

namespace entrenar::supervisor {

struct Config {
  std::string worker_binary;  // `entrenar-train`; a worker is `entrenar-train train --events ...`
  std::vector<devices::Device> devices;  // what jobs are scheduled on
  // A root daemon runs each worker as the job's owner (uid, gid and groups) before it touches
  // any file; otherwise workers run as the daemon's user.
  bool run_as_owner = false;
  std::chrono::milliseconds poll{10};  // how often workers' event files are looked at
  std::chrono::seconds grace{60};      // SIGTERM -> checkpoint -> exit, else SIGKILL after this
  std::chrono::hours retention{0};     // ended jobs older than this are forgotten (0: never)
  std::string report_target;  // where workers stream their events ("unix:/run/...sock"); "": none
  bool allow_custom_callbacks = false;  // else workers get ENTRENAR_CUSTOM_CALLBACKS=off
  std::string nvml_library;             // workers' ENTRENAR_NVML_LIBRARY, for GPU metrics
  // Preemption (config::Preemption): queued jobs of this priority or more may stop running jobs
  // of lower priority (none: no preemption), while their owner runs fewer than this many jobs
  // (0: no limit).
  std::optional<std::int64_t> preempt_priority;
  std::int64_t preempt_max_running_per_user = 0;
};

// One schedulable device and the job on it (0: free).
struct Slot {
  devices::Device device;
  std::int64_t job_id = 0;
};

// Runs queued jobs as worker processes on free slots, stores the events their workers send
// (Receive), notices how they end, and stops them on request. Everything it reads from a run
// directory (the events a dead worker did not send, summary.json, the log tail, checkpoints)
// it reads as the job's owner, bounded, through run/owner_files.h: a run directory is its
// owner's, untrusted input. Thread-safe: the loop runs on its own thread; Receive, Cancel and
// the accessors are called from gRPC threads. Higher priority first; among equals, the
// owner with the fewest running jobs, then the oldest.
// Workers run in their own session, so they outlive the daemon; a restarted supervisor adopts
// the ones still alive and requeues (to resume from their last checkpoint) those that died.
class Supervisor {
 public:
  // `clock` (which must outlive it) is what grace and retention periods are measured on.
  Supervisor(store::Store& store, Config config, const Clock& clock = SystemClock());
  ~Supervisor();  // stops the loop; workers keep running
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  void Start();
  void Stop();
  void Poke();  // something changed (a submit, a cancel): look again now

  // How many devices of `kind` ("gpu", "cpu") jobs can use.
  std::int64_t Count(const std::string& kind) const;
  std::vector<Slot> SlotStates();
  // Every queued job in the order it will start, with why it waits.
  std::vector<Decision> ExplainQueue();

  // A worker's report (WorkerService): lines of its events.jsonl numbered from `first_seq`,
  // `file_offset` the byte offset after them. Stores the ones not stored yet; `acked` and
  // `acked_offset` say how far the store has the file. No lines: a worker (re)connecting asks
  // where to start. kPermissionDenied for a wrong token, kFailedPrecondition for a gap.
  Status Receive(std::int64_t job_id, const std::string& token, std::int64_t first_seq,
                 const std::vector<std::string>& lines, std::int64_t file_offset,
                 std::int64_t* acked, std::int64_t* acked_offset);

  // A QUEUED (or INTERRUPTED, PREEMPTED) job is cancelled at once; a running one gets SIGTERM
  // (SIGKILL with `force`, or when the grace period ends) and becomes CANCELLED when its worker
  // exits.
  Status Cancel(std::int64_t job_id, bool force, const std::string& by);

 private:
  struct Worker {
    std::int64_t pid = 0;
    std::uint32_t uid = 0;  // the job's owner, for fair share
    std::string user;       // and by name, with its priority, for the queue's explanations
    std::int64_t priority = 0;
    std::int64_t started = 0;  // the order workers were started or adopted in (preemption)
    bool child = true;         // false: adopted from an earlier daemon (no exit status)
    std::vector<std::size_t> slots;
    // On clock_'s monotonic time: the first SIGTERM, the last SIGKILL after the grace, the last
    // look at its events file.
    std::optional<std::chrono::steady_clock::time_point> term_sent, kill_sent, looked;
    bool read_error_noted = false;  // its events file could not be read, and the job says so
    // It has ended (its wait status; adopted workers have none) but the store could not take its
    // last events or its end yet (a full disk): the next passes try again, slots held till then.
    std::optional<int> ended;
    bool end_deferred = false;
    OomWatch oom;                 // the out-of-memory kill counts when it started
    Progress progress;            // its metric events, for the queue's estimates
    std::int64_t progressed = 0;  // how many batches of them were seen
  };
  // What an import of a job's events file came to.
  struct Imported {
    Status read;    // why the file could not be read (a symlink, a FIFO, no permission); OK else
    Status stored;  // why the store did not take its lines (a full disk): import again later
    bool more = false;  // more lines than one call takes (64 MiB) were there
  };

  void Loop();
  void Tick();
  void Adopt();
  void ScheduleQueued();
  // The plan for the queue as it is now (`queued` in store order).
  std::vector<Decision> Plan(const std::vector<store::Job>& queued);
  void Preempt(std::int64_t id, const Decision& by);
  Status Spawn(const store::Job& job, std::vector<std::size_t> slots);
  // Imports the complete new lines of the job's events.jsonl (as its owner).
  Imported ImportFile(std::int64_t id);
  // Stores `read`'s reason as a log event of job `id` (nothing when it is OK).
  void NoteReadError(std::int64_t id, const Status& read);
  void Note(std::int64_t id, const std::string& text);  // a log event of job `id`
  // Notes the latest metric event among job `id`'s stored `events` in its worker's progress.
  void NoteProgress(std::int64_t id, const std::vector<store::Event>& events);
  void Reap();
  // Whether the worker has ended, with its wait status when it was our child; kills it once the
  // grace period after a cancel has passed.
  bool Exited(std::int64_t id, const Worker& w, int* status);
  // Stores how the ended worker's job ended and frees its slots; the store's error when it could
  // not take it (the worker is kept, and the next pass tries again).
  Status Finish(std::int64_t id, const Worker& w);
  // A job preempted, or interrupted by a lost rank, back to the queue (it resumes from its
  // newest checkpoint); an interrupted one FAILED once it has been interrupted
  // kMaxInterruptions times (preemptions do not count).
  Status Requeue(const store::Job& job, store::JobState from);
  static constexpr std::int64_t kMaxInterruptions = 3;
  void Purge();  // retention

  store::Store& store_;
  Config config_;
  const Clock& clock_;
  devices::FreeMemory free_memory_;  // GPUs' free memory, for jobs that need some
  std::mutex import_mu_;             // one import at a time: from files, or from WorkerService
  std::mutex mu_;                    // guards workers_, slots_, stop_
  std::condition_variable wake_;
  std::map<std::int64_t, Worker> workers_;
  std::vector<std::int64_t> slots_;  // job per device of config_.devices (0: free)
  bool stop_ = false;
  bool schedule_due_ = true;  // a submit, a cancel or a finished job: look at the queue
  std::int64_t ticks_ = 0;    // the loop thread's only
  std::int64_t started_ = 0;  // workers started or adopted (Worker::started); under mu_
  std::optional<std::chrono::steady_clock::time_point> purged_;  // the loop thread's only
  std::thread thread_;
};

}  // namespace entrenar::supervisor
