#include "entrenar/supervisor/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "entrenar/base/files.h"

namespace entrenar::supervisor {
namespace {

namespace fs = std::filesystem;
using store::Job;
using store::JobState;

// The newest checkpoints/step-N of a run directory, or "".
std::string LastCheckpoint(const std::string& run_dir) {
  std::error_code ec;
  std::int64_t best = -1;
  std::string path;
  for (const auto& e : fs::directory_iterator(run_dir + "/checkpoints", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step-", 0) != 0 || !fs::exists(e.path() / "state.json", ec)) continue;
    const std::int64_t step = std::atoll(name.c_str() + 5);
    if (step > best) best = step, path = e.path().string();
  }
  return path;
}

// The last `n` lines of a file, joined by " | ".
std::string Tail(const std::string& path, std::size_t n) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    lines.push_back(line);
    if (lines.size() > n) lines.erase(lines.begin());
  }
  std::string out;
  for (const std::string& l : lines) out += (out.empty() ? "" : " | ") + l;
  return out;
}

// Whether a process exists and has not exited. An adopted worker is not our child: when it exits
// it may linger as a zombie until its new parent reaps it, which counts as exited.
bool Alive(std::int64_t pid) {
  if (pid <= 0 || kill(static_cast<pid_t>(pid), 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const std::size_t close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

}  // namespace

Supervisor::Supervisor(store::Store& store, Config config)
    : store_(store), config_(std::move(config)) {
  slots_.assign(static_cast<std::size_t>(config_.cpu_slots), 0);
}

Supervisor::~Supervisor() { Stop(); }

void Supervisor::Start() {
  Adopt();
  thread_ = std::thread([this] { Loop(); });
}

void Supervisor::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  NotifyEvents();
  if (thread_.joinable()) thread_.join();
}

void Supervisor::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    schedule_due_ = true;
  }
  wake_.notify_all();
}

// Taking the lock orders this after a waiter's check of the store, so no wakeup is lost.
void Supervisor::NotifyEvents() {
  { std::lock_guard<std::mutex> lock(mu_); }
  events_.notify_all();
}

std::vector<Slot> Supervisor::SlotStates() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Slot> out;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    out.push_back({"cpu:" + std::to_string(i), slots_[i]});
  }
  return out;
}

void Supervisor::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    try {
      Tick();
    } catch (const std::exception& e) {  // never let one job's oddity stop the daemon
      spdlog::error("supervisor: {}", e.what());
    }
    lock.lock();
    wake_.wait_for(lock, config_.poll);
  }
}

void Supervisor::Tick() {
  Reap();
  // The queue is read when something changed, and at least every 20 polls.
  bool due = ++ticks_ % 20 == 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    due = due || schedule_due_;
    schedule_due_ = false;
  }
  if (due) ScheduleQueued();
}

// Jobs the store says are running: re-adopt live workers, requeue the ones that died while no
// daemon watched them (they resume from their last checkpoint).
void Supervisor::Adopt() {
  for (JobState state : {JobState::kStarting, JobState::kRunning}) {
    store::JobFilter f;
    f.state = state;
    f.limit = 100000;
    const Result<std::vector<Job>> jobs = store_.ListJobs(f);
    if (!jobs.ok()) continue;
    for (const Job& job : *jobs) {
      if (Alive(job.pid)) {
        std::lock_guard<std::mutex> lock(mu_);
        Worker w;
        w.pid = job.pid;
        w.uid = job.spec.uid;
        w.child = false;
        w.events_path = job.spec.run_dir + "/events.jsonl";
        for (std::size_t i = 0;
             i < slots_.size() && static_cast<std::int64_t>(w.slots.size()) < job.spec.devices;
             ++i) {
          if (slots_[i] == 0) slots_[i] = job.id, w.slots.push_back(i);
        }
        workers_[job.id] = w;
        spdlog::info("adopted the worker of job {} (pid {})", job.id, job.pid);
        continue;
      }
      ImportEvents(job);
      (void)store_.SetWorker(job.id, 0);
      if (store_
              .Transition(job.id, JobState::kInterrupted,
                          "the worker ended while entrenard was down")
              .ok()) {
        (void)store_.Transition(job.id, JobState::kQueued, "requeued to resume");
      }
    }
  }
}

