#pragma once

#include <cstdint>

namespace entrenar::engine {

// Loss scaling for float16 mixed precision. The loss is multiplied by scale() before backward
// and the gradients divided by it before the optimizer step. A dynamic scaler starts at 2^16,
// halves (and skips the step) when a gradient overflows to inf/NaN, and doubles after
// `growth_interval` steps in a row without overflow, as PyTorch's GradScaler does. A fixed
// scaler never changes, but still skips steps that overflow.
class LossScaler {
 public:
  static LossScaler Dynamic(std::int64_t growth_interval = 2000) {
    return LossScaler(65536.0, true, growth_interval);
  }
  static LossScaler Fixed(double scale) { return LossScaler(scale, false, 0); }

  double scale() const { return scale_; }
  std::int64_t clean_steps() const { return clean_steps_; }
  std::int64_t skipped_steps() const { return skipped_; }

  // Records whether this step's gradients overflowed; returns true when the step should be
  // taken (no overflow).
  bool Update(bool overflowed) {
    if (overflowed) {
      ++skipped_;
      clean_steps_ = 0;
      if (dynamic_) scale_ = scale_ * 0.5 < 1.0 ? 1.0 : scale_ * 0.5;
      return false;
    }
    if (dynamic_ && ++clean_steps_ >= growth_interval_) {
      scale_ *= 2.0;
      clean_steps_ = 0;
    }
    return true;
  }

  // Restores the state saved in a checkpoint.
  void Restore(double scale, std::int64_t clean_steps, std::int64_t skipped) {
    scale_ = scale;
    clean_steps_ = clean_steps;
    skipped_ = skipped;
  }

 private:
  LossScaler(double scale, bool dynamic, std::int64_t growth_interval)
      : scale_(scale), dynamic_(dynamic), growth_interval_(growth_interval) {}

  double scale_;
  bool dynamic_;
  std::int64_t growth_interval_;
  std::int64_t clean_steps_ = 0;
  std::int64_t skipped_ = 0;
};

}  // namespace entrenar::engine
