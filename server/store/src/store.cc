// The daemon's state in SQLite. One connection, serialized by a mutex; WAL so readers of the
// file (backups, `sqlite3`) never block the daemon.
#include "entrenar/store/store.h"

#include <sqlite3.h>

#include <array>
#include <mutex>

#include <nlohmann/json.hpp>

#include "entrenar/base/clock.h"

namespace entrenar::store {
namespace {

constexpr std::array<std::string_view, 9> kStateNames = {"QUEUED",    "STARTING",    "RUNNING",
                                                         "SUCCEEDED", "FAILED",      "CANCELLED",
                                                         "HALTED",    "INTERRUPTED", "PREEMPTED"};

// Each migration takes the schema from version i to i + 1.
constexpr std::array<const char*, 8> kMigrations = {
    R"sql(
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  uid INTEGER NOT NULL,
  user TEXT NOT NULL,
  priority INTEGER NOT NULL,
  devices INTEGER NOT NULL,
  manifest TEXT NOT NULL,
  base_dir TEXT NOT NULL,
  run_dir TEXT NOT NULL,
  state TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  pid INTEGER NOT NULL DEFAULT 0,
  events_offset INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE INDEX jobs_by_state ON jobs(state, priority DESC, id);
CREATE TABLE events (
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  step INTEGER NOT NULL,
  payload TEXT NOT NULL,
  time TEXT NOT NULL,
  PRIMARY KEY (job_id, seq)) WITHOUT ROWID;
)sql",
    // 2: resuming from a named checkpoint.
    R"sql(
ALTER TABLE jobs ADD COLUMN resume_from TEXT NOT NULL DEFAULT '';
)sql",
    // 3: the owner's group (workers run as the owner) and the kind of device a job needs.
    R"sql(
ALTER TABLE jobs ADD COLUMN gid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN device_kind TEXT NOT NULL DEFAULT 'cpu';
ALTER TABLE jobs ADD COLUMN assigned TEXT NOT NULL DEFAULT '';
)sql",
    // 4: workers report over WorkerService: the attempt's secret, and how many of the lines
    // of events.jsonl are stored (the worker's event numbers); jobs pinned to named devices.
    R"sql(
ALTER TABLE jobs ADD COLUMN worker_token TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN worker_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN pinned TEXT NOT NULL DEFAULT '';
)sql",
    // 5: finding the job that uses a run directory (every Submit asks) without a scan.
    R"sql(
CREATE INDEX jobs_by_run_dir ON jobs(run_dir, id);
)sql",
    // 6: jobs submitted with --strict (a lock file whose hashes each attempt checks).
    R"sql(
ALTER TABLE jobs ADD COLUMN strict INTEGER NOT NULL DEFAULT 0;
)sql",
    // 7: what a running job's worker says it is doing ("downloading", "running").
    R"sql(
ALTER TABLE jobs ADD COLUMN activity TEXT NOT NULL DEFAULT '';
)sql",
    // 8: the job whose start asked a running job to stop (preemption), until it is queued again;
    // the GPU memory a job needs on each of its GPUs.
    R"sql(
ALTER TABLE jobs ADD COLUMN preempted_by INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN gpu_memory INTEGER NOT NULL DEFAULT 0;
)sql"};