// Starts queued jobs while slots are free: the highest priority first; among jobs of equal
// priority, the one whose owner has the fewest jobs running (fair share), then the oldest. A job
// that does not fit waits, and so does everything behind it (no backfill).
void Supervisor::ScheduleQueued() {
  std::vector<std::size_t> free;
  std::map<std::uint32_t, std::int64_t> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i] == 0) free.push_back(i);
    }
    for (const auto& [id, w] : workers_) ++running[w.uid];
  }
  if (free.empty()) return;
  Result<std::vector<Job>> queued = store_.NextQueued(1000);
  if (!queued.ok() || queued->empty()) return;
  const std::int64_t top = queued->front().spec.priority;
  std::vector<Job> equals;
  for (Job& j : *queued) {
    if (j.spec.priority == top) equals.push_back(std::move(j));
  }
  while (!free.empty() && !equals.empty()) {
    const auto next =
        std::min_element(equals.begin(), equals.end(), [&](const Job& x, const Job& y) {
          const std::int64_t rx = running[x.spec.uid], ry = running[y.spec.uid];
          return rx != ry ? rx < ry : x.id < y.id;
        });
    const Job job = *next;
    if (static_cast<std::int64_t>(free.size()) < job.spec.devices) return;
    std::vector<std::size_t> slots(free.begin(), free.begin() + job.spec.devices);
    free.erase(free.begin(), free.begin() + job.spec.devices);
    equals.erase(next);
    ++running[job.spec.uid];
    const Status s = Spawn(job, slots);
    if (!s.ok()) {
      spdlog::error("job {} could not start: {}", job.id, s.message());
      (void)store_.Transition(job.id, JobState::kFailed, s.message());
    }
  }
  if (!free.empty()) {  // this priority is drained: look at the next one now
    std::lock_guard<std::mutex> lock(mu_);
    schedule_due_ = true;
  }
}

Status Supervisor::Spawn(const Job& job, std::vector<std::size_t> slots) {
  std::string names;
  for (std::size_t s : slots) names += (names.empty() ? "cpu:" : ",cpu:") + std::to_string(s);
  ENTRENAR_RETURN_IF_ERROR(store_.Transition(job.id, JobState::kStarting, "on " + names).status());
  ENTRENAR_RETURN_IF_ERROR(store_.AddAttempt(job.id));
  const std::string& dir = job.spec.run_dir;
  std::error_code ec;
  fs::create_directories(dir + "/logs", ec);
  if (ec) return Internal("cannot create " + dir + ": " + ec.message());
  const std::string manifest = dir + "/job.yaml";
  if (!fs::exists(manifest, ec)) {  // whole or absent: a temporary name, then a rename
    ENTRENAR_RETURN_IF_ERROR(WriteFileAtomic(manifest, job.spec.manifest));
  }
  std::vector<std::string> args = {
      config_.worker_binary, "train",           manifest,   "--output",           dir,
      "--base-dir",          job.spec.base_dir, "--events", dir + "/events.jsonl"};
  const std::string resume = job.resume_from.empty() ? LastCheckpoint(dir) : job.resume_from;
  if (!job.resume_from.empty()) {
    ENTRENAR_RETURN_IF_ERROR(store_.SetResumeFrom(job.id, ""));  // used once: later, the newest
  }
  if (!resume.empty()) args.insert(args.end(), {"--resume", resume});
  const std::string log_path = dir + "/logs/worker.log";
  const pid_t pid = fork();
  if (pid < 0) return Internal(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The daemon blocks SIGTERM and SIGINT for sigwait; a worker must receive them.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    setsid();
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    setenv("CUDA_VISIBLE_DEVICES", "", 1);  // CPU slots
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Worker w;
    w.pid = pid;
    w.uid = job.spec.uid;
    w.slots = slots;
    w.events_path = dir + "/events.jsonl";
    for (std::size_t s : slots) slots_[s] = job.id;
    workers_[job.id] = w;
  }
  ENTRENAR_RETURN_IF_ERROR(store_.SetWorker(job.id, pid));
  ENTRENAR_RETURN_IF_ERROR(
      store_.Transition(job.id, JobState::kRunning, "pid " + std::to_string(pid)).status());
  spdlog::info("job {} started: pid {} on {}", job.id, pid, names);
  return OkStatus();
}

