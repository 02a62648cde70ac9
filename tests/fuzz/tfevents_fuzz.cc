// A TensorBoard event file (TFRecord frames with masked CRC-32C, Event protos). Properties: no
// crash; each scalar event decoded encodes to a record that decodes to the same scalars.

#include <string>

#include "entrenar/formats/tfevents.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::formats;
  Result<std::vector<ScalarEvent>> events = DecodeEventFile(entrenar::fuzz::AsString(data, size));
  if (!events.ok()) return 0;
  for (const ScalarEvent& e : *events) {
    Result<std::vector<ScalarEvent>> again = DecodeEventFile(EncodeRecord(EncodeEvent(e)));
    FUZZ_CHECK(again.ok() && again->size() == 1);
    FUZZ_CHECK(again->front().step == e.step && again->front().scalars.size() == e.scalars.size());
  }
  return 0;
}
