// Adam and AdamW over flat buffers: each parameter group's parameters and gradients become views
// of one contiguous tensor, so a step is a handful of tensor operations per group instead of per
// parameter. The arithmetic is LibTorch's own Adam/AdamW, operation for operation, so results
// are identical element for element. Internal to the engine (includes LibTorch).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace entrenar::engine {

class FusedAdam : public torch::optim::Optimizer {
 public:
  // `decoupled`: AdamW's decoupled weight decay; otherwise Adam's L2 term added to the gradient.
  FusedAdam(std::vector<torch::optim::OptimizerParamGroup> groups,
            const torch::optim::AdamWOptions& defaults, bool decoupled);
  torch::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;
  // Zeroes every gradient (one operation per group).
  void ZeroGrad();

 private:
  struct Flat {
    torch::Tensor param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq;
    std::vector<std::int64_t> offsets;  // where each parameter starts
    std::int64_t step = 0;
  };
  // Points every gradient at its slice of the flat gradient, copying one that was replaced.
  void AdoptGradients(std::size_t group);

  std::vector<Flat> flat_;
  bool decoupled_;
};

}  // namespace entrenar::engine
