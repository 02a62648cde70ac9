// One line of a run's events.jsonl, which entrenard imports from a directory the job's owner
// can write. Properties: no crash; a decoded record has a kind, a payload and a step not negative,
// and MalformedEvent always gives a record.

#include <string>

#include "entrenar/run/event.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::run;
  const std::string line = entrenar::fuzz::AsString(data, size);
  Result<EventRecord> r = DecodeEvent(line);
  if (!r.ok()) {
    const EventRecord note = MalformedEvent(7, r.status());
    FUZZ_CHECK(!note.kind.empty() && !note.payload.empty());
    return 0;
  }
  FUZZ_CHECK(!r->kind.empty());
  FUZZ_CHECK(!r->payload.empty() && r->step >= 0);
  return 0;
}
