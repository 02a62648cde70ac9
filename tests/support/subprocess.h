#pragma once

#include <optional>
#include <string>
#include <vector>

namespace entrenar::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or not started
  std::string out;
  std::string err;
};

// A time limit in seconds, for this build: sanitized builds run our code several times slower,
// so every limit the tests set (process runs, waits for a job's state) is scaled here, once.
int TimeLimit(int seconds);

// Waits up to `timeout_seconds` (scaled by TimeLimit) for `path` to exist; whether it does.
bool WaitForPath(const std::string& path, int timeout_seconds);

// The processes whose parent is `parent`, from /proc, in increasing pid order.
std::vector<int> ChildrenOf(int parent);

// Runs `argv` (argv[0] is a path), feeding `input` on stdin, with a time limit (scaled by
// TimeLimit). Returns its exit code and everything it printed.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "",
                         int timeout_seconds = 60, const std::string& cwd = "");

// A child process running in the background, its output going to files. Killed (SIGKILL) and
// reaped on destruction if still running.
class BackgroundProcess {
 public:
  // Starts `argv`, writing its stdout and stderr to `out_path` and `err_path`.
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& out_path,
                    const std::string& err_path);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  void Signal(int signo);
  int pid() const { return pid_; }
  // Waits up to `timeout_seconds` (scaled by TimeLimit) for it to exit; returns its exit code, or
  // -1 for a signal or when it is still running (it is then killed).
  int Wait(int timeout_seconds);
  // Waits up to `timeout_seconds` (scaled by TimeLimit) for it to exit; its wait status, or
  // nothing while it still runs (it is left running).
  std::optional<int> WaitStatus(int timeout_seconds);

 private:
  int pid_ = -1;
};

}  // namespace entrenar::testing
