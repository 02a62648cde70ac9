// entrenard's own costs, printed as figures: idle memory, submit throughput, how late 50
// followers see events, and what running a job through the daemon adds to `entrenar train`.
//   build/bin/bench_daemon [SUBMITS] [FOLLOWERS]
// It starts its own entrenard (next to this binary) in a temporary directory. For the submit
// and follower figures the daemon's worker is this binary, which writes timestamped events
// instead of training, so the figures are the daemon's alone.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "entrenar/v1/jobs.grpc.pb.h"
#include "entrenar/worker/uplink.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// As a worker: `bench_daemon train FILE --output DIR ... --events PATH --report TARGET
// --job-id N`: 400 events 5 ms apart, streamed to the daemon as entrenar-train streams them.
int FakeWorker(int argc, char** argv) {
  if (const char* hold = std::getenv("BENCH_HOLD_SECONDS")) {
    // Occupy the slot, doing nothing, until the benchmark's daemon is gone.
    const pid_t daemon = getppid();
    for (int i = 0; i < std::atoi(hold) * 10 && getppid() == daemon; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return 0;
  }
  std::string events, target;
  std::int64_t job = 0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--events") events = argv[i + 1];
    if (std::string(argv[i]) == "--report") target = argv[i + 1];
    if (std::string(argv[i]) == "--job-id") job = std::atoll(argv[i + 1]);
  }
  const char* token = std::getenv("ENTRENAR_WORKER_TOKEN");
  std::unique_ptr<entrenar::worker::Uplink> reporter;
  if (!target.empty() && token) {
    reporter = std::make_unique<entrenar::worker::Uplink>(target, job, token, events);
  }
  std::ofstream out(events, std::ios::app);
  for (int i = 1; i <= 400; ++i) {
    out << nlohmann::json{{"kind", "metric"}, {"step", i}, {"sent_ns", NowNs()}}.dump() << "\n"
        << std::flush;
    if (reporter) reporter->Notify();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (reporter) reporter->Stop(std::chrono::seconds(2));
  return 0;
}

struct Daemon {
  pid_t pid = -1;
  std::string dir, socket;
  Daemon(const std::string& bin_dir, const std::string& worker, const std::string& tmp,
         const char* slots = "64") {
    dir = tmp;
    socket = tmp + "/s.sock";
    pid = fork();
    if (pid == 0) {
      freopen((tmp + "/daemon.log").c_str(), "w", stderr);
      const std::string daemon = bin_dir + "/entrenard";
      execl(daemon.c_str(), daemon.c_str(), "--socket", socket.c_str(), "--state-dir",
            (tmp + "/state").c_str(), "--cpu-slots", slots, "--worker", worker.c_str(),
            "--log-level", "warn", static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 500 && !fs::exists(socket); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  ~Daemon() {
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
  }
  std::unique_ptr<entrenar::v1::JobService::Stub> Stub() const {
    return entrenar::v1::JobService::NewStub(
        grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  }
  double RssMiB() const {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
    }
    return 0;
  }
};

entrenar::v1::SubmitRequest Request(const std::string& manifest_path, const std::string& out) {
  std::ifstream in(manifest_path);
  std::ostringstream text;
  text << in.rdbuf();
  entrenar::v1::SubmitRequest req;
  req.mutable_manifest()->set_yaml(text.str());
  req.mutable_manifest()->set_file_name(manifest_path);
  req.mutable_manifest()->set_working_dir(fs::path(manifest_path).parent_path().string());
  req.mutable_manifest()->add_overrides("output.dir=" + out);
  return req;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(q * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "train") return FakeWorker(argc, argv);
  const int submits = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int followers = argc > 2 ? std::atoi(argv[2]) : 50;
  const std::string bin_dir = fs::read_symlink("/proc/self/exe").parent_path();
  const std::string self = fs::read_symlink("/proc/self/exe");
  const std::string source = ENTRENAR_SOURCE_DIR;
  char tmpl[] = "/tmp/entrenar-bench-XXXXXX";
  const std::string tmp = mkdtemp(tmpl);

  {
    // One slot held by the first job: every other submit waits in the queue, so what is
    // measured is accepting, validating and storing submissions.
    setenv("BENCH_HOLD_SECONDS", "30", 1);
    Daemon d(bin_dir, self, tmp + "/a", "1");
    unsetenv("BENCH_HOLD_SECONDS");
    std::printf("idle RSS                      %6.1f MiB   (goal < 30)\n", d.RssMiB());
    // Submit throughput: 8 client threads; each job gets a directory of its own.
    const auto req = Request(source + "/examples/iris.yaml", tmp + "/a/runs/{{ timestamp }}");
    std::atomic<int> next{0}, failed{0};
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        auto stub = d.Stub();
        while (next.fetch_add(1) < submits) {
          grpc::ClientContext ctx;
          entrenar::v1::SubmitResponse resp;
          if (!stub->Submit(&ctx, req, &resp).ok()) ++failed;
        }
      });
    }
    for (auto& t : threads) t.join();
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "submit throughput             %6.0f submits/s (%d submits, %d failed; goal >= "
        "1000)\n",
        submits / secs, submits, failed.load());
  }
  {
    // Follower latency: one job emitting 400 events 5 ms apart, `followers` streams on it.
    Daemon d(bin_dir, self, tmp + "/b");
    auto stub = d.Stub();
    grpc::ClientContext ctx;
    entrenar::v1::SubmitResponse resp;
    stub->Submit(&ctx, Request(source + "/examples/iris.yaml", tmp + "/b/run"), &resp);
    std::vector<std::vector<double>> lat(static_cast<std::size_t>(followers));
    std::vector<std::thread> threads;
    for (int f = 0; f < followers; ++f) {
      threads.emplace_back([&, f] {
        auto s = d.Stub();
        grpc::ClientContext c;
        entrenar::v1::StreamEventsRequest r;
        r.set_job_id(resp.job_id());
        r.set_follow(true);
        auto reader = s->StreamEvents(&c, r);
        entrenar::v1::Event e;
        while (reader->Read(&e)) {
          const auto p = nlohmann::json::parse(e.payload_json(), nullptr, false);
          if (p.is_object() && p.contains("sent_ns")) {
            lat[static_cast<std::size_t>(f)].push_back(
                static_cast<double>(NowNs() - p["sent_ns"].get<std::int64_t>()) / 1e6);
          }
        }
        reader->Finish();
      });
    }
    for (auto& t : threads) t.join();
    std::vector<double> all;
    for (const auto& l : lat) all.insert(all.end(), l.begin(), l.end());
    std::printf(
        "follower latency (%d)         p50 %.1f ms, p99 %.1f ms over %zu deliveries (goal "
        "p99 < 20)\n",
        followers, Percentile(all, 0.5), Percentile(all, 0.99), all.size());
  }
  {
    // A real job: the same manifest through the daemon and with `entrenar train`.
    Daemon d(bin_dir, bin_dir + "/entrenar-train", tmp + "/c");
    auto stub = d.Stub();
    const auto start = Clock::now();
    grpc::ClientContext ctx;
    entrenar::v1::SubmitResponse resp;
    stub->Submit(&ctx, Request(source + "/examples/iris.yaml", tmp + "/c/daemon"), &resp);
    grpc::ClientContext c;
    entrenar::v1::StreamEventsRequest r;
    r.set_job_id(resp.job_id());
    r.set_follow(true);
    auto reader = stub->StreamEvents(&c, r);
    entrenar::v1::Event e;
    while (reader->Read(&e)) {
    }
    reader->Finish();
    const double through = std::chrono::duration<double>(Clock::now() - start).count();
    const auto local_start = Clock::now();
    const std::string cmd = bin_dir + "/entrenar train " + source +
                            "/examples/iris.yaml --output " + tmp + "/c/local >/dev/null 2>&1";
    const int rc = std::system(cmd.c_str());
    const double local = std::chrono::duration<double>(Clock::now() - local_start).count();
    std::printf(
        "job overhead (iris)           %.2f s through entrenard vs %.2f s entrenar train: "
        "+%.2f s (goal < 0.5; rc %d)\n",
        through, local, through - local, rc);
  }
  fs::remove_all(tmp);
  return 0;
}
