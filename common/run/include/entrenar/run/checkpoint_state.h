#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "entrenar/base/status.h"

namespace entrenar::run {

// Where training stands at a checkpoint (checkpoints/step-N/state.json), besides the weights,
// optimizer and RNG files beside it. One type, one writer and one reader: the trainer saves
// and resumes through these, and `CheckpointStep` reads its step.
struct CheckpointState {
  std::int64_t step = 0;        // optimizer steps done
  std::int64_t next_epoch = 1;  // where training continues: this epoch (1-based) ...
  std::int64_t next_batch = 0;  // ... at this batch
  std::int64_t samples = 0;
  std::uint64_t seed = 0;
  // The ranks of the run that wrote it (training.distributed.world_size; 1 when absent):
  // next_batch counts each rank's batches.
  std::int64_t world_size = 1;
  // The run's length when it was saved (0 for a time budget; absent in older checkpoints).
  std::optional<std::int64_t> total_steps;
  std::int64_t stale_validations = 0;  // early stopping's count without improvement
  std::optional<double> early_best;
  std::string best_metric;  // save_best's metric, value and step
  std::optional<double> best_value;
  std::int64_t best_step = 0;
  double plateau_scale = 1;  // the plateau scheduler's factor, count and best
  std::int64_t plateau_bad = 0;
  std::optional<double> plateau_best;
  struct LossScale {
    double scale = 1;
    std::int64_t clean_steps = 0, skipped_steps = 0;
  };
  std::optional<LossScale> loss_scale;  // float16 training's dynamic loss scale
};

// state.json's text (pretty-printed, newline-terminated).
std::string EncodeCheckpointState(const CheckpointState& s);

// Reads state.json's text. A damaged file (not JSON, a field missing or of the wrong type, a
// negative step) is kDataLoss naming `file`. Never throws.
Result<CheckpointState> DecodeCheckpointState(std::string_view text, const std::string& file);

}  // namespace entrenar::run
