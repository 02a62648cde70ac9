#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "entrenar/base/status.h"

namespace entrenar::run {

// One line of a run's events.jsonl: a JSON object with `kind` (log, metric, validation,
// checkpoint, state, alert), `step`, `epoch` and `time`, and per kind `text`, `values` (name ->
// number) or more fields. The worker writes these lines; entrenard decodes them, from the worker
// or from the file, as untrusted input. A plain value type.
struct EventRecord {
  std::string kind = "log";
  std::int64_t step = 0;
  std::string time;     // UTC ISO-8601, "" when the line had none
  std::string payload;  // the whole line: a JSON object with the fields above well typed
};

// One event as the worker writes it: the engine's event and when it happened.
struct EventFields {
  std::string kind = "log";  // one of the kinds above
  std::int64_t step = 0;
  std::int64_t epoch = 0;
  std::string time;                          // UTC ISO-8601
  std::map<std::string, double> values;      // metric and validation (NaN is written null)
  std::string text;                          // a log line, a state, a checkpoint, an alert
  std::map<std::string, std::string> extra;  // more fields (an alert's condition, action)
};

// The one encoding: the line (without its newline) for `e`, which DecodeEvent reads back.
// Bytes that are not UTF-8 in a text are replaced (U+FFFD).
std::string EncodeEvent(const EventFields& e);

// Bounds on one line: bytes, and nesting of arrays and objects.
inline constexpr std::size_t kMaxEventBytes = 64 << 10;
inline constexpr int kMaxEventDepth = 16;

// Decodes one line (without its newline). Returns kInvalidArgument saying what is wrong for a
// line that is too long, not UTF-8, not a JSON object, nested too deeply, of an unknown kind, or
// whose known fields have the wrong type. Never throws.
Result<EventRecord> DecodeEvent(std::string_view line);

// What a metric event says of its run's progress (for the queue's estimates): the budget in
// steps (0: a time budget, or none said) and, under a time budget, the seconds elapsed and the
// budget. Every figure finite, from 0 to kMaxProgress whatever the line said.
struct StepProgress {
  std::int64_t total_steps = 0;
  double elapsed_seconds = 0, time_budget_seconds = 0;
};
inline constexpr double kMaxProgress = 1e12;

// The progress a decoded event's payload tells; nullopt unless it is a metric event with
// `values` (within DecodeEvent's bounds). Never throws.
std::optional<StepProgress> ProgressOf(std::string_view payload);

// What entrenard stores in place of a line it could not decode: a `log` event saying which line
// and why, without the line's bytes.
EventRecord MalformedEvent(std::int64_t line_number, const Status& why);

}  // namespace entrenar::run
