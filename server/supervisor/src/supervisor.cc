#include "entrenar/supervisor/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "entrenar/base/clock.h"

#include "launch.h"

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

// A fresh secret for a worker (128 bits, hex).
std::string NewToken() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i) {
    char part[9];
    std::snprintf(part, sizeof(part), "%08x", rd());
    out += part;
  }
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
  slots_.assign(config_.devices.size(), 0);
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
  if (thread_.joinable()) thread_.join();
}

void Supervisor::Poke() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    schedule_due_ = true;
  }
  wake_.notify_all();
}

std::int64_t Supervisor::Count(const std::string& kind) const {
  return std::count_if(config_.devices.begin(), config_.devices.end(),
                       [&](const devices::Device& d) { return d.kind == kind; });
}

std::vector<Slot> Supervisor::SlotStates() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Slot> out;
  for (std::size_t i = 0; i < slots_.size(); ++i) out.push_back({config_.devices[i], slots_[i]});
  return out;
}

std::vector<Decision> Supervisor::Plan(const std::vector<Job>& queued) {
  std::vector<QueuedJob> jobs;
  for (const Job& j : queued) {
    QueuedJob q{j.id, j.spec.uid, j.spec.priority, j.spec.devices, j.spec.device_kind, {}};
    std::istringstream names(j.spec.pinned);
    for (std::string name; std::getline(names, name, ',');) q.pinned.push_back(name);
    jobs.push_back(std::move(q));
  }
  std::vector<DeviceUse> uses;
  std::map<std::uint32_t, std::int64_t> running;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      uses.push_back({config_.devices[i].kind, config_.devices[i].name, slots_[i]});
    }
    for (const auto& [id, w] : workers_) ++running[w.uid];
  }
  return PlanQueue(jobs, uses, running);
}

std::vector<Decision> Supervisor::ExplainQueue() {
  const Result<std::vector<Job>> queued = store_.NextQueued(100000);
  if (!queued.ok()) return {};
  return Plan(*queued);
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
  if (std::chrono::steady_clock::now() - purged_ > std::chrono::minutes(10)) Purge();
}

// Forgets the jobs that ended longer ago than the retention period: their rows and events. Run
// directories belong to their owners and stay.
void Supervisor::Purge() {
  purged_ = std::chrono::steady_clock::now();
  if (config_.retention.count() == 0) return;
  const std::string cutoff = FormatUtcIso(std::chrono::system_clock::now() - config_.retention);
  const Result<std::vector<Job>> gone = store_.PurgeEnded(cutoff);
  if (!gone.ok()) {
    spdlog::error("retention: {}", gone.status().message());
  } else if (!gone->empty()) {
    spdlog::info("retention: forgot {} job(s) that ended before {}", gone->size(), cutoff);
  }
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
        const std::string assigned = "," + job.assigned + ",";
        for (std::size_t i = 0; i < slots_.size(); ++i) {
          if (assigned.find("," + config_.devices[i].name + ",") == std::string::npos) continue;
          if (slots_[i] == 0) slots_[i] = job.id, w.slots.push_back(i);
        }
        workers_[job.id] = w;
        spdlog::info("adopted the worker of job {} (pid {})", job.id, job.pid);
        continue;
      }
      ImportFile(job.id);
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

// Starts the queued jobs the plan (plan.h) says can start now.
void Supervisor::ScheduleQueued() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_ || std::find(slots_.begin(), slots_.end(), 0) == slots_.end()) return;
  }
  const Result<std::vector<Job>> queued = store_.NextQueued(1000);
  if (!queued.ok() || queued->empty()) return;
  for (const Decision& d : Plan(*queued)) {
    if (d.devices.empty()) continue;
    const auto job = std::find_if(queued->begin(), queued->end(),
                                  [&](const Job& j) { return j.id == d.job_id; });
    const Status s = Spawn(*job, d.devices);
    if (!s.ok()) {
      spdlog::error("job {} could not start: {}", job->id, s.message());
      (void)store_.Transition(job->id, JobState::kFailed, s.message());
      Poke();  // its devices are free again
    }
  }
}

