// A checkpoint's state.json, which `--resume` and entrenard's resume read from a run directory
// its owner can write. Properties: no crash; a state that decodes is one training can continue
// from (counts not negative, an epoch from 1, finite positive scales); it encodes and decodes
// again to the same state.

#include <cmath>
#include <string>

#include "entrenar/run/checkpoint_state.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::run;
  Result<CheckpointState> s =
      DecodeCheckpointState(entrenar::fuzz::AsString(data, size), "state.json");
  if (!s.ok()) {
    FUZZ_CHECK(s.status().message().find("state.json") != std::string::npos);
    return 0;
  }
  FUZZ_CHECK(s->step >= 0 && s->next_epoch >= 1 && s->next_batch >= 0 && s->samples >= 0);
  FUZZ_CHECK(!s->total_steps || *s->total_steps >= 0);
  FUZZ_CHECK(s->stale_validations >= 0 && s->plateau_bad >= 0 && s->best_step >= 0);
  FUZZ_CHECK(std::isfinite(s->plateau_scale) && s->plateau_scale > 0);
  if (s->loss_scale) {
    FUZZ_CHECK(std::isfinite(s->loss_scale->scale) && s->loss_scale->scale > 0);
    FUZZ_CHECK(s->loss_scale->clean_steps >= 0 && s->loss_scale->skipped_steps >= 0);
  }
  Result<CheckpointState> again = DecodeCheckpointState(EncodeCheckpointState(*s), "again.json");
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->step == s->step && again->next_epoch == s->next_epoch &&
             again->next_batch == s->next_batch && again->seed == s->seed);
  return 0;
}