// SQLite's message, and for a full disk what it means for entrenard: nothing new is stored until
// there is room, while running jobs keep their events in their run directories.
std::string ErrorOf(sqlite3* db, const std::string& message) {
  if (sqlite3_errcode(db) != SQLITE_FULL) return message;
  return message +
         " (entrenard's state directory has no space left: free some there; running jobs keep "
         "their events in their run directories until it has)";
}

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &s_, nullptr) != SQLITE_OK) s_ = nullptr;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  bool ok() const { return s_ != nullptr; }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Stmt& Bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return s_ ? sqlite3_step(s_) : SQLITE_ERROR; }
  std::int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : "";
  }
  std::string Error() const { return ErrorOf(db_, sqlite3_errmsg(db_)); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

constexpr const char* kJobColumns =
    "id, name, uid, user, priority, devices, manifest, base_dir, run_dir, state, reason, "
    "attempts, created_at, updated_at, pid, events_offset, cancel_requested, resume_from, gid, "
    "device_kind, assigned, worker_token, worker_seq, pinned, strict, activity, preempted_by, "
    "gpu_memory";

Job ReadJob(const Stmt& s) {
  Job j;
  j.id = s.Int(0);
  j.spec.name = s.Text(1);
  j.spec.uid = static_cast<std::uint32_t>(s.Int(2));
  j.spec.user = s.Text(3);
  j.spec.priority = s.Int(4);
  j.spec.devices = s.Int(5);
  j.spec.manifest = s.Text(6);
  j.spec.base_dir = s.Text(7);
  j.spec.run_dir = s.Text(8);
  j.state = ParseState(s.Text(9)).value_or(JobState::kFailed);
  j.reason = s.Text(10);
  j.attempts = s.Int(11);
  j.created_at = s.Text(12);
  j.updated_at = s.Text(13);
  j.pid = s.Int(14);
  j.events_offset = s.Int(15);
  j.cancel_requested = s.Int(16) != 0;
  j.resume_from = s.Text(17);
  j.spec.gid = static_cast<std::uint32_t>(s.Int(18));
  j.spec.device_kind = s.Text(19);
  j.assigned = s.Text(20);
  j.worker_token = s.Text(21);
  j.worker_seq = s.Int(22);
  j.spec.pinned = s.Text(23);
  j.spec.strict = s.Int(24) != 0;
  j.activity = s.Text(25);
  j.preempted_by = s.Int(26);
  j.spec.gpu_memory_bytes = s.Int(27);
  return j;
}

}  // namespace

