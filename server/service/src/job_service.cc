#include "entrenar/service/job_service.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "entrenar/admission/admission.h"
#include "entrenar/base/clock.h"
#include "entrenar/base/strings.h"
#include "entrenar/base/users.h"
#include "entrenar/base/version.h"
#include "entrenar/manifest/load.h"
#include "entrenar/plan/support.h"
#include "entrenar/run/layout.h"
#include "entrenar/run/owner_files.h"

#include "event_stream.h"

namespace entrenar::service {
namespace {

namespace fs = std::filesystem;
using grpc::StatusCode;

grpc::Status FromStatus(const Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
}

void ToProto(const store::Job& j, v1::Job* out) {
  out->set_id(j.id);
  out->set_name(j.spec.name);
  out->set_uid(j.spec.uid);
  out->set_user(j.spec.user);
  out->set_state(static_cast<v1::JobState>(static_cast<int>(j.state) + 1));
  out->set_reason(j.reason);
  out->set_priority(j.spec.priority);
  out->set_devices(j.spec.devices);
  out->set_run_dir(j.spec.run_dir);
  out->set_created_at(j.created_at);
  out->set_updated_at(j.updated_at);
  out->set_attempts(j.attempts);
  out->set_device_kind(j.spec.device_kind);
  out->set_assigned(j.assigned);
  out->set_pinned(j.spec.pinned);
  out->set_strict(j.spec.strict);
  out->set_gpu_memory_bytes(j.spec.gpu_memory_bytes);
  if (j.state == store::JobState::kRunning) out->set_activity(j.activity);
}

void ToProto(const manifest::Diagnostic& d, v1::Diagnostic* out) {
  out->set_severity(manifest::SeverityName(d.severity));
  out->set_path(d.path);
  out->set_file(d.location.file);
  out->set_line(d.location.line);
  out->set_column(d.location.column);
  out->set_message(d.message);
  for (const std::string& h : d.hints) out->add_hints(h);
}

std::string UserName(std::uint32_t uid) {
  const std::optional<User> u = UserById(uid);
  return u ? u->name : std::to_string(uid);
}

// Loads a manifest as the client sees it: its environment, its directory, its overrides.
manifest::LoadResult Load(const v1::ManifestSource& src, std::string timestamp) {
  manifest::LoadOptions options;
  options.overrides.assign(src.overrides().begin(), src.overrides().end());
  options.timestamp = std::move(timestamp);
  std::map<std::string, std::string> env(src.env().begin(), src.env().end());
  options.getenv = [env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  return manifest::LoadText(src.yaml(), src.file_name().empty() ? "manifest.yaml" : src.file_name(),
                            options);
}

std::string Errors(const std::vector<manifest::Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) {
    if (d.severity == manifest::Severity::kError) out += manifest::FormatDiagnostic(d) + "\n";
  }
  return out;
}

}  // namespace

JobService::JobService(store::Store& store, store::EventHub& hub,
                       supervisor::Supervisor& supervisor, ServiceConfig config, PeerUid peer_uid,
                       const Clock& clock)
    : store_(store),
      hub_(hub),
      supervisor_(supervisor),
      config_(std::move(config)),
      peer_uid_(std::move(peer_uid)),
      clock_(clock),
      pump_(std::make_unique<FollowerPump>(hub)) {}

JobService::~JobService() = default;

grpc::Status JobService::Identify(grpc::ServerContextBase* ctx, service::Caller* caller) const {
  const std::optional<service::Caller> found = peer_uid_(ctx);
  if (!found) return {StatusCode::PERMISSION_DENIED, "cannot tell who is calling"};
  *caller = *found;
  return grpc::Status::OK;
}

grpc::Status JobService::Authorize(grpc::ServerContext* ctx, std::int64_t id, std::uint32_t* uid,
                                   store::Job* job) const {
  service::Caller caller;
  if (grpc::Status s = Identify(ctx, &caller); !s.ok()) return s;
  Result<store::Job> found = store_.GetJob(id);
  if (!found.ok()) return FromStatus(found.status());
  if (grpc::Status s = MayChange(caller.uid, *found); !s.ok()) return s;
  *uid = caller.uid;
  *job = std::move(found).value();
  return grpc::Status::OK;
}

grpc::Status JobService::MayChange(std::uint32_t uid, const store::Job& job) const {
  if (uid == job.spec.uid || config_.admins.count(uid)) return grpc::Status::OK;
  return {StatusCode::PERMISSION_DENIED, "job " + std::to_string(job.id) + " belongs to " +
                                             job.spec.user +
                                             "; only its owner or an admin may "
                                             "change it"};
}

grpc::Status JobService::Validate(grpc::ServerContext*, const v1::ValidateRequest* req,
                                  v1::ValidateResponse* resp) {
  if (req->manifest().yaml().size() > config_.max_manifest_bytes) {
    return {StatusCode::INVALID_ARGUMENT,
            "the manifest is larger than " + std::to_string(config_.max_manifest_bytes) + " bytes"};
  }
  const manifest::LoadResult r = Load(req->manifest(), FormatUtcIso(clock_.Now()));
  std::vector<manifest::Diagnostic> diags = r.diagnostics;
  if (r.ok()) {  // what Submit would refuse as not supported (plan/support.h)
    const std::vector<manifest::Diagnostic> trainable = plan::CheckTrainable(*r.manifest);
    const std::vector<manifest::Diagnostic> unsupported = plan::CheckSupport(*r.manifest);
    diags.insert(diags.end(), trainable.begin(), trainable.end());
    diags.insert(diags.end(), unsupported.begin(), unsupported.end());
  }
  resp->set_ok(r.ok() && !manifest::HasErrors(diags));
  for (const auto& d : diags) ToProto(d, resp->add_diagnostics());
  if (r.ok()) resp->set_resolved_yaml(manifest::ToYaml(*r.manifest));
  return grpc::Status::OK;
}

grpc::Status JobService::Submit(grpc::ServerContext* ctx, const v1::SubmitRequest* req,
                                v1::SubmitResponse* resp) {
  service::Caller caller;
  if (grpc::Status s = Identify(ctx, &caller); !s.ok()) return s;
  const v1::ManifestSource& src = req->manifest();
  if (src.yaml().size() > config_.max_manifest_bytes) {
    return {StatusCode::INVALID_ARGUMENT,
            "the manifest is larger than " + std::to_string(config_.max_manifest_bytes) + " bytes"};
  }
  manifest::LoadResult r = Load(src, UniqueTimestamp());
  for (const auto& d : r.diagnostics) ToProto(d, resp->add_diagnostics());
  if (!r.ok()) return {StatusCode::INVALID_ARGUMENT, Errors(r.diagnostics)};
  admission::Request ask;
  ask.uid = caller.uid;
  ask.gid = caller.gid;
  ask.user = UserName(caller.uid);
  ask.name = req->name();
  ask.priority = req->priority();
  ask.devices = req->devices();
  ask.device_names.assign(req->device_names().begin(), req->device_names().end());
  ask.working_dir = src.working_dir();
  ask.strict = req->strict();
  ask.gpu_memory_bytes = req->gpu_memory_bytes();
  std::vector<devices::Device> devices;
  for (const supervisor::Slot& slot : supervisor_.SlotStates()) devices.push_back(slot.device);
  std::vector<manifest::Diagnostic> unsupported;
  const Result<store::JobSpec> spec =
      admission::Admit(*r.manifest, ask, Policy(), devices, &unsupported);
  for (const auto& d : unsupported) ToProto(d, resp->add_diagnostics());
  if (!spec.ok()) return FromStatus(spec.status());
  // One submission at a time from the check to the insert: two cannot both find it free.
  std::lock_guard<std::mutex> lock(submit_mu_);
  const Status free = admission::RunDirFree(store_, spec->run_dir, caller.uid, caller.gid);
  if (!free.ok()) return FromStatus(free);
  const Result<std::int64_t> id = store_.CreateJob(*spec);
  if (!id.ok()) return FromStatus(id.status());
  resp->set_job_id(*id);
  resp->set_run_dir(spec->run_dir);
  supervisor_.Poke();
  return grpc::Status::OK;
}

admission::Policy JobService::Policy() const {
  admission::Policy p;
  p.admins = config_.admins;
  p.allow_custom_callbacks = config_.allow_custom_callbacks;
  p.max_priority = config_.max_priority;
  p.max_name_bytes = config_.max_name_bytes;
  return p;
}

std::string JobService::UniqueTimestamp() {
  std::lock_guard<std::mutex> lock(timestamp_mu_);
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(clock_.Now());
  if (now <= last_timestamp_)
    now = std::chrono::time_point_cast<std::chrono::milliseconds>(last_timestamp_ +
                                                                  std::chrono::milliseconds(1));
  last_timestamp_ = now;
  return FormatUtcIsoMillis(now);
}

grpc::Status JobService::GetJob(grpc::ServerContext*, const v1::GetJobRequest* req, v1::Job* resp) {
  const Result<store::Job> job = store_.GetJob(req->job_id());
  if (!job.ok()) return FromStatus(job.status());
  ToProto(*job, resp);
  return grpc::Status::OK;
}

grpc::Status JobService::ListJobs(grpc::ServerContext* ctx, const v1::ListJobsRequest* req,
                                  v1::ListJobsResponse* resp) {
  store::JobFilter f;
  if (req->state() != v1::JOB_STATE_UNSPECIFIED) {
    f.state = static_cast<store::JobState>(static_cast<int>(req->state()) - 1);
  }
  if (req->mine()) {
    service::Caller caller;
    if (grpc::Status s = Identify(ctx, &caller); !s.ok()) return s;
    f.uid = caller.uid;
  }
  if (!req->user().empty()) {
    const std::optional<User> user = FindUser(req->user());
    if (!user) return {StatusCode::INVALID_ARGUMENT, "no user `" + req->user() + "`"};
    f.uid = user->uid;
  }
  f.after_id = req->page_token();
  f.limit = req->page_size() <= 0 ? 100 : std::min(req->page_size(), 1000);
  const Result<std::vector<store::Job>> jobs = store_.ListJobs(f);
  if (!jobs.ok()) return FromStatus(jobs.status());
  // A page ends early rather than grow past what a client accepts (4 MiB): the rest follows.
  constexpr std::size_t kMaxPageBytes = 2 << 20;
  std::size_t bytes = 0;
  for (const store::Job& j : *jobs) {
    v1::Job* out = resp->add_jobs();
    ToProto(j, out);
    bytes += out->ByteSizeLong();
    if (bytes > kMaxPageBytes && &j != &jobs->back()) {
      resp->set_next_page_token(j.id);
      return grpc::Status::OK;
    }
  }
  if (static_cast<std::int64_t>(jobs->size()) == f.limit) {
    resp->set_next_page_token(jobs->back().id);
  }
  return grpc::Status::OK;
}

grpc::Status JobService::CancelJob(grpc::ServerContext* ctx, const v1::CancelJobRequest* req,
                                   v1::CancelJobResponse* resp) {
  std::uint32_t uid = 0;
  store::Job job;
  if (grpc::Status s = Authorize(ctx, req->job_id(), &uid, &job); !s.ok()) return s;
  const Status s = supervisor_.Cancel(req->job_id(), req->force(), "uid " + std::to_string(uid));
  if (!s.ok()) return FromStatus(s);
  const Result<store::Job> now = store_.GetJob(req->job_id());
  if (!now.ok()) return FromStatus(now.status());
  ToProto(*now, resp->mutable_job());
  return grpc::Status::OK;
}

grpc::Status JobService::ResumeJob(grpc::ServerContext* ctx, const v1::ResumeJobRequest* req,
                                   v1::ResumeJobResponse* resp) {
  std::uint32_t uid = 0;
  store::Job job;
  if (grpc::Status s = Authorize(ctx, req->job_id(), &uid, &job); !s.ok()) return s;
  std::string from;
  if (!req->checkpoint().empty()) {
    // A checkpoint of this job's run, by name (step-N): never a path elsewhere.
    const std::string& name = req->checkpoint();
    const run::Layout layout(job.spec.run_dir);
    const std::optional<std::int64_t> step = run::Layout::ParseCheckpointName(name);
    const std::vector<std::int64_t> steps =
        run::CheckpointStepsAsOwner(run::OwnerFor(job.spec.uid, job.spec.gid), layout);
    if (!step || std::find(steps.begin(), steps.end(), *step) == steps.end()) {
      return {StatusCode::NOT_FOUND, "job " + std::to_string(job.id) + " has no checkpoint `" +
                                         SanitizeUtf8(name.substr(0, 100)) + "`"};
    }
    from = layout.Checkpoint(*step);
  }
  if (job.state == store::JobState::kSucceeded) {
    return {StatusCode::FAILED_PRECONDITION,
            "job " + std::to_string(job.id) + " has succeeded; there is nothing to resume"};
  }
  if (const Status s = store_.SetResumeFrom(job.id, from); !s.ok()) return FromStatus(s);
  const Result<store::Job> moved =
      store_.Transition(job.id, store::JobState::kQueued,
                        "resumed by uid " + std::to_string(uid) +
                            (from.empty() ? "" : " from " + fs::path(from).filename().string()));
  if (!moved.ok()) return FromStatus(moved.status());
  supervisor_.Poke();
  ToProto(*moved, resp->mutable_job());
  return grpc::Status::OK;
}

bool JobService::StreamComplete(std::int64_t id, std::int64_t after) {
  if (const std::optional<bool> known = hub_.Complete(id, after)) return *known;
  const Result<store::Job> job = store_.GetJob(id);
  if (!job.ok() || !store::IsTerminal(job->state)) return false;
  const Result<std::int64_t> last = store_.LastSeq(id);
  return last.ok() && *last <= after;
}

namespace {

// A StreamEvents call refused before it streams anything.
class Refusal final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  explicit Refusal(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

// Replays from the store or, for recent events, from memory (EventHub); then follows live
// (EventStream, woken by the FollowerPump).
grpc::ServerWriteReactor<v1::Event>* JobService::StreamEvents(grpc::CallbackServerContext* ctx,
                                                              const v1::StreamEventsRequest* req) {
  const std::int64_t id = req->job_id();
  if (!store_.GetJob(id).ok()) {
    return new Refusal({StatusCode::NOT_FOUND, "no job " + std::to_string(id)});
  }
  // A follower costs memory while it streams: a user may hold only so many.
  service::Caller caller{UINT32_MAX, UINT32_MAX};  // unknown callers share one allowance
  if (std::optional<Caller> c = peer_uid_(ctx)) caller = *c;
  const bool admin = config_.admins.count(caller.uid) > 0;
  {
    std::lock_guard<std::mutex> lock(follow_mu_);
    if (!admin && followers_[caller.uid] >= config_.max_followers_per_user) {
      return new Refusal({StatusCode::RESOURCE_EXHAUSTED,
                          "uid " + std::to_string(caller.uid) + " already follows " +
                              std::to_string(config_.max_followers_per_user) +
                              " event streams, the most one user may (`max_followers_per_user` in "
                              "entrenard.yaml); end one first"});
    }
    ++followers_[caller.uid];
  }
  auto* stream = new EventStream(
      store_, hub_, *pump_, id, req->after_seq(), req->follow(),
      [this](std::int64_t job, std::int64_t after) { return StreamComplete(job, after); },
      [this, uid = caller.uid] {
        std::lock_guard<std::mutex> lock(follow_mu_);
        if (--followers_[uid] == 0) followers_.erase(uid);
      });
  stream->Next();
  return stream;
}

grpc::Status JobService::GetMetrics(grpc::ServerContext*, const v1::GetMetricsRequest* req,
                                    v1::GetMetricsResponse* resp) {
  // Name -> step -> value. A step trained again after a resume (the steps after the checkpoint
  // it continues from) is shown once, with its latest value.
  std::map<std::string, std::map<std::int64_t, double>> series;
  std::int64_t after = 0;
  while (true) {
    const Result<std::vector<store::Event>> events = store_.Events(req->job_id(), after, 5000);
    if (!events.ok()) return FromStatus(events.status());
    if (events->empty()) break;
    for (const store::Event& e : *events) {
      after = e.seq;
      if (e.kind != "metric" && e.kind != "validation") continue;
      const nlohmann::json j = nlohmann::json::parse(e.payload, nullptr, false);
      if (!j.is_object() || !j.contains("values") || !j["values"].is_object()) continue;
      for (const auto& [name, value] : j["values"].items()) {
        if (!value.is_number()) continue;
        if (req->names_size() > 0 &&
            std::find(req->names().begin(), req->names().end(), name) == req->names().end()) {
          continue;
        }
        series[name][e.step] = value.get<double>();
      }
    }
  }
  for (const auto& [name, points] : series) {
    v1::Series* s = resp->add_series();
    s->set_name(name);
    for (const auto& [step, value] : points) {
      s->add_steps(step);
      s->add_values(value);
    }
  }
  return grpc::Status::OK;
}

grpc::Status JobService::ListCheckpoints(grpc::ServerContext*,
                                         const v1::ListCheckpointsRequest* req,
                                         v1::ListCheckpointsResponse* resp) {
  const Result<store::Job> job = store_.GetJob(req->job_id());
  if (!job.ok()) return FromStatus(job.status());
  const run::Layout layout(job->spec.run_dir);
  for (const std::int64_t step :
       run::CheckpointStepsAsOwner(run::OwnerFor(job->spec.uid, job->spec.gid), layout)) {
    v1::Checkpoint* c = resp->add_checkpoints();
    c->set_step(step);
    c->set_path(layout.Checkpoint(step));
  }
  return grpc::Status::OK;
}

grpc::Status JobService::ClusterStatus(grpc::ServerContext*, const v1::ClusterStatusRequest*,
                                       v1::ClusterStatusResponse* resp) {
  resp->set_version(std::string(Version()));
  for (const supervisor::Slot& s : supervisor_.SlotStates()) {
    v1::Device* d = resp->add_devices();
    d->set_name(s.device.name);
    d->set_kind(s.device.kind);
    d->set_model(s.device.model);
    d->set_memory_bytes(s.device.memory_bytes);
    d->set_job_id(s.job_id);
  }
  for (const supervisor::Decision& q : supervisor_.ExplainQueue()) {
    v1::Waiting* w = resp->add_waiting();
    w->set_job_id(q.job_id);
    w->set_position(q.position);
    w->set_kind(q.kind);
    w->set_reason(q.devices.empty() ? q.why : "starting now");
    if (q.devices.empty() && q.starts_in) w->set_starts_in_seconds(*q.starts_in);
  }
  resp->set_devices_note(config_.devices_note);
  const Result<std::int64_t> queued = store_.CountJobs(store::JobState::kQueued);
  const Result<std::int64_t> running = store_.CountJobs(store::JobState::kRunning);
  if (!queued.ok()) return FromStatus(queued.status());
  if (!running.ok()) return FromStatus(running.status());
  resp->set_queued(*queued);
  resp->set_running(*running);
  return grpc::Status::OK;
}

}  // namespace entrenar::service
