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
#include "entrenar/base/kill_point.h"
#include "entrenar/base/strings.h"
#include "entrenar/console/exit_codes.h"
#include "entrenar/run/event.h"
#include "entrenar/run/layout.h"
#include "entrenar/run/owner_files.h"

#include "launch.h"

namespace entrenar::supervisor {
namespace {

namespace fs = std::filesystem;
using store::Job;
using store::JobState;

// The job's owner, whose rights entrenard reads the run directory with (run/owner_files.h).
run::Owner OwnerOf(const Job& job) { return run::OwnerFor(job.spec.uid, job.spec.gid); }

// The newest complete checkpoint of a run directory, or "".
std::string LastCheckpoint(const Job& job) {
  const run::Layout layout(job.spec.run_dir);
  const std::vector<std::int64_t> steps = run::CheckpointStepsAsOwner(OwnerOf(job), layout);
  return steps.empty() ? "" : layout.Checkpoint(steps.back());
}

// The last `n` lines of the job's worker log (of its last 16 KiB), joined by " | ", each at most
// 300 bytes, as UTF-8.
std::string LogTail(const Job& job, std::size_t n) {
  const run::Owner owner = OwnerOf(job);
  const std::string path = run::Layout(job.spec.run_dir).WorkerLog();
  const Result<std::int64_t> size = run::SizeAsOwner(owner, path);
  if (!size.ok()) return "";
  constexpr std::int64_t kTail = 16 << 10;
  const Result<std::string> text =
      run::ReadAsOwner(owner, path, std::max<std::int64_t>(0, *size - kTail), kTail);
  if (!text.ok()) return "";
  std::vector<std::string> lines;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    lines.push_back(SanitizeUtf8(line.substr(0, 300)));
    if (lines.size() > n) lines.erase(lines.begin());
  }
  return Join(lines, " | ");
}

// The job's summary.json, or null when there is none (or it is not a JSON object of at most
// 4 MiB that its owner may read).
nlohmann::json ReadSummary(const Job& job) {
  const Result<std::string> text =
      run::ReadAsOwner(OwnerOf(job), run::Layout(job.spec.run_dir).Summary(), 0, 4 << 20);
  if (!text.ok()) return nullptr;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  return j.is_object() ? j : nullptr;
}

bool BoolField(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

std::string StringField(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? SanitizeUtf8(it->get_ref<const std::string&>()) : "";
}

// "finished: the budget of 300 steps was reached": why a finished run ended, from its summary.
std::string Finished(const nlohmann::json& summary) {
  const auto ended = summary.is_object() ? summary.find("ended") : summary.end();
  if (ended == summary.end() || !ended->is_object()) return "finished";
  const std::string message = StringField(*ended, "message").substr(0, 300);
  return message.empty() ? "finished" : "finished: " + message;
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

// How job `job` ended, from its summary and its worker's wait status (none for an adopted one);
// `oom`: why a SIGKILL we did not send came, when the out-of-memory killer's counts say.
std::pair<JobState, std::string> EndOf(const Job& job, std::optional<int> wait_status,
                                       const std::string& oom = "",
                                       bool killed_after_grace = false) {
  const bool have_status = wait_status.has_value();
  const int status = wait_status.value_or(0);
  const std::string log_tail = LogTail(job, 3);
  // A summary of a run that was stopped (SIGTERM) is not a finished run.
  const nlohmann::json summary = ReadSummary(job);
  const bool finished = summary.is_object() && !BoolField(summary, "stopped");
  JobState to = JobState::kFailed;
  std::string reason;
  if (job.cancel_requested) {
    to = JobState::kCancelled;
    reason = "cancelled";
    const std::string cp = LastCheckpoint(job);
    if (!cp.empty()) reason += "; last checkpoint " + fs::path(cp).filename().string();
  } else if (summary.is_object() && BoolField(summary, "halted")) {
    // An alert's `halt`: the worker checkpointed and stopped (exit 6).
    to = JobState::kHalted;
    const auto alerts = summary.find("alerts");
    reason = "halted by an alert";
    if (alerts != summary.end() && alerts->is_array() && !alerts->empty() &&
        alerts->back().is_object()) {
      const nlohmann::json& last = alerts->back();
      const auto step = last.find("step");
      reason += ": " + StringField(last, "message").substr(0, 300) + " (step " +
                (step != last.end() && step->is_number_integer()
                     ? std::to_string(step->get<std::int64_t>())
                     : std::string("?")) +
                ")";
    }
  } else if (job.preempted_by != 0 && !finished) {
    // Stopped for a job of higher priority (or killed when it did not stop within the grace
    // period, or ended otherwise meanwhile): it resumes from its newest checkpoint.
    to = JobState::kPreempted;
    reason = "preempted by job " + std::to_string(job.preempted_by);
    if (killed_after_grace) reason += ": killed after the grace period";
    const std::string cp = LastCheckpoint(job);
    reason += cp.empty() ? "; no checkpoint yet, so it starts again"
                         : "; resumes from " + fs::path(cp).filename().string();
  } else if (have_status && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    to = JobState::kSucceeded;
    reason = Finished(summary);
  } else if (have_status && WIFEXITED(status) && WEXITSTATUS(status) == console::kExitRankLost) {
    // A data-parallel run lost a rank (it died or hung): the job resumes from its checkpoint.
    to = JobState::kInterrupted;
    reason = "a rank of the data-parallel run was lost" +
             (log_tail.empty() ? std::string() : ": " + log_tail);
  } else if (have_status && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL && !oom.empty()) {
    reason = oom;
  } else if (have_status && WIFSIGNALED(status)) {
    reason = "the worker was killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
             strsignal(WTERMSIG(status)) + ")";
  } else if (have_status) {
    reason = "the worker exited with code " + std::to_string(WEXITSTATUS(status));
  } else {
    to = finished ? JobState::kSucceeded : JobState::kFailed;
    reason = finished ? Finished(summary) : "the adopted worker ended without a summary";
  }
  if (to == JobState::kFailed && !log_tail.empty()) reason += ": " + log_tail;
  return {to, reason};
}

}  // namespace

Supervisor::Supervisor(store::Store& store, Config config, const Clock& clock)
    : store_(store),
      config_(std::move(config)),
      clock_(clock),
      free_memory_(config_.nvml_library.empty() ? "libnvidia-ml.so.1" : config_.nvml_library) {
  slots_.assign(config_.devices.size(), 0);
}

Supervisor::~Supervisor() { Stop(); }

void Supervisor::Start() {
  try {
    Adopt();
  } catch (const std::exception& e) {  // never: but a daemon that cannot adopt still serves
    spdlog::error("adopting workers: {}", e.what());
  }
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
  std::vector<DeviceUse> uses;
  std::map<std::uint32_t, std::int64_t> running;
  std::map<std::int64_t, Holder> holders;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      uses.push_back({config_.devices[i].kind, config_.devices[i].name, slots_[i]});
    }
    const double now = std::chrono::duration<double>(clock_.Monotonic().time_since_epoch()).count();
    for (const auto& [id, w] : workers_) {
      ++running[w.uid];
      holders[id] = {w.user, w.priority, w.term_sent.has_value(), w.started,
                     w.progressed > 0 ? Remaining(w.progress, now) : std::nullopt};
    }
  }
  std::vector<QueuedJob> jobs;
  for (const Job& j : queued) {
    QueuedJob q{j.id, j.spec.uid, j.spec.priority, j.spec.devices, j.spec.device_kind,
                {},   j.spec.user};
    std::istringstream names(j.spec.pinned);
    for (std::string name; std::getline(names, name, ',');) q.pinned.push_back(name);
    q.may_preempt = MayPreempt(j.spec.priority, running[j.spec.uid], config_.preempt_priority,
                               config_.preempt_max_running_per_user);
    q.memory = j.spec.gpu_memory_bytes;
    jobs.push_back(std::move(q));
  }
  // Free GPUs' memory, from NVML, when a job asks for some.
  if (std::any_of(jobs.begin(), jobs.end(), [](const QueuedJob& q) { return q.memory > 0; })) {
    for (std::size_t i = 0; i < uses.size(); ++i) {
      if (uses[i].kind == "gpu" && uses[i].job_id == 0) {
        uses[i].free_memory = free_memory_.Of(config_.devices[i].index);
      }
    }
  }
  return PlanQueue(jobs, uses, running, holders);
}

