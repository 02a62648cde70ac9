#include "entrenar/engine/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace entrenar::engine {

std::int64_t WarmupSteps(const manifest::SchedulerConfig& s, std::int64_t total_steps) {
  if (s.warmup.ratio) {
    return static_cast<std::int64_t>(
        std::floor(*s.warmup.ratio * static_cast<double>(total_steps)));
  }
  return s.warmup.steps.value_or(0);
}

double LearningRateAt(const manifest::SchedulerConfig& s, double base_lr, std::int64_t step,
                      std::int64_t total_steps) {
  const std::int64_t warmup = WarmupSteps(s, total_steps);
  if (step < warmup) {
    const double f = static_cast<double>(step) / static_cast<double>(warmup);
    return s.warmup.start_lr + (base_lr - s.warmup.start_lr) * f;
  }
  const auto t = static_cast<double>(step - warmup);
  const double period =
      static_cast<double>(std::max<std::int64_t>(1, s.T_max.value_or(total_steps - warmup)));
  if (s.name == "cosine" || s.name == "cosine_annealing") {
    const double p = std::min(t, period) / period;
    return s.eta_min + (base_lr - s.eta_min) * (1 + std::cos(std::numbers::pi * p)) / 2;
  }
  if (s.name == "linear") {
    const double p = std::min(t, period) / period;
    return base_lr + (s.eta_min - base_lr) * p;
  }
  if (s.name == "step") {
    const auto every = static_cast<double>(std::max<std::int64_t>(1, s.step_size.value_or(1)));
    return base_lr * std::pow(s.gamma, std::floor(t / every));
  }
  if (s.name == "exponential") return base_lr * std::pow(s.gamma, t);
  return base_lr;  // constant
}

}  // namespace entrenar::engine