std::string StatePayload(JobState to, const std::string& reason) {
  const nlohmann::ordered_json j = {{"state", std::string(StateName(to))}, {"reason", reason}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<JobState> StateOfPayload(const std::string& payload) {
  const nlohmann::json j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find("state");
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return ParseState(it->get<std::string>());
}

std::string_view StateName(JobState s) {
  const auto i = static_cast<std::size_t>(s);
  return i < kStateNames.size() ? kStateNames[i] : "UNKNOWN";
}

std::optional<JobState> ParseState(std::string_view name) {
  for (std::size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == name) return static_cast<JobState>(i);
  }
  return std::nullopt;
}

bool IsTerminal(JobState s) {
  return s == JobState::kSucceeded || s == JobState::kFailed || s == JobState::kCancelled ||
         s == JobState::kHalted;
}

bool CanTransition(JobState from, JobState to) {
  using S = JobState;
  switch (from) {
    case S::kQueued:
      return to == S::kStarting || to == S::kCancelled || to == S::kFailed;
    case S::kStarting:
      return to == S::kRunning || IsTerminal(to) || to == S::kInterrupted || to == S::kPreempted;
    case S::kRunning:
      return IsTerminal(to) || to == S::kInterrupted || to == S::kPreempted;
    case S::kInterrupted:
    case S::kPreempted:
      return to == S::kQueued || to == S::kCancelled || to == S::kFailed;
    default:  // a finished job runs again only through a resume, which queues it
      return IsTerminal(from) && to == S::kQueued;
  }
}

struct Store::Impl {
  sqlite3* db = nullptr;
  std::mutex mu;
  Observer observer;
  std::vector<Event> pending;           // appended in the open transaction, for the observer
  const Clock* clock = &SystemClock();  // what `created_at`, `updated_at` and event times say

  std::string Now() const { return FormatUtcIso(clock->Now()); }

  ~Impl() { sqlite3_close(db); }

  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string message = ErrorOf(db, err ? err : sqlite3_errmsg(db));
      sqlite3_free(err);
      return Internal("sqlite: " + message);
    }
    return OkStatus();
  }

  Result<int> Version() {
    Stmt s(db, "PRAGMA user_version");
    if (s.Step() != SQLITE_ROW) return DataLoss("sqlite: " + s.Error());
    return static_cast<int>(s.Int(0));
  }

  // Runs `body` in a transaction: committed when it returns OK, rolled back otherwise. A COMMIT
  // that fails (a full disk) is rolled back too: SQLite keeps the transaction open, and every
  // later statement on the connection fails until it is closed.
  template <typename F>
  Status Transaction(F&& body) {
    ENTRENAR_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    pending.clear();
    Status s = body();
    if (s.ok()) s = Exec("COMMIT");
    if (!s.ok()) {
      if (!sqlite3_get_autocommit(db)) (void)Exec("ROLLBACK");
      pending.clear();
      return s;
    }
    if (observer && !pending.empty()) observer(pending);
    pending.clear();
    return OkStatus();
  }

  Result<std::int64_t> LastSeqLocked(std::int64_t job_id) {
    Stmt s(db, "SELECT COALESCE(MAX(seq), 0) FROM events WHERE job_id = ?");
    s.Bind(1, job_id);
    if (s.Step() != SQLITE_ROW) return Internal("sqlite: " + s.Error());
    return s.Int(0);
  }

  Result<std::int64_t> AppendLocked(std::int64_t job_id, const std::vector<Event>& events) {
    ENTRENAR_ASSIGN_OR_RETURN(std::int64_t seq, LastSeqLocked(job_id));
    const std::string now = Now();
    Stmt insert(db,
                "INSERT INTO events (job_id, seq, kind, step, payload, time) VALUES (?,?,?,?,?,?)");
    for (const Event& e : events) {
      insert.Reset();
      insert.Bind(1, job_id)
          .Bind(2, ++seq)
          .Bind(3, e.kind)
          .Bind(4, e.step)
          .Bind(5, e.payload)
          .Bind(6, e.time.empty() ? now : e.time);
      if (insert.Step() != SQLITE_DONE) return Internal("sqlite: " + insert.Error());
      if (observer) {
        pending.push_back(e);
        Event& p = pending.back();
        p.job_id = job_id;
        p.seq = seq;
        if (p.time.empty()) p.time = now;
      }
    }
    return seq;
  }

  Result<Job> GetLocked(std::int64_t id) {
    const std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?";
    Stmt s(db, sql.c_str());
    s.Bind(1, id);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return NotFound("no job " + std::to_string(id));
    if (rc != SQLITE_ROW) return Internal("sqlite: " + s.Error());
    return ReadJob(s);
  }
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

void Store::SetObserver(Observer observer) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->observer = std::move(observer);
}

