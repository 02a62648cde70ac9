// Callback scheduling and custom callback commands (no LibTorch here).
#include "entrenar/engine/callbacks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

extern char** environ;

namespace entrenar::engine {

std::optional<Trigger> ParseTrigger(std::string_view name) {
  if (name == "step") return Trigger::kStep;
  if (name == "epoch_end") return Trigger::kEpochEnd;
  if (name == "validation_end") return Trigger::kValidationEnd;
  if (name == "train_end") return Trigger::kTrainEnd;
  return std::nullopt;
}

std::string_view TriggerName(Trigger t) {
  switch (t) {
    case Trigger::kStep:
      return "step";
    case Trigger::kEpochEnd:
      return "epoch_end";
    case Trigger::kValidationEnd:
      return "validation_end";
    case Trigger::kTrainEnd:
      return "train_end";
  }
  return "";
}

bool CallbackDue(const manifest::CallbackConfig& cb, Trigger t, std::int64_t count) {
  if (ParseTrigger(cb.trigger) != t) return false;
  if (t == Trigger::kTrainEnd) return true;
  const std::int64_t interval = std::max<std::int64_t>(cb.interval, 1);
  return count > 0 && count % interval == 0;
}

namespace {

// Writes `input` to `fd` and closes it, on its own thread (a command may not read its stdin).
// SIGPIPE is blocked on that thread, so a command that exits early is EPIPE, not our death.
std::thread Feed(int fd, std::string input) {
  return std::thread([fd, input = std::move(input)] {
    sigset_t pipe_signal;
    sigemptyset(&pipe_signal);
    sigaddset(&pipe_signal, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
    std::size_t at = 0;
    while (at < input.size()) {
      const ssize_t n = write(fd, input.data() + at, input.size() - at);
      if (n <= 0 && errno != EINTR) break;
      if (n > 0) at += static_cast<std::size_t>(n);
    }
    close(fd);
    const timespec zero{};
    while (sigtimedwait(&pipe_signal, nullptr, &zero) == SIGPIPE) {
    }
  });
}

// The environment with `extra` set, as execve wants it.
std::vector<std::string> Environment(const std::map<std::string, std::string>& extra) {
  std::vector<std::string> out;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    if (!extra.count(entry.substr(0, entry.find('=')))) out.push_back(entry);
  }
  for (const auto& [k, v] : extra) out.push_back(k + "=" + v);
  return out;
}

int Wait(pid_t pid, std::chrono::milliseconds timeout, bool* timed_out) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline && !*timed_out) {
      *timed_out = true;
      kill(-pid, SIGTERM);
      std::this_thread::sleep_for(std::chrono::seconds(2));
      kill(-pid, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input,
                         const std::map<std::string, std::string>& env,
                         std::chrono::milliseconds timeout, const std::string& log_path,
                         const std::string& cwd) {
  CommandResult result;
  if (argv.empty()) {
    result.error = "an empty command";
    return result;
  }
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) {
    result.error = "cannot write " + log_path + ": " + std::strerror(errno);
    return result;
  }
  int in[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    close(log);
    result.error = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  // Everything the child needs is built here: between fork and exec it may only make system
  // calls (LibTorch's threads may hold the allocator's locks).
  std::vector<char*> args, envp;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const std::vector<std::string> environment = Environment(env);
  for (const std::string& e : environment) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(in[0], STDIN_FILENO);
    dup2(log, STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) {
      const int code = errno;
      (void)!write(err[1], &code, sizeof(code));
      _exit(127);
    }
    execvpe(args[0], args.data(), envp.data());
    const int code = errno;
    (void)!write(err[1], &code, sizeof(code));
    _exit(127);
  }
  close(in[0]);
  close(err[1]);
  close(log);
  if (pid < 0) {
    close(in[1]);
    close(err[0]);
    result.error = std::string("fork: ") + std::strerror(errno);
    return result;
  }
  setpgid(pid, pid);
  std::thread feeder = Feed(in[1], input);
  int code = 0;
  const bool exec_failed = read(err[0], &code, sizeof(code)) == sizeof(code);
  close(err[0]);
  result.exit_code = Wait(pid, timeout, &result.timed_out);
  feeder.join();
  if (exec_failed) result.error = "cannot run " + argv[0] + ": " + std::strerror(code);
  return result;
}

}  // namespace entrenar::engine
