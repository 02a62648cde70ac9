#include "subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

namespace entrenar::testing {

int TimeLimit(int seconds) {
#if defined(__SANITIZE_ADDRESS__)
  return seconds * 4;
#else
  return seconds;
#endif
}

ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input,
                         int timeout_seconds, const std::string& cwd) {
  ProcessResult result;
  int in_pipe[2], out_pipe[2], err_pipe[2];
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0 || pipe(err_pipe) != 0) return result;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
      close(fd);
    }
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(127);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  // Small inputs fit the pipe buffer; larger ones are not needed by the tests.
  if (!input.empty()) {
    const ssize_t written = write(in_pipe[1], input.data(), input.size());
    (void)written;
  }
  close(in_pipe[1]);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(TimeLimit(timeout_seconds));
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const std::string& out_path, const std::string& err_path) {
  pid_ = fork();
  if (pid_ == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void BackgroundProcess::Signal(int signo) {
  if (pid_ > 0) kill(pid_, signo);
}

int BackgroundProcess::Wait(int timeout_seconds) {
  const std::optional<int> status = WaitStatus(timeout_seconds);
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

std::optional<int> BackgroundProcess::WaitStatus(int timeout_seconds) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(TimeLimit(timeout_seconds));
  while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    poll(nullptr, 0, 20);
  }
  return std::nullopt;
}

bool WaitForPath(const std::string& path, int timeout_seconds) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(TimeLimit(timeout_seconds));
  while (!std::filesystem::exists(path) && std::chrono::steady_clock::now() < deadline) {
    poll(nullptr, 0, 20);
  }
  return std::filesystem::exists(path);
}

std::vector<int> ChildrenOf(int parent) {
  std::vector<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path().string() + "/stat");
    std::string pid, comm, state;
    int ppid = 0;
    stat >> pid >> comm >> state >> ppid;
    if (ppid == parent) out.push_back(std::stoi(name));
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace entrenar::testing