int Store::CurrentSchema() { return static_cast<int>(kMigrations.size()); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& path, const Clock& clock) {
  auto impl = std::make_unique<Impl>();
  impl->clock = &clock;
  if (sqlite3_open_v2(path.c_str(), &impl->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return Internal("cannot open " + path + ": " + sqlite3_errmsg(impl->db));
  }
  sqlite3_busy_timeout(impl->db, 5000);
  Result<int> version = impl->Version();
  if (!version.ok()) {
    return DataLoss(path + " is not an entrenar state database (" + version.status().message() +
                    ")");
  }
  ENTRENAR_RETURN_IF_ERROR(impl->Exec("PRAGMA journal_mode = WAL"));
  ENTRENAR_RETURN_IF_ERROR(impl->Exec("PRAGMA synchronous = NORMAL"));
  ENTRENAR_RETURN_IF_ERROR(impl->Exec("PRAGMA foreign_keys = ON"));
  if (*version > CurrentSchema()) {
    return FailedPrecondition(path + " has schema version " + std::to_string(*version) +
                              ", written by a newer entrenard; this one knows up to " +
                              std::to_string(CurrentSchema()));
  }
  for (int v = *version; v < CurrentSchema(); ++v) {
    Impl& db = *impl;
    const Status migrated = db.Transaction([&]() -> Status {
      ENTRENAR_RETURN_IF_ERROR(db.Exec(kMigrations[static_cast<std::size_t>(v)]));
      return db.Exec(("PRAGMA user_version = " + std::to_string(v + 1)).c_str());
    });
    if (!migrated.ok()) return migrated;
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Result<int> Store::SchemaVersion() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->Version();
}

Result<std::int64_t> Store::CreateJob(const JobSpec& spec) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::int64_t id = 0;
  ENTRENAR_RETURN_IF_ERROR(impl_->Transaction([&]() -> Status {
    const std::string now = impl_->Now();
    Stmt s(impl_->db,
           "INSERT INTO jobs (name, uid, user, priority, devices, manifest, base_dir, run_dir, "
           "state, created_at, updated_at, gid, device_kind, pinned, strict, gpu_memory) VALUES "
           "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    s.Bind(1, spec.name)
        .Bind(2, static_cast<std::int64_t>(spec.uid))
        .Bind(3, spec.user)
        .Bind(4, spec.priority)
        .Bind(5, spec.devices)
        .Bind(6, spec.manifest)
        .Bind(7, spec.base_dir)
        .Bind(8, spec.run_dir)
        .Bind(9, std::string(StateName(JobState::kQueued)))
        .Bind(10, now)
        .Bind(11, now)
        .Bind(12, static_cast<std::int64_t>(spec.gid))
        .Bind(13, spec.device_kind)
        .Bind(14, spec.pinned)
        .Bind(15, std::int64_t{spec.strict ? 1 : 0})
        .Bind(16, spec.gpu_memory_bytes);
    if (s.Step() != SQLITE_DONE) return Internal("sqlite: " + s.Error());
    id = sqlite3_last_insert_rowid(impl_->db);
    Event e;
    e.kind = "state";
    e.payload = StatePayload(JobState::kQueued, "submitted");
    return impl_->AppendLocked(id, {e}).status();
  }));
  return id;
}

Result<Job> Store::GetJob(std::int64_t id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->GetLocked(id);
}

Result<std::vector<Job>> Store::ListJobs(const JobFilter& f) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const std::string sql = std::string("SELECT ") + kJobColumns +
                          " FROM jobs WHERE id > ? AND (? = '' OR state = ?) AND (? < 0 OR uid = "
                          "?) ORDER BY id LIMIT ?";
  Stmt s(impl_->db, sql.c_str());
  const std::string state = f.state ? std::string(StateName(*f.state)) : "";
  const std::int64_t uid = f.uid ? static_cast<std::int64_t>(*f.uid) : -1;
  s.Bind(1, f.after_id).Bind(2, state).Bind(3, state).Bind(4, uid).Bind(5, uid).Bind(6, f.limit);
  std::vector<Job> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadJob(s));
  if (rc != SQLITE_DONE) return Internal("sqlite: " + s.Error());
  return out;
}

Result<std::int64_t> Store::CountStates(std::int64_t id, JobState state) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db,
         "SELECT COUNT(*) FROM events WHERE job_id = ? AND kind = 'state' AND "
         "json_extract(payload, '$.state') = ?");
  s.Bind(1, id).Bind(2, std::string(StateName(state)));
  if (s.Step() != SQLITE_ROW) return Internal("sqlite: " + s.Error());
  return s.Int(0);
}

Result<std::int64_t> Store::CountJobs(JobState state) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db, "SELECT COUNT(*) FROM jobs WHERE state = ?");
  s.Bind(1, std::string(StateName(state)));
  if (s.Step() != SQLITE_ROW) return Internal("sqlite: " + s.Error());
  return s.Int(0);
}

