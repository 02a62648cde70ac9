#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "entrenar/store/event_hub.h"
#include "entrenar/store/store.h"
#include "entrenar/v1/jobs.grpc.pb.h"

namespace entrenar::service {

class FollowerPump;

// One StreamEvents call (a follower) without a thread of its own: it replays the job's events
// from the hub or the store one write at a time, and when it has sent everything there is it
// waits in the FollowerPump until something is published (or its job ends).
// Thread-safe: gRPC's reactions and the pump's thread call it; mu_ guards the state below it.
// Ownership: reference counted; gRPC holds one reference until OnDone, the pump one while it
// calls Next; the last one deletes it.
class EventStream final : public grpc::ServerWriteReactor<v1::Event> {
 public:
  // Whether a follower at `after` has seen all of the job's events and the job has ended.
  using Complete = std::function<bool(std::int64_t job, std::int64_t after)>;

  EventStream(store::Store& store, store::EventHub& hub, FollowerPump& pump, std::int64_t job,
              std::int64_t after, bool follow, Complete complete, std::function<void()> done);

  // Sends the next event, or finishes, or waits in the pump. Safe to call at any time.
  void Next();
  void Ref() { refs_.fetch_add(1); }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  ~EventStream() override = default;
  void FinishOnce(const grpc::Status& status);

  store::Store& store_;
  store::EventHub& hub_;
  FollowerPump& pump_;
  const std::int64_t job_;
  const bool follow_;
  const Complete complete_;
  const std::function<void()> done_;  // releases the caller's follower allowance
  std::atomic<int> refs_{1};
  std::mutex mu_;       // guards after_, pending_, current_, in_flight_ and finished_
  std::int64_t after_;  // the last seq sent (or asked to start after)
  std::deque<store::Event> pending_;
  v1::Event current_;  // the write in flight
  bool in_flight_ = false;
  bool finished_ = false;
};

// Wakes waiting followers when events are published, and every 250 ms (a job's end is a state
// event too, but a follower may also wait on a job whose events fell out of memory).
// Thread-safe: mu_ guards waiting_ and stop_. Owns its thread; the streams own themselves.
class FollowerPump {
 public:
  explicit FollowerPump(store::EventHub& hub);
  ~FollowerPump();
  FollowerPump(const FollowerPump&) = delete;
  FollowerPump& operator=(const FollowerPump&) = delete;

  void Wait(EventStream* s);    // `s` has sent everything: call its Next after a change
  void Forget(EventStream* s);  // `s` is done

 private:
  void Loop();

  store::EventHub& hub_;
  std::mutex mu_;  // guards waiting_ and stop_
  std::set<EventStream*> waiting_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace entrenar::service
