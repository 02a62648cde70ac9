#include "ranks.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "entrenar/base/strings.h"
#include "entrenar/console/exit_codes.h"

namespace entrenar::worker {
namespace {

// `text`'s parts between commas.
std::vector<std::string> SplitComma(const std::string& text) {
  std::vector<std::string> parts(1);
  for (char c : text) {
    if (c == ',') {
      parts.emplace_back();
    } else {
      parts.back() += c;
    }
  }
  return parts;
}

std::atomic<int> g_forward{0};  // a signal to pass on to the ranks, 0 when none
extern "C" void OnLauncherSignal(int sig) { g_forward.store(sig); }

// The variable `name` as an integer in [min, max]; nullopt when unset.
Result<std::optional<long>> IntegerVariable(const char* name, long min, long max) {
  const char* text = std::getenv(name);
  if (!text || !*text) return std::optional<long>();
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) {
    return InvalidArgument(std::string(name) + "=" + text + ": expected an integer from " +
                           std::to_string(min) + " to " + std::to_string(max));
  }
  return std::optional<long>(v);
}

// A free TCP port on 127.0.0.1 (the kernel's choice; rank 0 binds it a moment later).
Result<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Internal("cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  if (!ok) return Internal("cannot find a free port on 127.0.0.1");
  return static_cast<int>(ntohs(addr.sin_port));
}

}  // namespace

std::string VisibleGpus(const std::vector<int>& gpus) {
  std::vector<std::string> seen;
  if (const char* v = std::getenv("CUDA_VISIBLE_DEVICES"); v && *v) seen = SplitComma(v);
  std::vector<std::string> out;
  for (int g : gpus) {
    out.push_back(static_cast<std::size_t>(g) < seen.size() ? seen[static_cast<std::size_t>(g)]
                                                            : std::to_string(g));
  }
  return Join(out, ",");
}

namespace {

// What a rank runs: its argv and environment, made before the fork (the child allocates
// nothing between fork and exec).
struct RankExec {
  std::vector<std::string> argv, env;
  std::vector<char*> argv_ptrs, env_ptrs;  // made by Seal, once the strings stay where they are

  void Seal() {
    for (std::string& a : argv) argv_ptrs.push_back(a.data());
    argv_ptrs.push_back(nullptr);
    for (std::string& e : env) env_ptrs.push_back(e.data());
    env_ptrs.push_back(nullptr);
  }
};

RankExec MakeRankExec(const std::vector<std::string>& args, const Topology& t, int local_rank,
                      const std::vector<int>& gpus) {
  RankExec x;
  x.argv.push_back("entrenar-train");
  x.argv.insert(x.argv.end(), args.begin(), args.end());
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::map<std::string, std::string> set = {
      {"RANK", std::to_string(t.node_rank * t.local + local_rank)},
      {"LOCAL_RANK", std::to_string(local_rank)},
      {"WORLD_SIZE", std::to_string(t.world())},
      {"LOCAL_WORLD_SIZE", std::to_string(t.local)},
      {"MASTER_ADDR", t.master_addr},
      {"MASTER_PORT", std::to_string(t.master_port)},
      // The machine's cores shared out (torchrun would give each rank one thread).
      {"ENTRENAR_RANK_THREADS",
       std::to_string(std::max(1u, cores / static_cast<unsigned>(t.local)))}};
  if (!gpus.empty()) set["CUDA_VISIBLE_DEVICES"] = VisibleGpus(gpus);
  for (char** e = environ; *e; ++e) {
    const std::string var(*e);
    const std::string name = var.substr(0, var.find('='));
    if (name == "TORCHELASTIC_USE_AGENT_STORE") continue;  // this launcher serves the store
    const auto it = set.find(name);
    if (it == set.end()) {
      x.env.push_back(var);
    } else if (name == "ENTRENAR_RANK_THREADS") {  // the user's choice stands
      x.env.push_back(var);
      set.erase(it);
    }
  }
  for (const auto& [name, value] : set) x.env.push_back(name + "=" + value);
  return x;
}

// In the child: become the rank and exec this program again. System calls only. Never returns.
[[noreturn]] void ExecRank(RankExec& x, int rank, pid_t launcher) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);                          // never outlive the launcher
  if (getppid() != launcher) _exit(console::kExitRankLost);  // it died before the prctl
  if (rank > 0) {
    const int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) dup2(null, STDOUT_FILENO);
  }
  execve("/proc/self/exe", x.argv_ptrs.data(), x.env_ptrs.data());
  static const char kCannot[] = "error: a rank cannot start /proc/self/exe\n";
  (void)!write(STDERR_FILENO, kCannot, sizeof(kCannot) - 1);
  _exit(console::kExitIo);
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return console::kExitRankLost;
}

