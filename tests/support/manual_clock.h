#pragma once

#include <chrono>
#include <mutex>

#include "entrenar/base/clock.h"

namespace entrenar::testing {

// A clock that moves only when a test says so: a grace period or a retention period passes in
// one Advance instead of a sleep. Both of its times move together. Thread-safe: mu_ guards the
// two times.
class ManualClock final : public Clock {
 public:
  // Wall time starts at `start`; monotonic time at an arbitrary point well past its epoch.
  explicit ManualClock(std::chrono::system_clock::time_point start)
      : wall_(start), monotonic_(std::chrono::hours(1000)) {}

  std::chrono::system_clock::time_point Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_;
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return monotonic_;
  }

  void Advance(std::chrono::milliseconds by) {
    std::lock_guard<std::mutex> lock(mu_);
    wall_ += by;
    monotonic_ += by;
  }

 private:
  mutable std::mutex mu_;
  std::chrono::system_clock::time_point wall_;
  std::chrono::steady_clock::time_point monotonic_;
};

}  // namespace entrenar::testing
