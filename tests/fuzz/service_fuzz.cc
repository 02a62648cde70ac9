// Requests from anyone on entrenard's socket, handled in-process as gRPC hands them over. An
// input is a sequence of calls, each a method and its request's protobuf encoding (the layout:
// service_calls.h), so every field can take any value. They run against a JobService over a
// real store in a fresh directory and a supervisor that is not started (nothing trains), called
// by an ordinary user. A worker's Report goes through the supervisor's Receive, as
// WorkerService does it; the first job Submit accepts is given a worker with the secret `secret`.
// Properties: nothing crashes or throws; every refused call says why; a job Submit accepted reads
// back with GetJob as the caller's, in its run directory; the store opens again afterwards and
// lists every job.

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "entrenar/service/job_service.h"
#include "entrenar/store/event_hub.h"
#include "entrenar/store/store.h"
#include "entrenar/supervisor/supervisor.h"
#include "entrenar/v1/worker.pb.h"

#include "fuzz.h"
#include "service_calls.h"

namespace {

namespace fs = std::filesystem;
using entrenar::fuzz::Call;
using entrenar::fuzz::Method;

constexpr std::uint32_t kUid = 1000, kGid = 1000;  // an ordinary user, not an admin

// The directory every input's store lives in (emptied before each input): in memory where the
// machine has /dev/shm, so that each input's SQLite syncs reach no disk.
const std::string& Dir() {
  // Never destroyed: the exit handler that removes it runs after static destructors would.
  static const std::string* dir = [] {
    std::string tmpl = std::string(fs::is_directory("/dev/shm") ? "/dev/shm" : "/tmp") +
                       "/entrenar-fuzz-service-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    return new std::string(tmpl);
  }();
  static const bool cleanup = std::atexit([] {
                                std::error_code ec;
                                fs::remove_all(*dir, ec);
                              }) == 0;
  (void)cleanup;
  return *dir;
}

entrenar::supervisor::Config OneCpuSlot() {
  entrenar::supervisor::Config config;
  config.devices = {entrenar::devices::Device{"cpu:0", "cpu", 0, "", 0}};
  return config;
}

// One input's daemon: its store, hub, supervisor and service.
struct Daemon {
  explicit Daemon(std::unique_ptr<entrenar::store::Store> s)
      : store(std::move(s)),
        supervisor(*store, OneCpuSlot()),
        service(*store, hub, supervisor, entrenar::service::ServiceConfig{},
                [](grpc::ServerContextBase*) -> std::optional<entrenar::service::Caller> {
                  return entrenar::service::Caller{kUid, kGid};
                }) {}
  std::unique_ptr<entrenar::store::Store> store;
  entrenar::store::EventHub hub;
  entrenar::supervisor::Supervisor supervisor;
  entrenar::service::JobService service;
  std::int64_t worker_job = 0;  // the job given a worker with the secret `secret`
};

// A refusal must say why; ENTRENAR_FUZZ_VERBOSE=1 prints it (to see what an input reaches).
void Refused(const grpc::Status& s) {
  if (s.ok()) return;
  FUZZ_CHECK(!s.error_message().empty());
  static const bool verbose = std::getenv("ENTRENAR_FUZZ_VERBOSE") != nullptr;
  if (verbose)
    std::fprintf(stderr, "refused (%d): %s\n", s.error_code(), s.error_message().c_str());
}

template <typename Request>
bool Decode(const Call& call, Request* req) {
  return req->ParseFromString(call.bytes);
}

void RunSubmit(Daemon& d, const Call& call) {
  entrenar::v1::SubmitRequest req;
  if (!Decode(call, &req)) return;
  grpc::ServerContext ctx;
  entrenar::v1::SubmitResponse resp;
  const grpc::Status s = d.service.Submit(&ctx, &req, &resp);
  Refused(s);
  if (!s.ok()) return;
  entrenar::v1::GetJobRequest get;
  get.set_job_id(resp.job_id());
  entrenar::v1::Job job;
  FUZZ_CHECK(d.service.GetJob(&ctx, &get, &job).ok());
  FUZZ_CHECK(job.uid() == kUid && job.run_dir() == resp.run_dir());
  if (d.worker_job == 0 && d.store->SetWorker(resp.job_id(), 0, "cpu:0", "secret").ok()) {
    d.worker_job = resp.job_id();
  }
}

void RunReport(Daemon& d, const Call& call) {
  entrenar::v1::WorkerReport report;
  if (!Decode(call, &report)) return;
  std::vector<std::string> lines;
  for (const entrenar::v1::Event& e : report.events()) lines.push_back(e.payload_json());
  const std::int64_t first = report.events_size() > 0 ? report.events(0).seq() : 0;
  std::int64_t acked = 0, acked_offset = 0;
  const entrenar::Status s = d.supervisor.Receive(report.job_id(), report.token(), first, lines,
                                                  report.file_offset(), &acked, &acked_offset);
  if (!s.ok()) FUZZ_CHECK(!s.message().empty());
}

// Calls a unary method: decodes its request, runs it, checks a refusal says why.
template <typename Request, typename Response, typename Handler>
void Unary(const Call& call, Handler handler) {
  Request req;
  if (!Decode(call, &req)) return;
  grpc::ServerContext ctx;
  Response resp;
  Refused(handler(&ctx, &req, &resp));
}

void Run(Daemon& d, const Call& call) {
  namespace v1 = entrenar::v1;
  entrenar::service::JobService& s = d.service;
  switch (call.method) {
    case Method::kValidate:
      return Unary<v1::ValidateRequest, v1::ValidateResponse>(
          call, [&](auto* c, auto* q, auto* r) { return s.Validate(c, q, r); });
    case Method::kSubmit:
      return RunSubmit(d, call);
    case Method::kGetJob:
      return Unary<v1::GetJobRequest, v1::Job>(
          call, [&](auto* c, auto* q, auto* r) { return s.GetJob(c, q, r); });
    case Method::kListJobs:
      return Unary<v1::ListJobsRequest, v1::ListJobsResponse>(
          call, [&](auto* c, auto* q, auto* r) { return s.ListJobs(c, q, r); });
    case Method::kCancelJob:
      return Unary<v1::CancelJobRequest, v1::CancelJobResponse>(
          call, [&](auto* c, auto* q, auto* r) { return s.CancelJob(c, q, r); });
    case Method::kResumeJob:
      return Unary<v1::ResumeJobRequest, v1::ResumeJobResponse>(
          call, [&](auto* c, auto* q, auto* r) { return s.ResumeJob(c, q, r); });
    case Method::kGetMetrics:
      return Unary<v1::GetMetricsRequest, v1::GetMetricsResponse>(
          call, [&](auto* c, auto* q, auto* r) { return s.GetMetrics(c, q, r); });
    case Method::kListCheckpoints:
      return Unary<v1::ListCheckpointsRequest, v1::ListCheckpointsResponse>(
          call, [&](auto* c, auto* q, auto* r) { return s.ListCheckpoints(c, q, r); });
    case Method::kClusterStatus:
      return Unary<v1::ClusterStatusRequest, v1::ClusterStatusResponse>(
          call, [&](auto* c, auto* q, auto* r) { return s.ClusterStatus(c, q, r); });
    case Method::kReport:
      return RunReport(d, call);
  }
}

}  // namespace

ENTRENAR_FUZZ_TARGET {
  const std::vector<Call> calls = entrenar::fuzz::SplitCalls(data, size);
  if (calls.empty()) return 0;
  const std::string db = Dir() + "/state.db";
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(db + suffix);
  auto store = entrenar::store::Store::Open(db);
  FUZZ_CHECK(store.ok());
  {
    Daemon d(std::move(store).value());
    for (const Call& call : calls) Run(d, call);
  }
  auto again = entrenar::store::Store::Open(db);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK((*again)->ListJobs(entrenar::store::JobFilter{}).ok());
  return 0;
}
