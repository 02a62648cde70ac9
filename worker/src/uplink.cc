#include "entrenar/worker/uplink.h"

#include <fstream>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "entrenar/v1/worker.grpc.pb.h"

namespace entrenar::worker {
namespace {

// The complete lines of `path` from byte `offset`; advances `offset` past them.
std::vector<std::string> ReadLines(const std::string& path, std::int64_t* offset) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  if (!in) return lines;
  in.seekg(*offset);
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t start = 0, end;
  while ((end = chunk.find('\n', start)) != std::string::npos) {
    lines.push_back(chunk.substr(start, end - start));
    start = end + 1;
  }
  *offset += static_cast<std::int64_t>(start);
  return lines;
}

constexpr std::size_t kBatch = 256;

}  // namespace

Uplink::Uplink(std::string target, std::int64_t job_id, std::string token, std::string events_path)
    : target_(std::move(target)),
      token_(std::move(token)),
      path_(std::move(events_path)),
      job_id_(job_id) {
  thread_ = std::thread([this] { Run(); });
}

Uplink::~Uplink() { Stop(std::chrono::seconds(2)); }

void Uplink::Notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    dirty_ = true;
  }
  wake_.notify_all();
}

void Uplink::Stop(std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) return;
    if (!stopping_) deadline_ = std::chrono::steady_clock::now() + timeout;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Uplink::Run() {
  auto backoff = std::chrono::milliseconds(50);
  while (true) {
    if (Session()) return;
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_ && std::chrono::steady_clock::now() >= deadline_) return;
    const auto until = stopping_ ? std::min(deadline_, std::chrono::steady_clock::now() + backoff)
                                 : std::chrono::steady_clock::now() + backoff;
    // Woken early only by Stop (one last try, then until the deadline with the same backoff).
    const bool was_stopping = stopping_;
    wake_.wait_until(lock, until, [&] { return stopping_ != was_stopping; });
    backoff = std::min(backoff * 2, std::chrono::milliseconds(2000));
  }
}

bool Uplink::Session() {
  auto stub =
      v1::WorkerService::NewStub(grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Stopping: the whole session must end by the deadline.
    if (stopping_) {
      ctx.set_deadline(std::chrono::system_clock::now() +
                       (deadline_ - std::chrono::steady_clock::now()));
    }
  }
  auto stream = stub->Report(&ctx);
  v1::WorkerReport hello;
  hello.set_job_id(job_id_);
  hello.set_token(token_);
  v1::WorkerAck ack;
  if (!stream->Write(hello) || !stream->Read(&ack)) return false;
  ++connections_;
  std::int64_t seq = ack.acknowledged(), offset = ack.acknowledged_offset();
  while (true) {
    bool stopping = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      wake_.wait_for(lock, std::chrono::milliseconds(200), [&] { return dirty_ || stopping_; });
      dirty_ = false;
      stopping = stopping_;
    }
    std::vector<std::string> lines;
    std::int64_t end = offset;
    // Drain the file; when stopping, everything in it.
    do {
      lines = ReadLines(path_, &end);
      for (std::size_t at = 0; at < lines.size(); at += kBatch) {
        v1::WorkerReport report;
        report.set_job_id(job_id_);
        report.set_token(token_);
        std::int64_t batch_end = offset;
        const std::size_t n = std::min(kBatch, lines.size() - at);
        for (std::size_t i = at; i < at + n; ++i) {
          v1::Event* e = report.add_events();
          e->set_seq(seq + static_cast<std::int64_t>(i - at) + 1);
          e->set_payload_json(lines[i]);
          batch_end += static_cast<std::int64_t>(lines[i].size()) + 1;
        }
        report.set_file_offset(batch_end);
        if (!stream->Write(report) || !stream->Read(&ack)) return false;
        if (ack.acknowledged() != seq + static_cast<std::int64_t>(n)) return false;
        seq = ack.acknowledged();
        offset = batch_end;
        sent_ += static_cast<std::int64_t>(n);
      }
    } while (stopping && !lines.empty());
    if (stopping) {
      stream->WritesDone();
      stream->Finish();
      return true;
    }
  }
}

}  // namespace entrenar::worker