std::string Ended(int rank, int status) {
  if (WIFEXITED(status))
    return "rank " + std::to_string(rank) + " exited with code " +
           std::to_string(WEXITSTATUS(status));
  return "rank " + std::to_string(rank) + " was killed by signal " +
         std::to_string(WTERMSIG(status));
}

}  // namespace

Result<std::optional<engine::RankOptions>> RankFromEnvironment() {
  ENTRENAR_ASSIGN_OR_RETURN(const std::optional<long> world,
                            IntegerVariable("WORLD_SIZE", 1, 1 << 16));
  ENTRENAR_ASSIGN_OR_RETURN(const std::optional<long> rank, IntegerVariable("RANK", 0, 1 << 16));
  if (!world && !rank) return std::optional<engine::RankOptions>();
  if (world && *world == 1) return std::optional<engine::RankOptions>();  // one process
  if (!world || !rank) {
    return InvalidArgument(std::string(world ? "RANK" : "WORLD_SIZE") + " is not set, but " +
                           (world ? "WORLD_SIZE" : "RANK") +
                           " is: a rank of a data-parallel run needs both");
  }
  if (*rank >= *world) {
    return InvalidArgument("RANK=" + std::to_string(*rank) +
                           " is not below WORLD_SIZE=" + std::to_string(*world));
  }
  engine::RankOptions r;
  r.rank = static_cast<int>(*rank);
  r.world_size = static_cast<int>(*world);
  ENTRENAR_ASSIGN_OR_RETURN(const std::optional<long> local,
                            IntegerVariable("LOCAL_RANK", 0, 1 << 16));
  r.local_rank = static_cast<int>(local.value_or(*rank));
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr) r.master_addr = addr;
  ENTRENAR_ASSIGN_OR_RETURN(const std::optional<long> port,
                            IntegerVariable("MASTER_PORT", 1, 65535));
  r.master_port = static_cast<int>(port.value_or(r.master_port));
  // torchrun's agent serves the store on MASTER_PORT itself.
  if (const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE")) {
    r.store_served =
        std::string(agent) == "True" || std::string(agent) == "true" || std::string(agent) == "1";
  }
  ENTRENAR_ASSIGN_OR_RETURN(const std::optional<long> threads,
                            IntegerVariable("ENTRENAR_RANK_THREADS", 1, 4096));
  r.threads = static_cast<int>(threads.value_or(0));
  ENTRENAR_ASSIGN_OR_RETURN(const std::optional<long> join,
                            IntegerVariable("ENTRENAR_RENDEZVOUS_TIMEOUT", 1, 86400));
  if (join) r.rendezvous_timeout = std::chrono::seconds(*join);
  ENTRENAR_ASSIGN_OR_RETURN(const std::optional<long> collective,
                            IntegerVariable("ENTRENAR_COLLECTIVE_TIMEOUT", 1, 86400));
  if (collective) r.collective_timeout = std::chrono::seconds(*collective);
  return std::optional<engine::RankOptions>(r);
}

