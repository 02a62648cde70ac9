#pragma once

#include <cstdint>
#include <map>
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
};

// A running job, as the queue's explanations name it.
struct Holder {
  std::string user;
  std::int64_t priority = 0;
};

// A device and the job on it (0: free).
struct DeviceUse {
  std::string kind;
  std::string name;
  std::int64_t job_id = 0;
};

// What happens to one queued job now: it starts on `devices` (indices into the device list), or
// it waits and `why` says why: the first waiting job of a kind names the jobs holding the devices
// it needs ("needs 4 GPUs; 2 of 4 free; job 12 (alice, priority 5) holds 2 until it ends").
struct Decision {
  std::int64_t job_id = 0;
  std::string kind;
  std::vector<std::size_t> devices;  // empty: it waits
  std::string why;
  std::int64_t position = 0;  // waiting jobs: 1 starts next (per kind of device)
};

// The scheduling policy, free of processes and clocks. `queued` is in store order (priority
// descending, then id). Each kind of device (GPUs, CPU slots) is its own queue: higher priority
// first; among equal priorities the owner with the fewest running jobs (`running`, by uid), then
// the oldest. A job that does not fit waits, and so does every job behind it on the same kind of
// device (no backfill: a big job is never starved by small ones).
// `holders` describes the running jobs of `devices` (by job id).
std::vector<Decision> PlanQueue(const std::vector<QueuedJob>& queued,
                                const std::vector<DeviceUse>& devices,
                                std::map<std::uint32_t, std::int64_t> running,
                                std::map<std::int64_t, Holder> holders = {});

}  // namespace entrenar::supervisor
