#include "entrenar/plan/budget.h"

#include <limits>
#include <string>

namespace entrenar::plan {

Result<Budget> ComputeBudget(const manifest::Manifest& m, std::int64_t rows) {
  const std::int64_t batch = m.data.loader.batch_size;
  const std::int64_t accum = m.training.gradient.accumulation_steps;
  Budget b;
  b.batches = m.data.loader.drop_last ? rows / batch : (rows + batch - 1) / batch;
  if (b.batches == 0) {
    return InvalidArgument("data.loader.batch_size: the training split (" + std::to_string(rows) +
                           " rows) is smaller than one batch with drop_last");
  }
  b.steps_per_epoch = (b.batches + accum - 1) / accum;
  if (m.training.duration) {
    // Bounded by wall-clock time: as many epochs as fit; the schedule's length is T_max
    // (validate refuses a schedule that needs the length without it).
    b.epochs = std::numeric_limits<std::int64_t>::max() / 4;
    b.total_steps = m.scheduler.T_max.value_or(std::numeric_limits<std::int64_t>::max() / 4);
    return b;
  }
  b.epochs = m.training.max_steps
                 ? (*m.training.max_steps + b.steps_per_epoch - 1) / b.steps_per_epoch
                 : manifest::EffectiveEpochs(m.training);
  b.total_steps = m.training.max_steps.value_or(b.epochs * b.steps_per_epoch);
  return b;
}

}  // namespace entrenar::plan
