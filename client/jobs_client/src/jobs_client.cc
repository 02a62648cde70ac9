#include "entrenar/client/jobs_client.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <grpcpp/grpcpp.h>

#include "entrenar/v1/jobs.grpc.pb.h"

namespace entrenar::client {
namespace {

namespace fs = std::filesystem;

constexpr int kDeadlineSeconds = 30;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// $ENTRENAR_SOCKET, else your own daemon's socket if it exists (where a per-user entrenard puts
// it), else the system daemon's.
std::string DefaultSocket() {
  if (const std::string env = Env("ENTRENAR_SOCKET"); !env.empty()) return env;
  const std::string runtime = Env("XDG_RUNTIME_DIR");
  const std::string own = !runtime.empty()
                              ? runtime + "/entrenar/entrenard.sock"
                              : "/tmp/entrenar-" + std::to_string(getuid()) + "/entrenard.sock";
  std::error_code ec;
  if (getuid() != 0 && fs::is_socket(own, ec)) return own;
  return "/run/entrenar/entrenard.sock";
}

// TLS trusting $ENTRENAR_CA (a PEM file) or the system's roots, with the bearer token.
std::shared_ptr<grpc::ChannelCredentials> TcpCredentials() {
  grpc::SslCredentialsOptions ssl;
  if (const std::string ca = Env("ENTRENAR_CA"); !ca.empty()) {
    std::ifstream in(ca);
    ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::string token = Env("ENTRENAR_TOKEN");
  if (token.empty() && !Env("ENTRENAR_TOKEN_FILE").empty()) {
    std::ifstream in(Env("ENTRENAR_TOKEN_FILE"));
    std::getline(in, token);
  }
  auto creds = grpc::SslCredentials(ssl);
  if (token.empty()) return creds;
  return grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(token));
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kDeadlineSeconds));
  return ctx;
}

}  // namespace

struct JobsClient::Stub {
  std::unique_ptr<v1::JobService::Stub> rpc;

  // gRPC's status as ours; an unreachable daemon is named with its address.
  Status Of(const grpc::Status& s, const std::string& address) const {
    if (s.ok()) return OkStatus();
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE) {
      return Status(StatusCode::kUnavailable, "cannot reach entrenard at " + address +
                                                  " (is it running? set ENTRENAR_SOCKET or "
                                                  "--socket)");
    }
    std::string message = s.error_message();
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return Status(static_cast<StatusCode>(s.error_code()), message);
  }

  // One unary call with the default deadline.
  template <typename Request, typename Response, typename Method>
  Result<Response> Call(Method method, const Request& req, const std::string& address) const {
    Response resp;
    auto ctx = Context();
    const grpc::Status s = ((*rpc).*method)(ctx.get(), req, &resp);
    if (!s.ok()) return Of(s, address);
    return resp;
  }
};

JobsClient::JobsClient(std::string address, std::unique_ptr<Stub> stub)
    : address_(std::move(address)), stub_(std::move(stub)) {}
JobsClient::~JobsClient() = default;
JobsClient::JobsClient(JobsClient&&) noexcept = default;
JobsClient& JobsClient::operator=(JobsClient&&) noexcept = default;

JobsClient JobsClient::Connect(const std::string& socket_flag) {
  auto stub = std::make_unique<Stub>();
  const std::string addr = Env("ENTRENAR_ADDR");
  if (socket_flag.empty() && !addr.empty()) {
    stub->rpc = v1::JobService::NewStub(grpc::CreateChannel(addr, TcpCredentials()));
    return JobsClient(addr, std::move(stub));
  }
  const std::string socket = socket_flag.empty() ? DefaultSocket() : socket_flag;
  stub->rpc = v1::JobService::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  return JobsClient(socket, std::move(stub));
}