Result<std::optional<Job>> Store::ActiveJobIn(const std::string& run_dir) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const std::string sql = std::string("SELECT ") + kJobColumns +
                          " FROM jobs WHERE run_dir = ? AND state IN ('QUEUED', 'STARTING', "
                          "'RUNNING', 'INTERRUPTED', 'PREEMPTED') ORDER BY id LIMIT 1";
  Stmt s(impl_->db, sql.c_str());
  s.Bind(1, run_dir);
  const int rc = s.Step();
  if (rc == SQLITE_ROW) return std::optional<Job>(ReadJob(s));
  if (rc != SQLITE_DONE) return Internal("sqlite: " + s.Error());
  return std::optional<Job>();
}

Result<std::vector<Job>> Store::NextQueued(std::int64_t limit) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const std::string sql = std::string("SELECT ") + kJobColumns +
                          " FROM jobs WHERE state = 'QUEUED' ORDER BY priority DESC, id LIMIT ?";
  Stmt s(impl_->db, sql.c_str());
  s.Bind(1, limit);
  std::vector<Job> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadJob(s));
  if (rc != SQLITE_DONE) return Internal("sqlite: " + s.Error());
  return out;
}

Result<Job> Store::Transition(std::int64_t id, JobState to, const std::string& reason) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  ENTRENAR_RETURN_IF_ERROR(impl_->Transaction([&]() -> Status {
    ENTRENAR_ASSIGN_OR_RETURN(const Job job, impl_->GetLocked(id));
    if (!CanTransition(job.state, to)) {
      return FailedPrecondition("job " + std::to_string(id) + " is " +
                                std::string(StateName(job.state)) + " and cannot become " +
                                std::string(StateName(to)));
    }
    // Queued again (a resume, a requeue): an earlier cancel or preemption no longer applies.
    Stmt s(impl_->db,
           "UPDATE jobs SET state = ?, reason = ?, updated_at = ?, cancel_requested = "
           "(CASE WHEN ?4 THEN 0 ELSE cancel_requested END), "
           "preempted_by = (CASE WHEN ?4 THEN 0 ELSE preempted_by END), "
           "activity = (CASE WHEN ? THEN activity ELSE '' END) WHERE id = ?");
    // Becoming RUNNING keeps what the worker said while STARTING (it may report before the
    // daemon marks it running); every other change clears it.
    s.Bind(1, std::string(StateName(to)))
        .Bind(2, reason)
        .Bind(3, impl_->Now())
        .Bind(4, static_cast<std::int64_t>(to == JobState::kQueued))
        .Bind(5, static_cast<std::int64_t>(to == JobState::kRunning))
        .Bind(6, id);
    if (s.Step() != SQLITE_DONE) return Internal("sqlite: " + s.Error());
    Event e;
    e.kind = "state";
    e.payload = StatePayload(to, reason);
    return impl_->AppendLocked(id, {e}).status();
  }));
  return impl_->GetLocked(id);
}

Status Store::AddAttempt(std::int64_t id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db, "UPDATE jobs SET attempts = attempts + 1 WHERE id = ?");
  s.Bind(1, id);
  if (s.Step() != SQLITE_DONE) return Internal("sqlite: " + s.Error());
  if (sqlite3_changes(impl_->db) == 0) return NotFound("no job " + std::to_string(id));
  return OkStatus();
}

Status Store::SetWorker(std::int64_t id, std::int64_t pid, const std::string& assigned,
                        const std::string& token) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db, "UPDATE jobs SET pid = ?, assigned = ?, worker_token = ? WHERE id = ?");
  s.Bind(1, pid).Bind(2, assigned).Bind(3, token).Bind(4, id);
  if (s.Step() != SQLITE_DONE) return Internal("sqlite: " + s.Error());
  return OkStatus();
}

Status Store::SetResumeFrom(std::int64_t id, const std::string& checkpoint) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db, "UPDATE jobs SET resume_from = ? WHERE id = ?");
  s.Bind(1, checkpoint).Bind(2, id);
  if (s.Step() != SQLITE_DONE) return Internal("sqlite: " + s.Error());
  return OkStatus();
}

Status Store::RequestPreempt(std::int64_t id, std::int64_t by) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db, "UPDATE jobs SET preempted_by = ? WHERE id = ?");
  s.Bind(1, by).Bind(2, id);
  if (s.Step() != SQLITE_DONE) return Internal("sqlite: " + s.Error());
  return OkStatus();
}

