#pragma once

#include <chrono>
#include <string>

namespace entrenar {

// "2026-11-24T17:10:38Z": ISO 8601 UTC with second precision.
std::string FormatUtcIso(std::chrono::system_clock::time_point t);

// "2026-11-24T17:10:38.042Z": the same with milliseconds.
std::string FormatUtcIsoMillis(std::chrono::system_clock::time_point t);

// The current time as FormatUtcIso writes it.
std::string NowUtcIso();

// Where the daemon's parts (store, supervisor, services) read the time, so that a test can move
// it instead of sleeping (tests/support/manual_clock.h). Blocking waits (a poll interval, an RPC
// deadline) stay on the real clock: they bound how long a thread waits, not what time it is.
// Thread-safe: implementations are called from any thread.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall time: timestamps, and the age of what ended (retention).
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Monotonic time: intervals (a grace period, how long since something was last done).
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
};

// The system's clocks; lives for the whole program.
const Clock& SystemClock();

}  // namespace entrenar
