// Where a run stands and how it reports: shared by the training loop and the parts it calls
// (checkpoints, callbacks, quantization). Internal to the engine; no LibTorch.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "entrenar/engine/events.h"

namespace entrenar::engine {

// The run's counters. A plain value owned by the loop.
struct Progress {
  std::int64_t step = 0;         // optimizer steps done
  std::int64_t epoch = 0;        // 1-based epoch in progress
  std::int64_t total_steps = 0;  // the budget in steps
  std::int64_t samples = 0;      // training rows seen
  std::int64_t tokens = 0;       // a language model's input tokens so far (padding left out)
  std::int64_t start_epoch = 1, start_batch = 0;  // where a resumed run picks up
  std::optional<std::int64_t> saved_total_steps;  // the resumed checkpoint's run length
  // Where training would continue after the last step: the final checkpoint records it (a run
  // that ends mid-epoch continues that epoch when resumed with a longer budget).
  std::int64_t continue_epoch = 1, continue_batch = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

// The run's events, stamped with its step and epoch. Used on the training thread only.
class Reporter {
 public:
  Reporter(EventSink& sink, const Progress& at) : sink_(sink), at_(at) {}

  void Emit(Event::Kind kind, std::map<std::string, double> values = {}, std::string text = "") {
    Event e;
    e.kind = kind;
    e.step = at_.step;
    e.epoch = at_.epoch;
    e.values = std::move(values);
    e.text = std::move(text);
    sink_.OnEvent(e);
  }
  void Log(std::string text) { Emit(Event::Kind::kLog, {}, std::move(text)); }
  // A `warn` alert raised by the run itself (a failing custom callback).
  void Warn(const std::string& condition, std::string text) {
    Event e;
    e.kind = Event::Kind::kAlert;
    e.step = at_.step;
    e.epoch = at_.epoch;
    e.text = std::move(text);
    e.fields = {{"condition", condition}, {"action", "warn"}};
    sink_.OnEvent(e);
  }
  Verdict TakeVerdict() { return sink_.TakeVerdict(); }
  void Flush() { sink_.Flush(); }

 private:
  EventSink& sink_;
  const Progress& at_;
};

}  // namespace entrenar::engine