Status Store::RequestCancel(std::int64_t id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db, "UPDATE jobs SET cancel_requested = 1 WHERE id = ?");
  s.Bind(1, id);
  if (s.Step() != SQLITE_DONE) return Internal("sqlite: " + s.Error());
  return OkStatus();
}

Result<std::int64_t> Store::ImportEvents(std::int64_t job_id, const std::vector<Event>& events,
                                         std::int64_t new_offset, const std::string& activity) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::int64_t last = 0;
  const Status imported = impl_->Transaction([&]() -> Status {
    ENTRENAR_ASSIGN_OR_RETURN(last, impl_->AppendLocked(job_id, events));
    Stmt s(impl_->db,
           "UPDATE jobs SET events_offset = ?, worker_seq = worker_seq + ?, activity = "
           "(CASE WHEN ? = '' THEN activity ELSE ? END) WHERE id = ?");
    s.Bind(1, new_offset)
        .Bind(2, static_cast<std::int64_t>(events.size()))
        .Bind(3, activity)
        .Bind(4, activity)
        .Bind(5, job_id);
    if (s.Step() != SQLITE_DONE) return Internal("sqlite: " + s.Error());
    return OkStatus();
  });
  if (!imported.ok()) return imported;
  return last;
}

Result<std::int64_t> Store::AppendEvents(std::int64_t job_id, const std::vector<Event>& events) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::int64_t last = 0;
  const Status appended = impl_->Transaction([&]() -> Status {
    ENTRENAR_RETURN_IF_ERROR(impl_->GetLocked(job_id).status());
    ENTRENAR_ASSIGN_OR_RETURN(last, impl_->AppendLocked(job_id, events));
    return OkStatus();
  });
  if (!appended.ok()) return appended;
  return last;
}

Result<std::vector<Event>> Store::Events(std::int64_t job_id, std::int64_t after_seq,
                                         std::int64_t limit) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Stmt s(impl_->db,
         "SELECT seq, kind, step, payload, time FROM events WHERE job_id = ? AND seq > ? "
         "ORDER BY seq LIMIT ?");
  s.Bind(1, job_id).Bind(2, after_seq).Bind(3, limit);
  std::vector<Event> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    Event e;
    e.job_id = job_id;
    e.seq = s.Int(0);
    e.kind = s.Text(1);
    e.step = s.Int(2);
    e.payload = s.Text(3);
    e.time = s.Text(4);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return Internal("sqlite: " + s.Error());
  return out;
}

Result<std::int64_t> Store::LastSeq(std::int64_t job_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->LastSeqLocked(job_id);
}

Result<std::vector<Job>> Store::PurgeEnded(const std::string& before) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  std::vector<Job> gone;
  const Status purged = impl_->Transaction([&]() -> Status {
    const std::string sql = std::string("SELECT ") + kJobColumns +
                            " FROM jobs WHERE state IN ('SUCCEEDED','FAILED','CANCELLED','HALTED')"
                            " AND updated_at < ? ORDER BY id";
    Stmt s(impl_->db, sql.c_str());
    s.Bind(1, before);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) gone.push_back(ReadJob(s));
    if (rc != SQLITE_DONE) return Internal("sqlite: " + s.Error());
    Stmt events(impl_->db, "DELETE FROM events WHERE job_id = ?");
    Stmt jobs(impl_->db, "DELETE FROM jobs WHERE id = ?");
    for (const Job& j : gone) {
      events.Reset();
      jobs.Reset();
      if (events.Bind(1, j.id).Step() != SQLITE_DONE || jobs.Bind(1, j.id).Step() != SQLITE_DONE) {
        return Internal("sqlite: " + jobs.Error());
      }
    }
    return OkStatus();
  });
  if (!purged.ok()) return purged;
  return gone;
}

}  // namespace entrenar::store