// Asks the running job `id` to checkpoint and stop so that job `by` can start: SIGTERM now,
// SIGKILL after the grace period (Exited); Finish then queues it again to resume.
void Supervisor::Preempt(std::int64_t id, const Decision& by) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = workers_.find(id);
    if (it == workers_.end() || it->second.term_sent) return;
  }
  if (!store_.RequestPreempt(id, by.job_id).ok()) return;  // stopped only once it is on record
  Note(id, "entrenard: preempted by job " + std::to_string(by.job_id) +
               " of higher priority: checkpointing and stopping within the grace period of " +
               std::to_string(config_.grace.count()) + " s, then back to the queue");
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = workers_.find(id);
  if (it == workers_.end() || it->second.term_sent) return;
  kill(-static_cast<pid_t>(it->second.pid), SIGTERM);
  it->second.term_sent = clock_.Monotonic();
  spdlog::info("job {} preempted for job {}", id, by.job_id);
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
  if (!purged_ || clock_.Monotonic() - *purged_ > std::chrono::minutes(10)) Purge();
}

// Forgets the jobs that ended longer ago than the retention period: their rows and events. Run
// directories belong to their owners and stay.
void Supervisor::Purge() {
  purged_ = clock_.Monotonic();
  if (config_.retention.count() == 0) return;
  const std::string cutoff = FormatUtcIso(clock_.Now() - config_.retention);
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
  // Jobs that an earlier daemon stopped but did not get to queue again.
  for (JobState state : {JobState::kInterrupted, JobState::kPreempted}) {
    store::JobFilter f;
    f.state = state;
    f.limit = 100000;
    const Result<std::vector<Job>> jobs = store_.ListJobs(f);
    for (const Job& job : jobs.ok() ? *jobs : std::vector<Job>()) {
      (void)store_.Transition(job.id, JobState::kQueued, "requeued to resume");
    }
  }
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
        w.user = job.spec.user;
        w.priority = job.spec.priority;
        w.started = ++started_;
        w.child = false;
        // Preempted by the daemon before: its grace period starts again now.
        if (job.preempted_by != 0 || job.cancel_requested) w.term_sent = clock_.Monotonic();
        const std::string assigned = "," + job.assigned + ",";
        for (std::size_t i = 0; i < slots_.size(); ++i) {
          if (assigned.find("," + config_.devices[i].name + ",") == std::string::npos) continue;
          if (slots_[i] == 0) slots_[i] = job.id, w.slots.push_back(i);
        }
        workers_[job.id] = w;
        spdlog::info("adopted the worker of job {} (pid {})", job.id, job.pid);
        if (state == JobState::kStarting) {  // its daemon died before it said so
          (void)store_.Transition(job.id, JobState::kRunning, "pid " + std::to_string(job.pid));
        }
        KillPoint("daemon.adopt");
        continue;
      }
      NoteReadError(job.id, ImportFile(job.id).read);
      // One that finished (or was halted, or cancelled) keeps its end; the others resume.
      const auto [to, reason] = EndOf(job, std::nullopt);
      if (to != JobState::kFailed) {
        if (store_.Transition(job.id, to, reason).ok()) (void)store_.SetWorker(job.id, 0);
        if (to == JobState::kPreempted) (void)Requeue(job, to);
        continue;
      }
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
    const bool full = std::find(slots_.begin(), slots_.end(), 0) == slots_.end();
    if (stop_ || (full && !config_.preempt_priority)) return;
  }
  const Result<std::vector<Job>> queued = store_.NextQueued(1000);
  if (!queued.ok() || queued->empty()) return;
  for (const Decision& d : Plan(*queued)) {
    for (std::int64_t victim : d.preempt) Preempt(victim, d);
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
  const run::Layout layout(dir);
  Launch launch;
  launch.run_dir = dir;
  launch.manifest_path = layout.Job();
  launch.manifest_text = job.spec.manifest;
  launch.log_path = layout.WorkerLog();
  launch.args = {
      config_.worker_binary, "train",           launch.manifest_path, "--output",     dir,
      "--base-dir",          job.spec.base_dir, "--events",           layout.Events()};
  // A first attempt starts afresh (Submit made sure the directory holds no run); a later one
  // (after a cancel, a lost worker or `resume`) continues from the newest checkpoint.
  const std::string resume = !job.resume_from.empty() ? job.resume_from
                             : job.attempts > 0       ? LastCheckpoint(job)
                                                      : "";
  if (!job.resume_from.empty()) {
    ENTRENAR_RETURN_IF_ERROR(store_.SetResumeFrom(job.id, ""));  // used once: later, the newest
  }
  if (!resume.empty()) launch.args.insert(launch.args.end(), {"--resume", resume});
  if (job.spec.strict) launch.args.emplace_back("--strict");  // the worker checks, as the owner
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
  // The pid is stored before the worker may start: a daemon killed in between leaves no worker
  // that its successor cannot adopt.
  ENTRENAR_ASSIGN_OR_RETURN(const pid_t pid, StartWorker(launch, [&](pid_t forked) {
                              KillPoint("daemon.spawn.forked");
                              return store_.SetWorker(job.id, forked, names, token);
                            }));
  {
    std::lock_guard<std::mutex> lock(mu_);
    Worker w;
    w.pid = pid;
    w.uid = job.spec.uid;
    w.user = job.spec.user;
    w.priority = job.spec.priority;
    w.started = ++started_;
    w.slots = slots;
    w.oom = WatchOom(pid);
    for (std::size_t s : slots) slots_[s] = job.id;
    workers_[job.id] = w;
  }
  KillPoint("daemon.spawn.stored");
  ENTRENAR_RETURN_IF_ERROR(
      store_.Transition(job.id, JobState::kRunning, "pid " + std::to_string(pid)).status());
  spdlog::info("job {} started: pid {} on {}{}", job.id, pid, names,
               launch.become ? " as uid " + std::to_string(launch.uid) : "");
  return OkStatus();
}

