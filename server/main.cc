// entrenard: the training daemon. Owns the state database, the scheduler and the workers, and
// serves the JobService API on a unix socket.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
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

#include "entrenar/base/files.h"
#include "entrenar/base/logging.h"
#include "entrenar/base/version.h"
#include "entrenar/config/config.h"
#include "entrenar/devices/devices.h"
#include "entrenar/service/job_service.h"
#include "entrenar/service/listener.h"
#include "entrenar/service/peers.h"
#include "entrenar/service/tokens.h"
#include "entrenar/service/worker_service.h"
#include "entrenar/store/store.h"
#include "entrenar/supervisor/supervisor.h"

namespace {

namespace fs = std::filesystem;
using entrenar::service::Caller;

std::vector<std::uint32_t> AdminUids(const entrenar::config::Daemon& c) {
  std::vector<std::uint32_t> out = {getuid()};  // the daemon's own user administers it
  for (const std::string& a : c.admins) out.push_back(*entrenar::config::ResolveUser(a));
  return out;
}

// TLS with bearer tokens, or nullptr (and a logged reason) when the files are unusable.
std::shared_ptr<grpc::ServerCredentials> TcpCredentials(const entrenar::config::Tcp& tcp,
                                                        entrenar::service::TokenFile& tokens) {
  const entrenar::Result<std::string> cert = entrenar::ReadWholeFile(tcp.cert);
  const entrenar::Result<std::string> key = entrenar::ReadWholeFile(tcp.key);
  if (!cert.ok() || !key.ok()) {
    spdlog::error("tcp: cannot read {}", !cert.ok() ? tcp.cert : tcp.key);
    return nullptr;
  }
  if (const entrenar::Status s = tokens.Load(); !s.ok()) {
    spdlog::error("tcp: {}", s.message());
    return nullptr;
  }
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::SslServerCredentials(ssl);
  creds->SetAuthMetadataProcessor(std::make_shared<entrenar::service::TokenAuth>(tokens));
  return creds;
}

// Makes the state directory (the daemon's alone: the database holds every job's manifest and
// its worker's secret) and locks it for this daemon; false when another entrenard holds it.
bool LockStateDir(const std::string& state_dir) {
  std::error_code ec;
  fs::create_directories(state_dir, ec);
  chmod(state_dir.c_str(), 0700);
  const std::string lock_path = state_dir + "/entrenard.lock";
  const int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    spdlog::error("another entrenard uses {} (cannot lock {})", state_dir, lock_path);
    return false;
  }
  return true;  // the lock is held until the process exits
}

entrenar::supervisor::Config SupervisorConfig(const entrenar::config::Daemon& flags,
                                              const entrenar::devices::Discovery& found) {
  entrenar::supervisor::Config sc;
  sc.worker_binary = flags.worker;
  sc.devices = found.devices;
  sc.grace = std::chrono::seconds(flags.grace_seconds);
  sc.retention = std::chrono::hours(24 * flags.retention_days);
  sc.run_as_owner = geteuid() == 0;
  sc.report_target = "unix:" + fs::absolute(flags.socket).string();
  sc.allow_custom_callbacks = flags.allow_custom_callbacks;
  sc.nvml_library = flags.nvml_library;
  sc.preempt_priority = flags.preemption.priority;
  sc.preempt_max_running_per_user = flags.preemption.max_running_per_user;
  return sc;
}

entrenar::service::ServiceConfig ServiceConfig(const entrenar::config::Daemon& flags,
                                               const entrenar::devices::Discovery& found) {
  entrenar::service::ServiceConfig config;
  for (std::uint32_t uid : AdminUids(flags)) config.admins.insert(uid);
  config.max_priority = flags.max_priority;
  config.max_followers_per_user = flags.max_followers_per_user;
  config.devices_note = found.note;
  config.allow_custom_callbacks = flags.allow_custom_callbacks;
  return config;
}

// Blocks until SIGTERM or SIGINT; returns it.
int WaitForSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  int sig = 0;
  sigwait(&signals, &sig);
  return sig;
}

