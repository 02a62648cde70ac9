#pragma once

#include <cstdint>

#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// The learning rate of optimizer step `step` (0-based) of `total_steps` for the step-based
// schedules (constant, step, cosine, cosine_annealing, linear, exponential), after a linear warmup
// from `warmup.start_lr` when one is configured. `T_max` defaults to the steps after warmup.
double LearningRateAt(const manifest::SchedulerConfig& s, double base_lr, std::int64_t step,
                      std::int64_t total_steps);

// Warmup length in steps: `warmup.steps`, or `warmup.ratio` of the total.
std::int64_t WarmupSteps(const manifest::SchedulerConfig& s, std::int64_t total_steps);

}  // namespace entrenar::engine