// Reads the complete lines of the worker's events.jsonl after the imported offset.
std::int64_t Supervisor::ImportEvents(const Job& job) {
  std::ifstream in(job.spec.run_dir + "/events.jsonl", std::ios::binary);
  if (!in) return job.events_offset;
  in.seekg(job.events_offset);
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t end = chunk.rfind('\n');
  if (end == std::string::npos) return job.events_offset;
  std::vector<store::Event> events;
  std::istringstream lines(chunk.substr(0, end + 1));
  std::string line;
  while (std::getline(lines, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    store::Event e;
    e.kind = j.is_object() ? j.value("kind", "log") : "log";
    if (e.kind == "state") {
      // Job states are the daemon's; the worker's own ("running", "succeeded") become log lines.
      e.kind = "log";
      j["kind"] = "log";
      j["text"] = "worker: " + j.value("text", "");
      line = j.dump();
    }
    e.step = j.is_object() ? j.value("step", std::int64_t{0}) : 0;
    e.time = j.is_object() ? j.value("time", "") : "";
    e.payload = j.is_discarded() ? nlohmann::json{{"text", line}}.dump() : line;
    events.push_back(std::move(e));
  }
  const std::int64_t offset = job.events_offset + static_cast<std::int64_t>(end + 1);
  const Result<std::int64_t> seq = store_.ImportEvents(job.id, events, offset);
  if (!seq.ok()) {
    spdlog::error("job {}: importing events: {}", job.id, seq.status().message());
    return job.events_offset;
  }
  NotifyEvents();
  return offset;
}

void Supervisor::Reap() {
  std::map<std::int64_t, Worker> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    running = workers_;
  }
  for (auto& [id, w] : running) {
    // New lines in the worker's event file (a stat per worker per poll; the store only when
    // it grew).
    std::error_code ec;
    const auto size = static_cast<std::int64_t>(fs::file_size(w.events_path, ec));
    if (!ec && size > w.imported) {
      const Result<Job> job = store_.GetJob(id);
      if (!job.ok()) continue;
      const std::int64_t imported = ImportEvents(*job);
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = workers_.find(id); it != workers_.end()) it->second.imported = imported;
    }
    int status = 0;
    bool exited = false;
    if (w.child) {
      exited = waitpid(static_cast<pid_t>(w.pid), &status, WNOHANG) == w.pid;
    } else {
      exited = !Alive(w.pid);
    }
    if (!exited) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = workers_.find(id);
      if (it != workers_.end() && it->second.term_sent != std::chrono::steady_clock::time_point{} &&
          std::chrono::steady_clock::now() - it->second.term_sent > config_.grace) {
        kill(-static_cast<pid_t>(w.pid), SIGKILL);
      }
      continue;
    }
    const Result<Job> last = store_.GetJob(id);
    if (last.ok()) ImportEvents(*last);
    Finish(id, w, w.child, status);
  }
}

// The worker of job `id` is gone: record how it ended and free its slots.
void Supervisor::Finish(std::int64_t id, Worker& w, bool have_status, int status) {
  const Result<Job> job = store_.GetJob(id);
  if (!job.ok()) return;
  const std::string log_tail = Tail(job->spec.run_dir + "/logs/worker.log", 3);
  // A summary of a run that was stopped (SIGTERM) is not a finished run.
  const nlohmann::json summary =
      nlohmann::json::parse(std::ifstream(job->spec.run_dir + "/summary.json"), nullptr, false);
  const bool finished = summary.is_object() && !summary.value("stopped", false);
  JobState to = JobState::kFailed;
  std::string reason;
  if (job->cancel_requested) {
    to = JobState::kCancelled;
    reason = "cancelled";
    const std::string cp = LastCheckpoint(job->spec.run_dir);
    if (!cp.empty()) reason += "; last checkpoint " + fs::path(cp).filename().string();
  } else if (have_status && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    to = JobState::kSucceeded;
    reason = "finished";
  } else if (have_status && WIFSIGNALED(status)) {
    reason = "the worker was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
             strsignal(WTERMSIG(status)) + ")";
  } else if (have_status) {
    reason = "the worker exited with code " + std::to_string(WEXITSTATUS(status));
  } else {
    to = finished ? JobState::kSucceeded : JobState::kFailed;
    reason = finished ? "finished" : "the adopted worker ended without a summary";
  }
  if (to == JobState::kFailed && !log_tail.empty()) reason += ": " + log_tail;
  (void)store_.SetWorker(id, 0);
  const Result<Job> moved = store_.Transition(id, to, reason);
  if (!moved.ok()) spdlog::error("job {}: {}", id, moved.status().message());
  spdlog::info("job {} ended: {} ({})", id, std::string(store::StateName(to)), reason);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t s : w.slots) slots_[s] = 0;
    workers_.erase(id);
    schedule_due_ = true;
  }
  NotifyEvents();
}

Status Supervisor::Cancel(std::int64_t job_id, bool force, const std::string& by) {
  ENTRENAR_ASSIGN_OR_RETURN(const Job job, store_.GetJob(job_id));
  if (store::IsTerminal(job.state)) {
    return FailedPrecondition("job " + std::to_string(job_id) + " has already ended (" +
                              std::string(store::StateName(job.state)) + ")");
  }
  ENTRENAR_RETURN_IF_ERROR(store_.RequestCancel(job_id));
  if (job.state == JobState::kQueued || job.state == JobState::kInterrupted) {
    ENTRENAR_RETURN_IF_ERROR(
        store_.Transition(job_id, JobState::kCancelled, "cancelled by " + by).status());
    NotifyEvents();
    return OkStatus();
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(job_id);
  if (it != workers_.end()) {
    kill(-static_cast<pid_t>(it->second.pid), force ? SIGKILL : SIGTERM);
    if (it->second.term_sent == std::chrono::steady_clock::time_point{}) {
      it->second.term_sent = std::chrono::steady_clock::now();
    }
  }
  wake_.notify_all();
  return OkStatus();
}

void Supervisor::WaitForEvents(std::int64_t id, std::int64_t seq,
                               std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  events_.wait_until(lock, deadline, [&] {
    if (stop_) return true;
    const Result<std::int64_t> last = store_.LastSeq(id);
    return !last.ok() || *last > seq;
  });
}

}  // namespace entrenar::supervisor