int Run(const entrenar::config::Daemon& flags) {
  entrenar::service::RaiseDescriptorLimit();
  if (!LockStateDir(flags.state_dir)) return 1;
  auto store = entrenar::store::Store::Open(flags.state_dir + "/state.db");
  if (!store.ok()) {
    spdlog::error("{}", store.status().message());
    return 1;
  }
  // Every committed event also goes to memory, where followers find it without a query.
  entrenar::store::EventHub hub;
  (*store)->SetObserver([&hub](const std::vector<entrenar::store::Event>& e) { hub.Publish(e); });
  entrenar::devices::DeviceConfig dc;
  dc.cpu_slots = flags.cpu_slots;
  dc.nvml_library = flags.nvml_library;
  (void)entrenar::config::ParseDevices(flags.devices, &dc.mode, &dc.gpus);  // checked
  const entrenar::Result<entrenar::devices::Discovery> found = entrenar::devices::Discover(dc);
  if (!found.ok()) {
    spdlog::error("devices: {}", found.status().message());
    return 1;
  }
  spdlog::info("devices: {} ({} in all)", found->note, found->devices.size());
  entrenar::supervisor::Supervisor supervisor(**store, SupervisorConfig(flags, *found));
  const entrenar::service::ServiceConfig config = ServiceConfig(flags, *found);
  entrenar::service::Peers peers(flags.max_connections_per_user, config.admins);
  entrenar::service::JobService service(
      **store, hub, supervisor, config,
      [&peers](grpc::ServerContextBase* ctx) -> std::optional<Caller> {
        if (std::optional<Caller> c = peers.Find(ctx->peer())) return c;
        return entrenar::service::TokenCaller(*ctx);
      });
  // Standard gRPC health checking and server reflection, for load balancers and grpcurl.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  entrenar::service::WorkerService workers(supervisor);
  builder.RegisterService(&service);
  builder.RegisterService(&workers);
  builder.SetMaxReceiveMessageSize(4 << 20);
  // A thread per call in flight, bounded: past it calls are refused (RESOURCE_EXHAUSTED), and
  // each user's followers and connections are capped below it.
  grpc::ResourceQuota quota("entrenard");
  quota.SetMaxThreads(512);
  builder.SetResourceQuota(quota);
  entrenar::service::TokenFile tokens(flags.tcp.tokens);
  int tcp_port = 0;
  if (!flags.tcp.address.empty()) {
    std::shared_ptr<grpc::ServerCredentials> creds = TcpCredentials(flags.tcp, tokens);
    if (!creds) return 1;
    builder.AddListeningPort(flags.tcp.address, creds, &tcp_port);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || (!flags.tcp.address.empty() && tcp_port == 0)) {
    spdlog::error("cannot start the gRPC server{}",
                  flags.tcp.address.empty() ? "" : " (cannot listen on " + flags.tcp.address + ")");
    return 1;
  }
  entrenar::service::UnixListener listener;
  if (!listener.Open(flags.socket)) {
    spdlog::error("cannot listen on {}: {}", flags.socket, std::strerror(errno));
    return 1;
  }
  supervisor.Start();
  std::thread acceptor([&] { listener.Serve(server.get(), peers); });
  spdlog::info("entrenard {} listening on {}{} (state {})", std::string(entrenar::Version()),
               flags.socket, tcp_port ? " and TCP port " + std::to_string(tcp_port) + " (TLS)" : "",
               flags.state_dir);

  const int sig = WaitForSignal();
  spdlog::info("signal {}: stopping (running workers keep training)", sig);
  listener.Stop();
  acceptor.join();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  supervisor.Stop();
  unlink(flags.socket.c_str());
  return 0;
}

// Every option, as a flag; flags given on the command line win over the config file.
struct Options {
  std::string config_path;
  entrenar::config::Daemon flags;
  std::int64_t preempt_priority = 0;
};

