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

namespace {

// PyTorch's OneCycleLR (lr only; momentum is not cycled): from max_lr / div_factor up to max_lr
// over pct_start of the steps, then down to that / final_div_factor at the last step.
double OneCycle(const manifest::SchedulerConfig& s, std::int64_t step, std::int64_t total_steps) {
  const double max_lr = s.max_lr.value_or(0);
  const double initial = max_lr / s.div_factor;
  const double final_lr = initial / s.final_div_factor;
  const double peak_step = s.pct_start * static_cast<double>(total_steps) - 1;
  const double last_step = static_cast<double>(total_steps) - 1;
  auto anneal = [&](double from, double to, double pct) {
    if (s.anneal_strategy == "linear") return (to - from) * pct + from;
    return to + (from - to) / 2 * (std::cos(std::numbers::pi * pct) + 1);
  };
  const auto t = static_cast<double>(step);
  if (t <= peak_step) return anneal(initial, max_lr, peak_step > 0 ? t / peak_step : 1);
  return anneal(max_lr, final_lr, std::min(1.0, (t - peak_step) / (last_step - peak_step)));
}

}  // namespace

double LearningRateAt(const manifest::SchedulerConfig& s, double base_lr, std::int64_t step,
                      std::int64_t total_steps) {
  if (s.name == "one_cycle") return OneCycle(s, step, total_steps);
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

namespace entrenar::engine {

bool PlateauTracker::Observe(const manifest::SchedulerConfig& s, double value) {
  const bool improved = !best || (s.mode == "max" ? value > *best * (1 + s.threshold)
                                                  : value < *best * (1 - s.threshold));
  if (improved) {
    best = value;
    bad = 0;
    return false;
  }
  if (++bad > s.patience) {
    scale *= s.factor;
    bad = 0;
    return true;
  }
  return false;
}

}  // namespace entrenar::engine
