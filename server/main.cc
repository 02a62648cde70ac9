// entrenard: the training daemon. Owns the state database, the scheduler and the workers, and
// serves the JobService API on a unix socket.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include <CLI/CLI.hpp>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include "entrenar/base/logging.h"
#include "entrenar/base/version.h"
#include "entrenar/service/job_service.h"
#include "entrenar/store/store.h"
#include "entrenar/supervisor/supervisor.h"

namespace {

namespace fs = std::filesystem;

struct Flags {
  std::string socket;
  std::string state_dir;
  std::int64_t cpu_slots = 2;
  std::int64_t grace_seconds = 60;
  std::vector<std::uint32_t> admins;
  std::string worker;
  std::string log_level = "info";
};

std::string DefaultSocket() {
  const char* runtime = std::getenv("XDG_RUNTIME_DIR");
  if (getuid() == 0 || !runtime) return "/run/entrenar/entrenard.sock";
  return std::string(runtime) + "/entrenar/entrenard.sock";
}

// The uid of each accepted connection, by file descriptor (the server's peer is "fd:N").
class Peers {
 public:
  void Set(int fd, std::uint32_t uid) {
    std::lock_guard<std::mutex> lock(mu_);
    uids_[fd] = uid;
  }
  std::optional<std::uint32_t> Find(const std::string& peer) {
    if (peer.rfind("fd:", 0) != 0) return std::nullopt;
    const int fd = std::atoi(peer.c_str() + 3);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = uids_.find(fd);
    if (it == uids_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::mutex mu_;
  std::map<int, std::uint32_t> uids_;
};

// Creates, binds and listens on the unix socket; everyone may connect (identity comes from
// SO_PEERCRED, permissions are checked per call).
int Listen(const std::string& path) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  unlink(path.c_str());
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0) {
    close(fd);
    return -1;
  }
  chmod(path.c_str(), 0666);
  return fd;
}

int Run(const Flags& flags) {
  std::error_code ec;
  fs::create_directories(flags.state_dir, ec);
  const std::string lock_path = flags.state_dir + "/entrenard.lock";
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::error("another entrenard uses {} (cannot lock {})", flags.state_dir, lock_path);
    return 1;
  }
  auto store = entrenar::store::Store::Open(flags.state_dir + "/state.db");
  if (!store.ok()) {
    spdlog::error("{}", store.status().message());
    return 1;
  }
  entrenar::supervisor::Config sc;
  sc.worker_binary = flags.worker;
  sc.cpu_slots = flags.cpu_slots;
  sc.grace = std::chrono::seconds(flags.grace_seconds);
  entrenar::supervisor::Supervisor supervisor(**store, sc);

  Peers peers;
  entrenar::service::ServiceConfig config;
  config.admins.insert(flags.admins.begin(), flags.admins.end());
  config.admins.insert(getuid());  // the daemon's own user administers it
  entrenar::service::JobService service(**store, supervisor, config,
                                        [&peers](const std::string& p) { return peers.Find(p); });
  // Standard gRPC health checking and server reflection, for load balancers and grpcurl.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);
  builder.SetMaxReceiveMessageSize(4 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) {
    spdlog::error("cannot start the gRPC server");
    return 1;
  }
  const int listen_fd = Listen(flags.socket);
  if (listen_fd < 0) {
    spdlog::error("cannot listen on {}: {}", flags.socket, std::strerror(errno));
    return 1;
  }
  supervisor.Start();
  std::atomic<bool> stopping{false};
  std::thread acceptor([&] {
    while (!stopping) {
      const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        break;  // the listening socket was shut down
      }
      ucred cred{};
      socklen_t len = sizeof(cred);
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        close(fd);
        continue;
      }
      peers.Set(fd, cred.uid);
      fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      grpc::AddInsecureChannelFromFd(server.get(), fd);
    }
  });
  spdlog::info("entrenard {} listening on {} (state {}, {} CPU slots)",
               std::string(entrenar::Version()), flags.socket, flags.state_dir, flags.cpu_slots);

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: stopping (running workers keep training)", sig);
  stopping = true;
  shutdown(listen_fd, SHUT_RDWR);
  close(listen_fd);
  acceptor.join();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  supervisor.Stop();
  unlink(flags.socket.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Signals go to sigwait in main; every thread started later inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  Flags flags;
  flags.socket = DefaultSocket();
  const char* home = std::getenv("HOME");
  flags.state_dir = getuid() == 0 ? "/var/lib/entrenar"
                                  : std::string(home ? home : ".") + "/.local/state/entrenar";
  flags.worker = (fs::read_symlink("/proc/self/exe").parent_path() / "entrenar-train").string();
  CLI::App app{"entrenard: the entrenar training daemon"};
  app.add_option("--socket", flags.socket, "Unix socket to serve on")->capture_default_str();
  app.add_option("--state-dir", flags.state_dir, "Where the state database lives")
      ->capture_default_str();
  app.add_option("--cpu-slots", flags.cpu_slots, "Jobs that may train at once on the CPU")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--grace", flags.grace_seconds,
                 "Seconds a cancelled job has to checkpoint before SIGKILL")
      ->capture_default_str();
  app.add_option("--admin", flags.admins, "A uid that may cancel and resume any job");
  app.add_option("--worker", flags.worker, "The entrenar-train binary that runs jobs")
      ->capture_default_str();
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  app.set_version_flag("--version", std::string(entrenar::Version()));
  CLI11_PARSE(app, argc, argv);
  if (!entrenar::SetupLogging(flags.log_level)) {
    std::cerr << "error: --log-level: unknown level " << flags.log_level << "\n";
    return 2;
  }
  return Run(flags);
}
