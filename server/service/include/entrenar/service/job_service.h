#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "entrenar/admission/admission.h"
#include "entrenar/base/clock.h"
#include "entrenar/service/caller.h"
#include "entrenar/store/event_hub.h"
#include "entrenar/store/store.h"
#include "entrenar/supervisor/supervisor.h"
#include "entrenar/v1/jobs.grpc.pb.h"

namespace entrenar::service {

struct ServiceConfig {
  std::set<std::uint32_t> admins;  // uids that may cancel and resume any job
  std::size_t max_manifest_bytes = 1 << 20;
  std::string devices_note;                  // how the devices were found, for ClusterStatus
  bool allow_custom_callbacks = false;       // else Submit refuses jobs with `custom` callbacks
  std::int64_t max_priority = 100;           // above it, only admins may submit
  std::int64_t max_followers_per_user = 16;  // StreamEvents calls open at once per user
  std::size_t max_name_bytes = 256;          // a job's name
};

// The caller behind a request (the peer's credentials on our unix socket, a bearer token's
// user on TCP), or nullopt when unknown.
using PeerUid = std::function<std::optional<Caller>(grpc::ServerContextBase* ctx)>;

class FollowerPump;

// The public API (proto/entrenar/v1/jobs.proto) over the store and the supervisor. Adapters
// only: requests are checked and turned into store and supervisor calls.
// Thread-safe: gRPC calls it from many threads; submit_mu_, timestamp_mu_ and follow_mu_ say what
// they guard. StreamEvents uses the callback API (a follower holds no thread; see
// src/event_stream.h), the other calls the synchronous one.
class JobService final : public entrenar::v1::JobService::WithCallbackMethod_StreamEvents<
                             entrenar::v1::JobService::Service> {
 public:
  JobService(store::Store& store, store::EventHub& hub, supervisor::Supervisor& supervisor,
             ServiceConfig config, PeerUid peer_uid, const Clock& clock = SystemClock());
  ~JobService() override;

  grpc::Status Validate(grpc::ServerContext* ctx, const v1::ValidateRequest* req,
                        v1::ValidateResponse* resp) override;
  grpc::Status Submit(grpc::ServerContext* ctx, const v1::SubmitRequest* req,
                      v1::SubmitResponse* resp) override;
  grpc::Status GetJob(grpc::ServerContext* ctx, const v1::GetJobRequest* req,
                      v1::Job* resp) override;
  grpc::Status ListJobs(grpc::ServerContext* ctx, const v1::ListJobsRequest* req,
                        v1::ListJobsResponse* resp) override;
  grpc::Status CancelJob(grpc::ServerContext* ctx, const v1::CancelJobRequest* req,
                         v1::CancelJobResponse* resp) override;
  grpc::Status ResumeJob(grpc::ServerContext* ctx, const v1::ResumeJobRequest* req,
                         v1::ResumeJobResponse* resp) override;
  grpc::ServerWriteReactor<v1::Event>* StreamEvents(grpc::CallbackServerContext* ctx,
                                                    const v1::StreamEventsRequest* req) override;
  grpc::Status GetMetrics(grpc::ServerContext* ctx, const v1::GetMetricsRequest* req,
                          v1::GetMetricsResponse* resp) override;
  grpc::Status ListCheckpoints(grpc::ServerContext* ctx, const v1::ListCheckpointsRequest* req,
                               v1::ListCheckpointsResponse* resp) override;
  grpc::Status ClusterStatus(grpc::ServerContext* ctx, const v1::ClusterStatusRequest* req,
                             v1::ClusterStatusResponse* resp) override;

 private:
  // The caller, or PERMISSION_DENIED when it cannot be known.
  grpc::Status Identify(grpc::ServerContextBase* ctx, service::Caller* caller) const;
  // The admission rules of this entrenard's config.
  admission::Policy Policy() const;
  // Who calls, and job `id` when the caller may change it (its owner or an admin).
  grpc::Status Authorize(grpc::ServerContext* ctx, std::int64_t id, std::uint32_t* uid,
                         store::Job* job) const;
  // OK when `uid` owns job `id` or is an admin.
  grpc::Status MayChange(std::uint32_t uid, const store::Job& job) const;

  // A `{{ timestamp }}` for a submission, in milliseconds, later than every earlier one.
  std::string UniqueTimestamp();

  // Whether a follower at `after` has seen all of job `id`'s events and the job has ended.
  bool StreamComplete(std::int64_t id, std::int64_t after);

  store::Store& store_;
  store::EventHub& hub_;
  supervisor::Supervisor& supervisor_;
  ServiceConfig config_;
  PeerUid peer_uid_;
  const Clock& clock_;  // what `{{ timestamp }}` says
  // Guards the check that a run directory is free and the job's creation (one Submit at a
  // time from the check to the insert).
  std::mutex submit_mu_;
  std::mutex timestamp_mu_;  // guards last_timestamp_
  std::chrono::system_clock::time_point last_timestamp_{};
  std::mutex follow_mu_;                             // guards followers_
  std::map<std::uint32_t, std::int64_t> followers_;  // open StreamEvents calls per uid
  std::unique_ptr<FollowerPump> pump_;               // wakes followers waiting for events
};

}  // namespace entrenar::service
