#include "entrenar/service/worker_service.h"

namespace entrenar::service {

grpc::Status WorkerService::Report(
    grpc::ServerContext*, grpc::ServerReaderWriter<v1::WorkerAck, v1::WorkerReport>* stream) {
  v1::WorkerReport report;
  while (stream->Read(&report)) {
    std::vector<std::string> lines;
    for (const v1::Event& e : report.events()) lines.push_back(e.payload_json());
    const std::int64_t first = report.events_size() > 0 ? report.events(0).seq() : 0;
    v1::WorkerAck ack;
    std::int64_t acked = 0, acked_offset = 0;
    const Status s = supervisor_.Receive(report.job_id(), report.token(), first, lines,
                                         report.file_offset(), &acked, &acked_offset);
    if (!s.ok()) return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());
    ack.set_acknowledged(acked);
    ack.set_acknowledged_offset(acked_offset);
    if (!stream->Write(ack)) break;
  }
  return grpc::Status::OK;
}

}  // namespace entrenar::service
