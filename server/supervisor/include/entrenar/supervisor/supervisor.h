#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/store/store.h"

namespace entrenar::supervisor {

struct Config {
  std::string worker_binary;  // the `entrenar` binary; a worker is `entrenar train --events ...`
  std::int64_t cpu_slots = 2;
  std::chrono::milliseconds poll{10};  // how often workers' event files are looked at
  std::chrono::seconds grace{60};      // SIGTERM -> checkpoint -> exit, else SIGKILL after this
};

// One schedulable device (a CPU slot here) and the job on it (0: free).
struct Slot {
  std::string name;
  std::int64_t job_id = 0;
};

// Runs queued jobs as worker processes on free slots, imports their events into the store,
// notices how they end, and stops them on request. Higher priority first; among equals, the
// owner with the fewest running jobs, then the oldest.
// Workers run in their own session, so they outlive the daemon; a restarted supervisor adopts
// the ones still alive and requeues (to resume from their last checkpoint) those that died.
class Supervisor {
 public:
  Supervisor(store::Store& store, Config config);
  ~Supervisor();  // stops the loop; workers keep running
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  void Start();
  void Stop();
  void Poke();  // something changed (a submit, a cancel): look again now

  std::int64_t Slots() const { return config_.cpu_slots; }
  std::vector<Slot> SlotStates();

  // A QUEUED job is cancelled at once; a running one gets SIGTERM (SIGKILL with `force`, or when
  // the grace period ends) and becomes CANCELLED when its worker exits.
  Status Cancel(std::int64_t job_id, bool force, const std::string& by);

  // Returns when job `id` has events after `seq`, has ended, or `deadline` passed.
  void WaitForEvents(std::int64_t id, std::int64_t seq,
                     std::chrono::steady_clock::time_point deadline);

 private:
  struct Worker {
    std::int64_t pid = 0;
    std::uint32_t uid = 0;  // the job's owner, for fair share
    bool child = true;      // false: adopted from an earlier daemon (no exit status)
    std::vector<std::size_t> slots;
    std::chrono::steady_clock::time_point term_sent{};
    std::string events_path;
    std::int64_t imported = -1;  // bytes of events_path imported (-1: ask the store)
  };

  void Loop();
  void Tick();
  void Adopt();
  void ScheduleQueued();
  Status Spawn(const store::Job& job, std::vector<std::size_t> slots);
  // Imports the complete new lines of the job's events.jsonl; returns the offset after them.
  std::int64_t ImportEvents(const store::Job& job);
  void Reap();
  void Finish(std::int64_t id, Worker& w, bool exited, int status);
  void NotifyEvents();

  store::Store& store_;
  Config config_;
  std::mutex mu_;  // guards workers_, slots_, stop_
  std::condition_variable wake_;
  std::condition_variable events_;  // notified whenever events are imported or a job ends
  std::map<std::int64_t, Worker> workers_;
  std::vector<std::int64_t> slots_;  // job per slot (0: free)
  bool stop_ = false;
  bool schedule_due_ = true;
  std::int64_t ticks_ =
      0;  // the loop thread's only  // a submit, a cancel or a finished job: look at the queue
  std::thread thread_;
};

}  // namespace entrenar::supervisor
