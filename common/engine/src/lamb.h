// LAMB (You et al., 2019, "Large Batch Optimization for Deep Learning"), our own implementation.
// Per parameter tensor w with gradient g, at step t:
//   m = b1 m + (1 - b1) g            v = b2 v + (1 - b2) g^2
//   u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + weight_decay w
//   trust = ||w|| / ||u||  (1 when either norm is 0)
//   w = w - lr trust u
// Internal to the engine (includes LibTorch).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace entrenar::engine {

struct LambOptions : public torch::optim::OptimizerCloneableOptions<LambOptions> {
  explicit LambOptions(double lr = 1e-3) : lr_(lr) {}
  LambOptions& lr(double v) {
    lr_ = v;
    return *this;
  }
  LambOptions& betas(std::pair<double, double> v) {
    betas_ = v;
    return *this;
  }
  LambOptions& eps(double v) {
    eps_ = v;
    return *this;
  }
  LambOptions& weight_decay(double v) {
    weight_decay_ = v;
    return *this;
  }
  double get_lr() const override { return lr_; }
  void set_lr(const double lr) override { lr_ = lr; }

  double lr_;
  std::pair<double, double> betas_ = {0.9, 0.999};
  double eps_ = 1e-6;
  double weight_decay_ = 0;
};

class Lamb : public torch::optim::Optimizer {
 public:
  Lamb(std::vector<torch::optim::OptimizerParamGroup> groups, const LambOptions& defaults);
  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  struct State {
    std::int64_t step = 0;
    torch::Tensor exp_avg, exp_avg_sq;
  };
  std::vector<std::vector<State>> state_by_group_;  // [group][parameter]
};

}  // namespace entrenar::engine