namespace {

// Line `line_number` of a worker's events.jsonl as a stored event (run/event.h decodes it; a
// malformed line is stored as a log event saying so). Job states are the daemon's: the worker's
// own ("downloading", "preparing", "running", "succeeded") become log lines, and the first three,
// what the running job is doing, its activity (`*activity`; other text is not shown to anyone).
store::Event ToStored(std::int64_t line_number, std::string_view line, std::string* activity) {
  Result<run::EventRecord> decoded = run::DecodeEvent(line);
  run::EventRecord r = decoded.ok() ? std::move(decoded).value()
                                    : run::MalformedEvent(line_number, decoded.status());
  if (r.kind == "state") {
    nlohmann::json j = nlohmann::json::parse(r.payload, nullptr, false);
    const std::string text = StringField(j, "text");
    if (text == "downloading" || text == "preparing" || text == "running") *activity = text;
    j["kind"] = "log";
    j["text"] = "worker: " + text;
    r.kind = "log";
    r.payload = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  store::Event e;
  e.kind = r.kind;
  e.step = r.step;
  e.time = r.time;
  e.payload = std::move(r.payload);
  return e;
}

// The offset just past the first newline at or after `from` in the owner's file, looking at most
// 64 MiB ahead; nullopt when there is none yet.
std::optional<std::int64_t> LineEnd(const run::Owner& owner, const std::string& path,
                                    std::int64_t from, std::size_t chunk) {
  for (int k = 0; k < 1024; ++k) {
    const Result<std::string> more = run::ReadAsOwner(owner, path, from, chunk);
    if (!more.ok() || more->empty()) return std::nullopt;
    const std::size_t nl = more->find('\n');
    if (nl != std::string::npos) return from + static_cast<std::int64_t>(nl) + 1;
    from += static_cast<std::int64_t>(more->size());
  }
  return std::nullopt;
}

}  // namespace

// Reads the complete lines of job `id`'s events.jsonl after the stored offset, as the job's owner
// (a worker that ended before it sent them). At most 64 MiB per call.
Supervisor::Imported Supervisor::ImportFile(std::int64_t id) {
  std::lock_guard<std::mutex> lock(import_mu_);
  const Result<Job> job = store_.GetJob(id);
  if (!job.ok()) return {};
  const run::Owner owner = OwnerOf(*job);
  const std::string path = run::Layout(job->spec.run_dir).Events();
  std::int64_t offset = std::max<std::int64_t>(0, job->events_offset);
  std::int64_t line_number = job->worker_seq;
  constexpr std::size_t kChunk = run::kMaxEventBytes + 1;
  for (int chunks = 0; chunks < 64 * 4; ++chunks) {
    const Result<std::string> data = run::ReadAsOwner(owner, path, offset, kChunk);
    if (!data.ok()) {
      if (data.status().code() == StatusCode::kNotFound) return {};
      return {data.status(), OkStatus()};
    }
    std::size_t end = data->rfind('\n');
    std::vector<store::Event> events;
    std::string activity;
    if (end == std::string::npos) {
      if (data->size() < kChunk) return {};  // a line being written (or none)
      // A line longer than any event: one note for it, once its end is there.
      const std::optional<std::int64_t> after = LineEnd(owner, path, offset + kChunk, kChunk);
      if (!after) return {};
      offset = *after;
      events.push_back(ToStored(++line_number, *data, &activity));
    } else {
      std::size_t start = 0;
      while (start <= end) {
        std::size_t nl = data->find('\n', start);
        if (nl == std::string::npos || nl > end) nl = end + 1;
        events.push_back(
            ToStored(++line_number, std::string_view(*data).substr(start, nl - start), &activity));
        start = nl + 1;
      }
      offset += static_cast<std::int64_t>(end + 1);
    }
    const Result<std::int64_t> seq = store_.ImportEvents(id, events, offset, activity);
    if (!seq.ok()) return {OkStatus(), seq.status()};  // the daemon's trouble, not the run's
    NoteProgress(id, events);
    KillPoint("daemon.import.stored");
  }
  return {OkStatus(), OkStatus(), true};
}

void Supervisor::NoteProgress(std::int64_t id, const std::vector<store::Event>& events) {
  const auto last = std::find_if(events.rbegin(), events.rend(),
                                 [](const store::Event& e) { return e.kind == "metric"; });
  if (last == events.rend()) return;
  const std::optional<run::StepProgress> said = run::ProgressOf(last->payload);
  if (!said) return;
  const double now = std::chrono::duration<double>(clock_.Monotonic().time_since_epoch()).count();
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = workers_.find(id);
  if (it == workers_.end()) return;
  Progress& p = it->second.progress;
  if (it->second.progressed == 0 || last->step < p.last_step) {  // the first (or a restart)
    p.first_step = last->step;
    p.first_at = now;
  }
  ++it->second.progressed;
  p.last_step = last->step;
  p.last_at = now;
  p.total_steps = said->total_steps;
  p.elapsed_seconds = said->elapsed_seconds;
  p.time_budget_seconds = said->time_budget_seconds;
}

void Supervisor::NoteReadError(std::int64_t id, const Status& read) {
  if (!read.ok()) Note(id, "entrenard: " + read.message());
}

void Supervisor::Note(std::int64_t id, const std::string& text) {
  const std::string payload = nlohmann::json{{"kind", "log"}, {"text", text}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  (void)store_.AppendEvents(id,
                            {store::Event{id, 0, "log", 0, payload, FormatUtcIso(clock_.Now())}});
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
  std::string activity;
  for (std::size_t i = static_cast<std::size_t>(job.worker_seq + 1 - first_seq); i < lines.size();
       ++i) {
    events.push_back(ToStored(first_seq + static_cast<std::int64_t>(i), lines[i], &activity));
  }
  ENTRENAR_RETURN_IF_ERROR(store_.ImportEvents(id, events, file_offset, activity).status());
  NoteProgress(id, events);
  KillPoint("daemon.receive.stored");  // stored, not acknowledged: the worker sends them again
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
    // A running worker's events arrive over WorkerService (Receive). Its file is read (as its
    // owner) after it ended, for what it did not get to send, and every few seconds meanwhile,
    // in case its stream cannot reach us: the store keeps each line once either way.
    if (!w.ended && (!w.looked || clock_.Monotonic() - *w.looked > std::chrono::seconds(5))) {
      const Imported imported = ImportFile(id);
      if (!w.read_error_noted) NoteReadError(id, imported.read);
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = workers_.find(id); it != workers_.end()) {
        it->second.looked = clock_.Monotonic();
        it->second.read_error_noted = it->second.read_error_noted || !imported.read.ok();
      }
    }
    int status = 0;
    if (!w.ended) {
      if (!Exited(id, w, &status)) continue;
      w.ended = status;
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = workers_.find(id); it != workers_.end()) it->second.ended = status;
    }
    // What the worker wrote and did not get to send, then its end: both again next time when
    // the store cannot take them now.
    const Imported imported = ImportFile(id);
    if (!w.read_error_noted) NoteReadError(id, imported.read);
    if (imported.more) continue;  // the rest in the next pass
    const Status done = imported.stored.ok() ? Finish(id, w) : imported.stored;
    if (done.ok()) continue;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = workers_.find(id);
    if (it == workers_.end() || it->second.end_deferred) continue;
    it->second.end_deferred = true;
    it->second.read_error_noted = it->second.read_error_noted || !imported.read.ok();
    spdlog::error(
        "job {}: its worker ended; the store cannot record that yet ({}): trying again "
        "every poll",
        id, done.message());
  }
}

