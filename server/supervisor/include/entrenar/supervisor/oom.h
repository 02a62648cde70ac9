#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace entrenar::supervisor {

// Tells an out-of-memory kill from any other SIGKILL by the kernel's own counts: the oom_kill
// count of the worker's memory cgroup (cgroup v2 `memory.events`, v1 `memory.oom_control`, read
// where /proc/PID/cgroup places it) and the machine's (`/proc/vmstat`). Taken when a worker
// starts and looked at again when it was killed.
struct OomWatch {
  std::string cgroup_dir;          // the worker's memory cgroup; empty when unknown
  std::int64_t cgroup_kills = -1;  // its oom_kill count when the worker started (-1: unknown)
  std::int64_t system_kills = -1;  // the machine's
};

// `proc` and `cgroup_root` are /proc and /sys/fs/cgroup but for tests.
OomWatch WatchOom(pid_t pid, const std::string& proc = "/proc",
                  const std::string& cgroup_root = "/sys/fs/cgroup");

// Why the worker watched by `start` was killed, when a count rose since: "the worker was killed
// by the out-of-memory killer: its memory cgroup /x is limited to 512 MiB" (or "the machine ran
// out of memory"), with what to do; "" when neither rose (another SIGKILL).
std::string OomReason(const OomWatch& start, const std::string& proc = "/proc");

}  // namespace entrenar::supervisor
