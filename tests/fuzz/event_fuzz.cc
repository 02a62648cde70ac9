// One line of a run's events.jsonl, which entrenard imports from a directory the job's owner
// can write. Properties: no crash; a decoded record has a kind, a payload and a step not negative,
// and MalformedEvent always gives a record; the progress a line or a decoded payload tells is
// within its bounds.

#include <optional>
#include <string>

#include "entrenar/run/event.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::run;
  const std::string line = entrenar::fuzz::AsString(data, size);
  const auto bounded = [](const std::optional<StepProgress>& p) {
    return !p ||
           (p->total_steps >= 0 && p->elapsed_seconds >= 0 && p->elapsed_seconds <= kMaxProgress &&
            p->time_budget_seconds >= 0 && p->time_budget_seconds <= kMaxProgress);
  };
  FUZZ_CHECK(bounded(ProgressOf(line)));
  Result<EventRecord> r = DecodeEvent(line);
  if (!r.ok()) {
    const EventRecord note = MalformedEvent(7, r.status());
    FUZZ_CHECK(!note.kind.empty() && !note.payload.empty());
    return 0;
  }
  FUZZ_CHECK(!r->kind.empty());
  FUZZ_CHECK(!r->payload.empty() && r->step >= 0);
  FUZZ_CHECK(bounded(ProgressOf(r->payload)));
  return 0;
}