Status Supervisor::Spawn(const Job& job, std::vector<std::size_t> slots) {
  std::string names, cuda_visible;
  for (std::size_t s : slots) {
    const devices::Device& d = config_.devices[s];
    names += (names.empty() ? "" : ",") + d.name;
    if (d.kind == "gpu")
      cuda_visible += (cuda_visible.empty() ? "" : ",") + std::to_string(d.index);
  }
  ENTRENAR_RETURN_IF_ERROR(store_.Transition(job.id, JobState::kStarting, "on " + names).status());
  ENTRENAR_RETURN_IF_ERROR(store_.AddAttempt(job.id));
  const std::string& dir = job.spec.run_dir;
  Launch launch;
  launch.run_dir = dir;
  launch.manifest_path = dir + "/job.yaml";
  launch.manifest_text = job.spec.manifest;
  launch.log_path = dir + "/logs/worker.log";
  launch.args = {
      config_.worker_binary, "train",           launch.manifest_path, "--output",           dir,
      "--base-dir",          job.spec.base_dir, "--events",           dir + "/events.jsonl"};
  const std::string resume = job.resume_from.empty() ? LastCheckpoint(dir) : job.resume_from;
  if (!job.resume_from.empty()) {
    ENTRENAR_RETURN_IF_ERROR(store_.SetResumeFrom(job.id, ""));  // used once: later, the newest
  }
  if (!resume.empty()) launch.args.insert(launch.args.end(), {"--resume", resume});
  const std::string token = NewToken();
  if (!config_.report_target.empty()) {
    launch.args.insert(launch.args.end(),
                       {"--report", config_.report_target, "--job-id", std::to_string(job.id)});
  }
  std::string user, home;
  if (config_.run_as_owner && job.spec.uid != 0) {
    ENTRENAR_RETURN_IF_ERROR(BecomeOwner(job.spec.uid, job.spec.gid, &launch, &user, &home));
  }
  launch.env = WorkerEnv(config_, cuda_visible, user, home);
  launch.env.push_back("ENTRENAR_WORKER_TOKEN=" + token);
  ENTRENAR_ASSIGN_OR_RETURN(const pid_t pid, StartWorker(launch));
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
  ENTRENAR_RETURN_IF_ERROR(store_.SetWorker(job.id, pid, names, token));
  ENTRENAR_RETURN_IF_ERROR(
      store_.Transition(job.id, JobState::kRunning, "pid " + std::to_string(pid)).status());
  spdlog::info("job {} started: pid {} on {}{}", job.id, pid, names,
               launch.become ? " as uid " + std::to_string(launch.uid) : "");
  return OkStatus();
}

namespace {

// One line of a worker's events.jsonl as a stored event. Job states are the daemon's: the
// worker's own ("running", "succeeded") become log lines.
store::Event FromLine(std::string line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
  store::Event e;
  e.kind = j.is_object() ? j.value("kind", "log") : "log";
  if (e.kind == "state") {
    e.kind = "log";
    j["kind"] = "log";
    j["text"] = "worker: " + j.value("text", "");
    line = j.dump();
  }
  e.step = j.is_object() ? j.value("step", std::int64_t{0}) : 0;
  e.time = j.is_object() ? j.value("time", "") : "";
  e.payload = j.is_discarded() ? nlohmann::json{{"text", line}}.dump() : line;
  return e;
}

}  // namespace

// Reads the complete lines of job `id`'s events.jsonl after the stored offset.
std::int64_t Supervisor::ImportFile(std::int64_t id) {
  std::lock_guard<std::mutex> lock(import_mu_);
  const Result<Job> job = store_.GetJob(id);
  if (!job.ok()) return 0;
  std::ifstream in(job->spec.run_dir + "/events.jsonl", std::ios::binary);
  if (!in) return job->events_offset;
  in.seekg(job->events_offset);
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::size_t end = chunk.rfind('\n');
  if (end == std::string::npos) return job->events_offset;
  std::vector<store::Event> events;
  std::istringstream lines(chunk.substr(0, end + 1));
  std::string line;
  while (std::getline(lines, line)) events.push_back(FromLine(line));
  const std::int64_t offset = job->events_offset + static_cast<std::int64_t>(end + 1);
  const Result<std::int64_t> seq = store_.ImportEvents(id, events, offset);
  if (!seq.ok()) {
    spdlog::error("job {}: importing events: {}", id, seq.status().message());
    return job->events_offset;
  }
  return offset;
}

Status Supervisor::Receive(std::int64_t id, const std::string& token, std::int64_t first_seq,
                           const std::vector<std::string>& lines, std::int64_t file_offset,
                           std::int64_t* acked, std::int64_t* acked_offset) {
  std::lock_guard<std::mutex> lock(import_mu_);
  ENTRENAR_ASSIGN_OR_RETURN(const Job job, store_.GetJob(id));
  if (job.worker_token.empty() || token != job.worker_token) {
    return PermissionDenied("not the worker of job " + std::to_string(id));
  }
  *acked = job.worker_seq;
  *acked_offset = job.events_offset;
  if (lines.empty()) {
    spdlog::info("job {}: worker connected ({} events stored)", id, job.worker_seq);
    return OkStatus();
  }
  const std::int64_t last = first_seq + static_cast<std::int64_t>(lines.size()) - 1;
  if (last <= job.worker_seq) return OkStatus();  // stored already (from the file)
  if (first_seq > job.worker_seq + 1) {
    return FailedPrecondition("events " + std::to_string(job.worker_seq + 1) + ".." +
                              std::to_string(first_seq - 1) + " are missing");
  }
  std::vector<store::Event> events;
  for (std::size_t i = static_cast<std::size_t>(job.worker_seq + 1 - first_seq); i < lines.size();
       ++i) {
    events.push_back(FromLine(lines[i]));
  }
  ENTRENAR_RETURN_IF_ERROR(store_.ImportEvents(id, events, file_offset).status());
  *acked = last;
  *acked_offset = file_offset;
  return OkStatus();
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
      const std::int64_t imported = ImportFile(id);
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
    ImportFile(id);  // what the worker wrote and did not get to send
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
  } else if (summary.is_object() && summary.value("halted", false)) {
    // An alert's `halt`: the worker checkpointed and stopped (exit 6).
    to = JobState::kHalted;
    const nlohmann::json& alerts = summary["alerts"];
    reason = "halted by an alert";
    if (alerts.is_array() && !alerts.empty() && alerts.back().is_object()) {
      reason += ": " + alerts.back().value("message", "") + " (step " +
                std::to_string(alerts.back().value("step", std::int64_t{0})) + ")";
    }
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

}  // namespace entrenar::supervisor