void AddOptions(CLI::App& app, Options& o) {
  entrenar::config::Daemon& f = o.flags;
  app.add_option(
      "--config", o.config_path,
      "YAML config file (default " + entrenar::config::DefaultPath(getuid()) + ", if it exists)");
  app.add_option("--socket", f.socket, "Unix socket to serve on");
  app.add_option("--state-dir", f.state_dir, "Where the state database lives");
  app.add_option("--devices", f.devices, "auto (GPUs NVML finds), cpu (none), or GPU indices 0,1");
  app.add_option("--cpu-slots", f.cpu_slots, "Jobs that may train at once on the CPU");
  app.add_option("--nvml-library", f.nvml_library, "The NVML library to load");
  app.add_option("--admin", f.admins, "A user (name or uid) that may cancel and resume any job");
  app.add_option("--grace", f.grace_seconds,
                 "Seconds a cancelled job has to checkpoint before SIGKILL");
  app.add_option("--retention-days", f.retention_days,
                 "Forget ended jobs after this many days (0: keep them)");
  app.add_option("--worker", f.worker, "The entrenar-train binary that runs jobs");
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error");
  app.add_flag("--allow-custom-callbacks", f.allow_custom_callbacks,
               "Let jobs run `custom` callbacks (their own shell commands, as their user)");
  app.add_option("--max-priority", f.max_priority,
                 "The highest priority a user who is not an admin may submit with");
  app.add_option("--max-connections-per-user", f.max_connections_per_user,
                 "Unix-socket connections a user who is not an admin may hold open");
  app.add_option("--max-followers-per-user", f.max_followers_per_user,
                 "Event streams (logs --follow) a user who is not an admin may hold open");
  app.add_option("--preempt-priority", o.preempt_priority,
                 "Queued jobs of this priority or more may preempt running jobs of lower priority");
  app.add_option("--preempt-max-running-per-user", f.preemption.max_running_per_user,
                 "A user with this many running jobs preempts no more (0: no limit)");
  app.add_option("--tcp", f.tcp.address, "Also serve on this TCP address (TLS + tokens)");
  app.add_option("--tls-cert", f.tcp.cert, "PEM certificate for --tcp");
  app.add_option("--tls-key", f.tcp.key, "PEM private key for --tcp");
  app.add_option("--tokens", f.tcp.tokens, "Token file for --tcp (USER SHA256-HEX per line)");
}

// Defaults, then the config file, then the flags that were given.
entrenar::Status Resolve(const CLI::App& app, const Options& o, entrenar::config::Daemon* out) {
  entrenar::config::Daemon c = entrenar::config::Defaults(getuid());
  c.worker = (fs::read_symlink("/proc/self/exe").parent_path() / "entrenar-train").string();
  const std::string path =
      o.config_path.empty() ? entrenar::config::DefaultPath(getuid()) : o.config_path;
  std::error_code ec;
  if (!o.config_path.empty() || fs::exists(path, ec)) {
    ENTRENAR_RETURN_IF_ERROR(entrenar::config::LoadFile(path, &c));
  }
  const entrenar::config::Daemon& f = o.flags;
  const auto given = [&](const char* name) { return app.count(name) > 0; };
  if (given("--socket")) c.socket = f.socket;
  if (given("--state-dir")) c.state_dir = f.state_dir;
  if (given("--devices")) c.devices = f.devices;
  if (given("--cpu-slots")) c.cpu_slots = f.cpu_slots;
  if (given("--nvml-library")) c.nvml_library = f.nvml_library;
  if (given("--admin")) c.admins = f.admins;
  if (given("--grace")) c.grace_seconds = f.grace_seconds;
  if (given("--retention-days")) c.retention_days = f.retention_days;
  if (given("--worker")) c.worker = f.worker;
  if (given("--log-level")) c.log_level = f.log_level;
  if (given("--allow-custom-callbacks")) c.allow_custom_callbacks = true;
  if (given("--max-priority")) c.max_priority = f.max_priority;
  if (given("--max-connections-per-user")) c.max_connections_per_user = f.max_connections_per_user;
  if (given("--max-followers-per-user")) c.max_followers_per_user = f.max_followers_per_user;
  if (given("--preempt-priority")) c.preemption.priority = o.preempt_priority;
  if (given("--preempt-max-running-per-user")) {
    c.preemption.max_running_per_user = f.preemption.max_running_per_user;
  }
  if (given("--tcp")) c.tcp.address = f.tcp.address;
  if (given("--tls-cert")) c.tcp.cert = f.tcp.cert;
  if (given("--tls-key")) c.tcp.key = f.tcp.key;
  if (given("--tokens")) c.tcp.tokens = f.tcp.tokens;
  ENTRENAR_RETURN_IF_ERROR(entrenar::config::Check(c));
  *out = c;
  return entrenar::OkStatus();
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

  Options options;
  CLI::App app{"entrenard: the entrenar training daemon"};
  AddOptions(app, options);
  app.set_version_flag("--version", std::string(entrenar::Version()));
  CLI11_PARSE(app, argc, argv);
  entrenar::config::Daemon config;
  if (const entrenar::Status s = Resolve(app, options, &config); !s.ok()) {
    std::cerr << "error: " << s.message() << "\n";
    return 2;
  }
  if (!entrenar::SetupLogging(config.log_level)) {
    std::cerr << "error: log_level: unknown level " << config.log_level << "\n";
    return 2;
  }
  return Run(config);
}
