#include "event_stream.h"

#include <vector>

namespace entrenar::service {
namespace {

constexpr std::int64_t kBatch = 128;

v1::Event ToProto(const store::Event& e) {
  v1::Event out;
  out.set_job_id(e.job_id);
  out.set_seq(e.seq);
  out.set_kind(e.kind);
  out.set_step(e.step);
  out.set_payload_json(e.payload);
  out.set_time(e.time);
  return out;
}

}  // namespace

EventStream::EventStream(store::Store& store, store::EventHub& hub, FollowerPump& pump,
                         std::int64_t job, std::int64_t after, bool follow, Complete complete,
                         std::function<void()> done)
    : store_(store),
      hub_(hub),
      pump_(pump),
      job_(job),
      follow_(follow),
      complete_(std::move(complete)),
      done_(std::move(done)),
      after_(after) {}

void EventStream::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (in_flight_ || finished_) return;
  if (pending_.empty()) {
    std::optional<std::vector<store::Event>> events = hub_.Read(job_, after_, kBatch);
    if (!events) {
      Result<std::vector<store::Event>> stored = store_.Events(job_, after_, kBatch);
      if (!stored.ok()) {
        lock.unlock();
        FinishOnce(grpc::Status(static_cast<grpc::StatusCode>(stored.status().code()),
                                stored.status().message()));
        return;
      }
      events = std::move(stored).value();
    }
    pending_.assign(events->begin(), events->end());
  }
  if (pending_.empty()) {
    if (follow_ && !complete_(job_, after_)) {
      // Registered under mu_: a FinishOnce (and so OnDone, which forgets us) comes after it.
      pump_.Wait(this);
      return;
    }
    lock.unlock();
    FinishOnce(grpc::Status::OK);
    return;
  }
  current_ = ToProto(pending_.front());
  after_ = pending_.front().seq;
  pending_.pop_front();
  in_flight_ = true;
  lock.unlock();
  StartWrite(&current_);
}

void EventStream::OnWriteDone(bool ok) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_flight_ = false;
  }
  if (!ok) {  // the follower went away
    FinishOnce(grpc::Status::OK);
    return;
  }
  Next();
}

void EventStream::OnCancel() {
  bool idle = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    idle = !in_flight_;
  }
  // With a write in flight, its OnWriteDone(false) finishes the call.
  if (idle) FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED, "the follower went away"));
}

void EventStream::FinishOnce(const grpc::Status& status) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return;
    finished_ = true;
  }
  Finish(status);
}

void EventStream::OnDone() {
  pump_.Forget(this);
  done_();
  Unref();
}

FollowerPump::FollowerPump(store::EventHub& hub) : hub_(hub) {
  thread_ = std::thread([this] { Loop(); });
}

FollowerPump::~FollowerPump() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  hub_.WakeAll();
  thread_.join();
}

void FollowerPump::Wait(EventStream* s) {
  std::lock_guard<std::mutex> lock(mu_);
  waiting_.insert(s);
}

void FollowerPump::Forget(EventStream* s) {
  std::lock_guard<std::mutex> lock(mu_);
  waiting_.erase(s);
}

void FollowerPump::Loop() {
  std::uint64_t seen = hub_.Generation();
  while (true) {
    std::vector<EventStream*> wake;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      wake.assign(waiting_.begin(), waiting_.end());
      waiting_.clear();
      for (EventStream* s : wake) s->Ref();  // alive until we are done with it
    }
    for (EventStream* s : wake) {
      s->Next();
      s->Unref();
    }
    hub_.WaitForChange(seen, std::chrono::steady_clock::now() + std::chrono::milliseconds(250));
    seen = hub_.Generation();
  }
}

}  // namespace entrenar::service
