#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace entrenar::engine {

// One thing that happened in a run. The engine emits a single ordered stream of these; the local
// CLI prints and records them now, and the daemon's worker will forward the same stream.
struct Event {
  enum class Kind { kLog, kMetric, kValidation, kCheckpoint, kState, kAlert };
  Kind kind = Kind::kLog;
  std::int64_t step = 0;                 // optimizer steps done
  std::int64_t epoch = 0;                // 1-based epoch in progress
  std::map<std::string, double> values;  // metrics (kMetric, kValidation)
  std::string text;  // a log line, a state ("running", "succeeded", ...), a checkpoint path,
                     // an alert's message
  std::map<std::string, std::string> fields;  // kAlert: "condition" and "action"
};

// What the events seen so far ask of the training loop: an alert's `halt` (a checkpoint, then
// the end of the run) or `checkpoint` (one at the end of this step).
struct Verdict {
  bool halt = false;
  bool checkpoint = false;
};

// Receives events, on the training thread. Implementations must not block for long: the step
// loop waits for them.
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void OnEvent(const Event& event) = 0;
  // Asked by the loop after each step; returns what is pending and clears it.
  virtual Verdict TakeVerdict() { return {}; }
  // Called before a checkpoint is written: the events emitted so far must be in their files
  // before a checkpoint that a resumed run continues after (a kill after it must not lose the
  // rows of the steps it holds).
  virtual void Flush() {}
};

}  // namespace entrenar::engine
