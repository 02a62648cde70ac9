#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace entrenar::supervisor {

// A waiting job, as the scheduler sees it.
struct QueuedJob {
  std::int64_t id = 0;
  std::uint32_t uid = 0;
  std::int64_t priority = 0;
  std::int64_t devices = 1;
  std::string kind = "cpu";         // "gpu" or "cpu"
  std::vector<std::string> pinned;  // exactly these devices, by name (empty: any)
  std::string user;                 // its owner's name, for the queue's explanations
  bool may_preempt = false;  // it may stop running jobs of lower priority (the daemon's config)
  std::int64_t memory = 0;   // free memory it needs on each GPU (0: any)
};

// A running job, as the queue's explanations and preemption see it.
struct Holder {
  std::string user;
  std::int64_t priority = 0;
  bool stopping = false;     // asked to stop (cancelled or preempted): its devices come free
  std::int64_t started = 0;  // larger: started later (it has less work to lose)
  // Seconds until it ends, estimated from its progress (Remaining); none: no estimate yet.
  std::optional<double> remaining;
};

// What the daemon has seen of a running job's progress: its metric events' steps and budgets,
// and when (its clock, in seconds) the first and latest of this attempt arrived.
struct Progress {
  std::int64_t first_step = 0, last_step = 0;
  double first_at = 0, last_at = 0;
  std::int64_t total_steps = 0;    // 0: a time budget instead (or not known)
  double elapsed_seconds = 0;      // under a time budget
  double time_budget_seconds = 0;  // 0: none
};

// Seconds until the job ends at `now` (on Progress's clock), from its time budget, or from its
// steps left at the rate seen so far; none before it has taken two steps' worth of events.
// Evaluation and saving at the end are not in it: it is an estimate.
std::optional<double> Remaining(const Progress& p, double now);

// "about 40 s", "about 12 min", "about 3 h 10 min".
std::string About(double seconds);

// A device and the job on it (0: free).
struct DeviceUse {
  std::string kind;
  std::string name;
  std::int64_t job_id = 0;
  std::optional<std::int64_t> free_memory = std::nullopt;  // a GPU's, where NVML tells
};

// What happens to one queued job now: it starts on `devices` (indices into the device list), or
// it waits and `why` says why: the first waiting job of a kind names the jobs holding the devices
// it needs ("needs 4 GPUs; 2 of 4 free; job 12 (alice, priority 5) holds 2 until it ends").
struct Decision {
  std::int64_t job_id = 0;
  std::string kind;
  std::vector<std::size_t> devices;  // empty: it waits
  std::string why;
  std::int64_t position = 0;          // waiting jobs: 1 starts next (per kind of device)
  std::vector<std::int64_t> preempt;  // running jobs to ask to stop so that it can start
  // The first waiting job of a kind: seconds until it is expected to start, from the remaining
  // time of the jobs whose devices it needs (Holder::remaining); none when one has no estimate.
  std::optional<double> starts_in;
};

// The daemon's preemption rule (config::Preemption): whether a queued job of `priority`, whose
// owner runs `running` jobs, may preempt: its priority is `min_priority` or more (none: no job
// may) and its owner runs fewer than `max_running` jobs (0: no limit).
bool MayPreempt(std::int64_t priority, std::int64_t running,
                std::optional<std::int64_t> min_priority, std::int64_t max_running);

// The scheduling policy, free of processes and clocks. `queued` is in store order (priority
// descending, then id). Each kind of device (GPUs, CPU slots) is its own queue: higher priority
// first; among equal priorities the owner with the fewest running jobs (`running`, by uid), then
// the oldest. A job that does not fit waits, and so does every job behind it on the same kind of
// device (no backfill: a big job is never starved by small ones).
// Preemption: when the first waiting job of a kind `may_preempt`, running jobs of strictly lower
// priority that are not stopping already are asked to stop (`preempt`) until, with the free
// devices and those of stopping jobs, it would fit: the lowest priority first, then the most
// recently started. None is asked when even all of them would not make room.
// The first waiting job of a kind also gets an estimate of when it starts (`starts_in`, and
// "expected to start in about 4 min" in `why`).
// `holders` describes the running jobs of `devices` (by job id).
std::vector<Decision> PlanQueue(const std::vector<QueuedJob>& queued,
                                const std::vector<DeviceUse>& devices,
                                std::map<std::uint32_t, std::int64_t> running,
                                std::map<std::int64_t, Holder> holders = {});

}  // namespace entrenar::supervisor