bool Supervisor::Exited(std::int64_t id, const Worker& w, int* status) {
  if (w.child ? waitpid(static_cast<pid_t>(w.pid), status, WNOHANG) == w.pid : !Alive(w.pid)) {
    return true;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(id);
  const auto now = clock_.Monotonic();
  if (it != workers_.end() && it->second.term_sent && now - *it->second.term_sent > config_.grace &&
      (!it->second.kill_sent || now - *it->second.kill_sent > std::chrono::seconds(1))) {
    kill(-static_cast<pid_t>(w.pid), SIGKILL);  // once a second until it is gone
    it->second.kill_sent = now;
  }
  return false;
}

// The worker of job `id` is gone: record how it ended and free its slots.
Status Supervisor::Finish(std::int64_t id, const Worker& w) {
  const Result<Job> job = store_.GetJob(id);
  if (!job.ok() && job.status().code() != StatusCode::kNotFound) return job.status();
  if (job.ok() && !store::IsTerminal(job->state)) {
    const bool killed =
        w.child && w.ended && WIFSIGNALED(*w.ended) && WTERMSIG(*w.ended) == SIGKILL;
    const std::string oom = killed && !w.kill_sent ? OomReason(w.oom) : "";
    const auto [to, reason] =
        EndOf(*job, w.child ? w.ended : std::nullopt, oom, w.kill_sent.has_value());
    ENTRENAR_RETURN_IF_ERROR(store_.Transition(id, to, reason).status());
    KillPoint("daemon.finish.stored");
    (void)store_.SetWorker(id, 0);
    spdlog::info("job {} ended: {} ({})", id, std::string(store::StateName(to)), reason);
    if (to == JobState::kInterrupted || to == JobState::kPreempted) {
      if (const Status requeued = Requeue(*job, to); !requeued.ok()) {
        spdlog::warn("job {} was not requeued: {}", id, requeued.message());
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t s : w.slots) slots_[s] = 0;
  workers_.erase(id);
  schedule_due_ = true;
  return OkStatus();
}

// A preempted job goes back to the queue to resume from its newest checkpoint, and so does an
// interrupted one (a rank lost) unless it has been interrupted kMaxInterruptions times: then it
// fails. Preemptions do not count: they are the daemon's doing, not the job's trouble.
Status Supervisor::Requeue(const Job& job, JobState from) {
  if (from == JobState::kPreempted) {
    return store_.Transition(job.id, JobState::kQueued, "requeued after its preemption").status();
  }
  ENTRENAR_ASSIGN_OR_RETURN(const std::int64_t interrupted,
                            store_.CountStates(job.id, JobState::kInterrupted));
  if (interrupted >= kMaxInterruptions) {
    return store_
        .Transition(job.id, JobState::kFailed,
                    "not requeued: interrupted " + std::to_string(interrupted) +
                        " times, and a rank was lost again")
        .status();
  }
  return store_.Transition(job.id, JobState::kQueued, "requeued to resume from its checkpoint")
      .status();
}

Status Supervisor::Cancel(std::int64_t job_id, bool force, const std::string& by) {
  ENTRENAR_ASSIGN_OR_RETURN(const Job job, store_.GetJob(job_id));
  if (store::IsTerminal(job.state)) {
    return FailedPrecondition("job " + std::to_string(job_id) + " has already ended (" +
                              std::string(store::StateName(job.state)) + ")");
  }
  ENTRENAR_RETURN_IF_ERROR(store_.RequestCancel(job_id));
  if (job.state == JobState::kQueued || job.state == JobState::kInterrupted ||
      job.state == JobState::kPreempted) {
    ENTRENAR_RETURN_IF_ERROR(
        store_.Transition(job_id, JobState::kCancelled, "cancelled by " + by).status());
    return OkStatus();
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(job_id);
  if (it != workers_.end()) {
    kill(-static_cast<pid_t>(it->second.pid), force ? SIGKILL : SIGTERM);
    if (!it->second.term_sent) it->second.term_sent = clock_.Monotonic();
  }
  wake_.notify_all();
  return OkStatus();
}

}  // namespace entrenar::supervisor
