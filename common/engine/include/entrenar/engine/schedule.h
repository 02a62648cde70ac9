#pragma once

#include <cstdint>
#include <optional>

#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// The learning rate of optimizer step `step` (0-based) of `total_steps` for the step-based
// schedules (constant, step, cosine, cosine_annealing, linear, exponential), after a linear warmup
// from `warmup.start_lr` when one is configured; `T_max` defaults to the steps after warmup.
// one_cycle follows PyTorch's OneCycleLR (its own warmup; `base_lr` is not used). plateau is
// `base_lr` here, scaled by a PlateauTracker.
double LearningRateAt(const manifest::SchedulerConfig& s, double base_lr, std::int64_t step,
                      std::int64_t total_steps);

// Warmup length in steps: `warmup.steps`, or `warmup.ratio` of the total.
std::int64_t WarmupSteps(const manifest::SchedulerConfig& s, std::int64_t total_steps);

// ReduceLROnPlateau: after more than `patience` validations without a relative improvement of
// `threshold`, the learning rate is multiplied by `factor`. Plain value type.
struct PlateauTracker {
  double scale = 1.0;
  std::optional<double> best;
  std::int64_t bad = 0;

  // Records one validation value; returns true when the rate was just reduced.
  bool Observe(const manifest::SchedulerConfig& s, double value);
};

}  // namespace entrenar::engine
