// entrenard's JobService as typed calls: where the daemon is (a unix socket, or TCP with TLS and
// a bearer token), one method per RPC with a deadline, every page of a listing, and gRPC's
// errors as a Status (kUnavailable names the address tried and how to choose another). Used by
// the CLI's daemon commands; gRPC stays in the .cc. The stub is thread-safe and the object
// holds no other state, so one JobsClient may be shared between threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/v1/jobs.pb.h"

namespace entrenar::client {

class JobsClient {
 public:
  // The daemon at `socket_flag` (--socket) if given; else TCP to $ENTRENAR_ADDR when set (TLS
  // trusting $ENTRENAR_CA or the system's roots, the bearer token $ENTRENAR_TOKEN or the first
  // line of $ENTRENAR_TOKEN_FILE); else $ENTRENAR_SOCKET; else your own daemon's socket if it
  // exists; else the system daemon's. Connecting happens on the first call.
  static JobsClient Connect(const std::string& socket_flag);
  ~JobsClient();
  JobsClient(JobsClient&&) noexcept;
  JobsClient& operator=(JobsClient&&) noexcept;

  // The socket path or TCP address.
  const std::string& address() const { return address_; }

  Result<v1::SubmitResponse> Submit(const v1::SubmitRequest& req) const;
  Result<v1::Job> GetJob(std::int64_t job) const;
  // Every page of the listing (`req`'s page token is the first page's).
  Result<std::vector<v1::Job>> ListJobs(v1::ListJobsRequest req) const;
  Result<v1::GetMetricsResponse> GetMetrics(const v1::GetMetricsRequest& req) const;
  Result<std::vector<v1::Checkpoint>> ListCheckpoints(std::int64_t job) const;
  // The job as the cancel or resume left it.
  Result<v1::Job> CancelJob(std::int64_t job, bool force) const;
  Result<v1::Job> ResumeJob(std::int64_t job, const std::string& checkpoint) const;
  Result<v1::ClusterStatusResponse> ClusterStatus() const;

  // Calls `on_event` for each of `job`'s events after sequence number `after_seq`, in order;
  // with `follow`, until the job has ended. OK when the stream ended, else why it broke.
  Status StreamEvents(std::int64_t job, std::int64_t after_seq, bool follow,
                      const std::function<void(const v1::Event&)>& on_event) const;

 private:
  struct Stub;
  JobsClient(std::string address, std::unique_ptr<Stub> stub);

  std::string address_;
  std::unique_ptr<Stub> stub_;
};

}  // namespace entrenar::client