Result<v1::SubmitResponse> JobsClient::Submit(const v1::SubmitRequest& req) const {
  return stub_->Call<v1::SubmitRequest, v1::SubmitResponse>(&v1::JobService::Stub::Submit, req,
                                                            address_);
}

Result<v1::Job> JobsClient::GetJob(std::int64_t job) const {
  v1::GetJobRequest req;
  req.set_job_id(job);
  return stub_->Call<v1::GetJobRequest, v1::Job>(&v1::JobService::Stub::GetJob, req, address_);
}

Result<std::vector<v1::Job>> JobsClient::ListJobs(v1::ListJobsRequest req) const {
  std::vector<v1::Job> jobs;
  while (true) {
    ENTRENAR_ASSIGN_OR_RETURN(const v1::ListJobsResponse page,
                              (stub_->Call<v1::ListJobsRequest, v1::ListJobsResponse>(
                                  &v1::JobService::Stub::ListJobs, req, address_)));
    jobs.insert(jobs.end(), page.jobs().begin(), page.jobs().end());
    if (page.next_page_token() == 0) return jobs;
    req.set_page_token(page.next_page_token());
  }
}

Result<v1::GetMetricsResponse> JobsClient::GetMetrics(const v1::GetMetricsRequest& req) const {
  return stub_->Call<v1::GetMetricsRequest, v1::GetMetricsResponse>(
      &v1::JobService::Stub::GetMetrics, req, address_);
}

Result<std::vector<v1::Checkpoint>> JobsClient::ListCheckpoints(std::int64_t job) const {
  v1::ListCheckpointsRequest req;
  req.set_job_id(job);
  ENTRENAR_ASSIGN_OR_RETURN(const v1::ListCheckpointsResponse resp,
                            (stub_->Call<v1::ListCheckpointsRequest, v1::ListCheckpointsResponse>(
                                &v1::JobService::Stub::ListCheckpoints, req, address_)));
  return std::vector<v1::Checkpoint>(resp.checkpoints().begin(), resp.checkpoints().end());
}

Result<v1::Job> JobsClient::CancelJob(std::int64_t job, bool force) const {
  v1::CancelJobRequest req;
  req.set_job_id(job);
  req.set_force(force);
  ENTRENAR_ASSIGN_OR_RETURN(const v1::CancelJobResponse resp,
                            (stub_->Call<v1::CancelJobRequest, v1::CancelJobResponse>(
                                &v1::JobService::Stub::CancelJob, req, address_)));
  return resp.job();
}

Result<v1::Job> JobsClient::ResumeJob(std::int64_t job, const std::string& checkpoint) const {
  v1::ResumeJobRequest req;
  req.set_job_id(job);
  req.set_checkpoint(checkpoint);
  ENTRENAR_ASSIGN_OR_RETURN(const v1::ResumeJobResponse resp,
                            (stub_->Call<v1::ResumeJobRequest, v1::ResumeJobResponse>(
                                &v1::JobService::Stub::ResumeJob, req, address_)));
  return resp.job();
}

Result<v1::ClusterStatusResponse> JobsClient::ClusterStatus() const {
  return stub_->Call<v1::ClusterStatusRequest, v1::ClusterStatusResponse>(
      &v1::JobService::Stub::ClusterStatus, v1::ClusterStatusRequest(), address_);
}

Status JobsClient::StreamEvents(std::int64_t job, std::int64_t after_seq, bool follow,
                                const std::function<void(const v1::Event&)>& on_event) const {
  v1::StreamEventsRequest req;
  req.set_job_id(job);
  req.set_after_seq(after_seq);
  req.set_follow(follow);
  grpc::ClientContext ctx;  // no deadline: a follower waits as long as the job runs
  std::unique_ptr<grpc::ClientReader<v1::Event>> reader = stub_->rpc->StreamEvents(&ctx, req);
  v1::Event e;
  while (reader->Read(&e)) on_event(e);
  return stub_->Of(reader->Finish(), address_);
}

}  // namespace entrenar::client
