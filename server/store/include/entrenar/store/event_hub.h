#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "entrenar/store/store.h"

namespace entrenar::store {

// The recent events of each job in memory, so that any number of followers get new events
// without a database read each: the store publishes every committed event here (its observer),
// and a follower whose position has fallen out of memory reads the store instead. Nothing
// here ever waits on a follower. Memory is bounded: per job `per_job` events and 16 MiB of
// payload, `max_jobs` jobs; a Read returns at most 4 MiB of payload.
// Thread-safe: mu_ guards jobs_ and clock_; published_ wakes waiting followers.
class EventHub {
 public:
  explicit EventHub(std::size_t per_job = 4096, std::size_t max_jobs = 256);

  // The store's observer: events just committed, in order, numbered.
  void Publish(const std::vector<Event>& events);
  // The events of `job` with seq > `after` (at most `limit`) when every one of them is held
  // here; nullopt when the follower has to read the store.
  std::optional<std::vector<Event>> Read(std::int64_t job, std::int64_t after, std::size_t limit);
  // Whether `job` has ended and `after` is its last event; nullopt when not known here.
  std::optional<bool> Complete(std::int64_t job, std::int64_t after);
  // A number that changes whenever events are published.
  std::uint64_t Generation();
  // Returns when Generation() is no longer `generation`, or `deadline` passed.
  void WaitForChange(std::uint64_t generation, std::chrono::steady_clock::time_point deadline);
  // Wakes every waiter and moves to a new generation (shutting down).
  void WakeAll();
  // Returns when `job` has an event after `after`, has ended, or `deadline` passed.
  void Wait(std::int64_t job, std::int64_t after, std::chrono::steady_clock::time_point deadline);

 private:
  struct Ring {
    std::deque<Event> events;  // contiguous seqs, the newest last
    std::size_t bytes = 0;     // payload bytes held
    bool ended = false;        // its last state event is a terminal state
    std::uint64_t used = 0;    // for eviction: the least recently published-to goes first
  };
  void Evict();

  const std::size_t per_job_, max_jobs_;
  std::mutex mu_;  // guards jobs_ and clock_
  std::condition_variable published_;
  std::map<std::int64_t, Ring> jobs_;
  std::uint64_t clock_ = 0;  // also the generation: it grows with every event published
};

}  // namespace entrenar::store
