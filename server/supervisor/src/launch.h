#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/supervisor/supervisor.h"

namespace entrenar::supervisor {

// Everything a worker's process needs, prepared before fork: between fork and exec the child
// makes system calls only (the daemon is multi-threaded).
struct Launch {
  std::vector<std::string> args;  // args[0]: the binary
  std::vector<std::string> env;   // NAME=VALUE
  std::string run_dir;            // created with its parents, and run_dir/logs
  std::string manifest_path;      // written (temporary name, then rename) unless it exists
  std::string manifest_text;
  std::string log_path;  // the worker's stdout and stderr
  // Become this user before touching any file (a root daemon running a user's job).
  bool become = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// The environment of a worker: the daemon's, with the devices it may use
// (`CUDA_VISIBLE_DEVICES`, NVML/PCI order; empty for CPU slots) and, when it runs as another
// user, that user's HOME, USER and LOGNAME.
std::vector<std::string> WorkerEnv(const Config& config, const std::string& cuda_visible,
                                   const std::string& user, const std::string& home);

// Fills become/uid/gid/groups for the user `uid` (its primary group when `gid` is 0).
Status BecomeOwner(std::uint32_t uid, std::uint32_t gid, Launch* launch, std::string* user,
                   std::string* home);

// Forks and execs the worker in its own session. `forked` is called with the child's pid before
// the child does anything (to store it): the child goes on only once it returned OK, and exits
// if the daemon dies first, so that no worker runs that a restarted daemon cannot know of.
// Returns the pid once exec succeeded; `forked`'s error, or a step that failed in the child
// (creating the run directory as the owner, say), is the error.
Result<pid_t> StartWorker(const Launch& launch, const std::function<Status(pid_t)>& forked);

}  // namespace entrenar::supervisor
