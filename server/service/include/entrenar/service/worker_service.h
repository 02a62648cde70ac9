#pragma once

#include "entrenar/supervisor/supervisor.h"
#include "entrenar/v1/worker.grpc.pb.h"

namespace entrenar::service {

// The internal WorkerService (proto/entrenar/v1/worker.proto): workers stream the lines of their
// events.jsonl as they write them; each batch is stored once and acknowledged. A worker proves
// which job it runs with the secret it was started with.
class WorkerService final : public entrenar::v1::WorkerService::Service {
 public:
  explicit WorkerService(supervisor::Supervisor& supervisor) : supervisor_(supervisor) {}

  grpc::Status Report(grpc::ServerContext* ctx,
                      grpc::ServerReaderWriter<v1::WorkerAck, v1::WorkerReport>* stream) override;

 private:
  supervisor::Supervisor& supervisor_;
};

}  // namespace entrenar::service
