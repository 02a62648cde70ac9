#include "entrenar/store/event_hub.h"

#include <algorithm>

namespace entrenar::store {
namespace {

// The state a `state` event moves to.
std::optional<JobState> StateOf(const Event& e) {
  if (e.kind != "state") return std::nullopt;
  return StateOfPayload(e.payload);
}

constexpr std::size_t kMaxBytesPerJob = 16 << 20;
constexpr std::size_t kMaxReadBytes = 4 << 20;

}  // namespace

EventHub::EventHub(std::size_t per_job, std::size_t max_jobs)
    : per_job_(per_job), max_jobs_(max_jobs) {}

void EventHub::Publish(const std::vector<Event>& events) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Event& e : events) {
      Ring& r = jobs_[e.job_id];
      if (!r.events.empty() && r.events.back().seq + 1 != e.seq) {  // a gap
        r.events.clear();
        r.bytes = 0;
      }
      r.events.push_back(e);
      r.bytes += e.payload.size();
      while (r.events.size() > 1 && (r.events.size() > per_job_ || r.bytes > kMaxBytesPerJob)) {
        r.bytes -= r.events.front().payload.size();
        r.events.pop_front();
      }
      if (const std::optional<JobState> s = StateOf(e)) r.ended = IsTerminal(*s);
      r.used = ++clock_;
    }
    Evict();
  }
  published_.notify_all();
}

void EventHub::Evict() {
  while (jobs_.size() > max_jobs_) {
    auto oldest = std::min_element(jobs_.begin(), jobs_.end(), [](const auto& a, const auto& b) {
      return a.second.used < b.second.used;
    });
    jobs_.erase(oldest);
  }
}

std::optional<std::vector<Event>> EventHub::Read(std::int64_t job, std::int64_t after,
                                                 std::size_t limit) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job);
  if (it == jobs_.end() || it->second.events.empty()) return std::nullopt;
  const std::deque<Event>& events = it->second.events;
  const std::int64_t first = events.front().seq;
  if (after < first - 1 || after > events.back().seq) return std::nullopt;
  std::vector<Event> out;
  std::size_t bytes = 0;
  for (auto e = events.begin() + (after - first + 1);
       e != events.end() && out.size() < limit && (out.empty() || bytes < kMaxReadBytes); ++e) {
    out.push_back(*e);
    bytes += e->payload.size();
  }
  return out;
}

std::optional<bool> EventHub::Complete(std::int64_t job, std::int64_t after) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job);
  if (it == jobs_.end() || it->second.events.empty()) return std::nullopt;
  return it->second.ended && after >= it->second.events.back().seq;
}

std::uint64_t EventHub::Generation() {
  std::lock_guard<std::mutex> lock(mu_);
  return clock_;
}

void EventHub::WaitForChange(std::uint64_t generation,
                             std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  published_.wait_until(lock, deadline, [&] { return clock_ != generation; });
}

void EventHub::WakeAll() {
  {
    // A new generation: a waiter about to wait for a change sees one and does not sleep through
    // the shutdown that called this.
    std::lock_guard<std::mutex> lock(mu_);
    ++clock_;
  }
  published_.notify_all();
}

void EventHub::Wait(std::int64_t job, std::int64_t after,
                    std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  published_.wait_until(lock, deadline, [&] {
    auto it = jobs_.find(job);
    return it != jobs_.end() && !it->second.events.empty() &&
           (it->second.events.back().seq > after || it->second.ended);
  });
}

}  // namespace entrenar::store
