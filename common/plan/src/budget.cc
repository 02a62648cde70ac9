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
    // Bounded by wall-clock time: as many epochs as fit. Schedules that need the total length
    // get it from T_max.
    const auto& s = m.scheduler;
    const bool needs_total =
        ((s.name == "cosine" || s.name == "cosine_annealing" || s.name == "linear") && !s.T_max) ||
        s.name == "one_cycle" || s.warmup.ratio.has_value();
    if (needs_total) {
      return InvalidArgument("training.duration: the `" + s.name + "` schedule" +
                             (s.warmup.ratio ? " with warmup.ratio" : "") +
                             " needs the run's length in steps, which a time budget does not give; "
                             "set scheduler.T_max (and warmup.steps), or use max_steps");
    }
    b.epochs = std::numeric_limits<std::int64_t>::max() / 4;
    b.total_steps = s.T_max.value_or(std::numeric_limits<std::int64_t>::max() / 4);
    return b;
  }
  b.epochs = m.training.max_steps
                 ? (*m.training.max_steps + b.steps_per_epoch - 1) / b.steps_per_epoch
                 : manifest::EffectiveEpochs(m.training);
  b.total_steps = m.training.max_steps.value_or(b.epochs * b.steps_per_epoch);
  return b;
}

}  // namespace entrenar::plan