Result<DeviceList> ParseDevices(const std::string& text) {
  DeviceList d;
  const auto bad = [&](const std::string& why) {
    return InvalidArgument("--devices " + text + ": " + why +
                           "; give GPU indices (--devices 0,1,2,3) or CPU ranks (--devices cpu:2)");
  };
  if (text.rfind("cpu:", 0) == 0) {
    const std::string n = text.substr(4);
    if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(n) < 1) {
      return bad("expected a number of CPU ranks from 1 after cpu:");
    }
    d.cpu = true;
    d.count = std::stoi(n);
    return d;
  }
  std::set<int> seen;
  for (const std::string& part : SplitComma(text)) {
    if (part.empty() || part.size() > 4 ||
        part.find_first_not_of("0123456789") != std::string::npos) {
      return bad("`" + part + "` is not a GPU index");
    }
    const int g = std::stoi(part);
    if (!seen.insert(g).second) return bad("GPU " + part + " is named twice");
    d.gpus.push_back(g);
  }
  if (d.gpus.empty()) return bad("no device named");
  d.count = static_cast<int>(d.gpus.size());
  return d;
}

Result<std::pair<std::string, int>> ParseMaster(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  const std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (colon == 0 || colon == std::string::npos || port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) < 1 ||
      std::stoi(port) > 65535) {
    return InvalidArgument("--master " + text +
                           ": expected HOST:PORT, the address of node 0 and a free port there "
                           "(e.g. --master 10.0.0.1:29500)");
  }
  return std::make_pair(text.substr(0, colon), std::stoi(port));
}

int LaunchRanks(const std::vector<std::string>& args, const Topology& topology,
                const std::vector<int>& gpus, int grace_seconds) {
  Topology t = topology;
  if (t.master_port == 0) {
    const Result<int> port = FreePort();
    if (!port.ok()) {
      std::cerr << "error: " << port.status().message() << "\n";
      return console::kExitIo;
    }
    t.master_port = *port;
  }
  const int world_size = t.local;  // the ranks started here
  std::signal(SIGINT, OnLauncherSignal);
  std::signal(SIGTERM, OnLauncherSignal);
  std::signal(SIGCHLD, SIG_DFL);  // an inherited SIG_IGN would leave nothing to wait for
  std::vector<RankExec> execs;
  for (int r = 0; r < world_size; ++r) {
    execs.push_back(MakeRankExec(args, t, r, gpus));
  }
  for (RankExec& x : execs) x.Seal();
  const pid_t launcher = getpid();
  std::vector<pid_t> pids(static_cast<std::size_t>(world_size), -1);
  for (int r = 0; r < world_size; ++r) {
    const pid_t pid = fork();
    if (pid == 0) ExecRank(execs[static_cast<std::size_t>(r)], r, launcher);
    pids[static_cast<std::size_t>(r)] = pid;
    if (pid < 0) {
      std::cerr << "error: cannot start rank " << r << "\n";
      for (pid_t p : pids) {
        if (p <= 0) continue;
        kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
      }
      return console::kExitIo;
    }
  }
  const auto signal_all = [&](int sig) {
    for (pid_t p : pids)
      if (p > 0) kill(p, sig);
  };
  int exit_code = console::kExitOk, live = world_size;
  bool failed = false;
  std::chrono::steady_clock::time_point kill_at = std::chrono::steady_clock::time_point::max();
  while (live > 0) {
    if (const int sig = g_forward.exchange(0); sig != 0) signal_all(SIGTERM);
    if (std::chrono::steady_clock::now() >= kill_at) signal_all(SIGKILL);
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    const auto it = std::find(pids.begin(), pids.end(), pid);
    if (it == pids.end()) continue;
    const int rank = static_cast<int>(it - pids.begin());
    *it = -1;
    --live;
    const int code = ExitCodeOf(status);
    if (rank == 0 && !failed) exit_code = code;
    // Rank 0's own error (a full disk, bad data) says more than another rank's loss of it.
    if (rank == 0 && failed && code != console::kExitOk && code != console::kExitRankLost) {
      exit_code = code;
    }
    if (code == console::kExitOk || failed) continue;
    // The first rank to fail ends the run; the others are stopped.
    failed = true;
    exit_code = code;
    if (live > 0) {
      std::cerr << "error: " << Ended(rank, status) << "; stopping the other " << live
                << " rank(s)\n";
      signal_all(SIGTERM);
      signal_all(SIGCONT);  // a stopped rank wakes to end
      kill_at = std::chrono::steady_clock::now() + std::chrono::seconds(grace_seconds);
    }
  }
  return exit_code;
}

}  // namespace entrenar::worker
