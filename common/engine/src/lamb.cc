#include "lamb.h"

#include <cmath>
#include <string>

namespace entrenar::engine {

Lamb::Lamb(std::vector<torch::optim::OptimizerParamGroup> groups, const LambOptions& defaults)
    : torch::optim::Optimizer(std::move(groups), std::make_unique<LambOptions>(defaults)) {
  for (const auto& g : param_groups()) state_by_group_.emplace_back(g.params().size());
}

torch::Tensor Lamb::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (std::size_t gi = 0; gi < param_groups().size(); ++gi) {
    auto& group = param_groups()[gi];
    const auto& o = static_cast<const LambOptions&>(group.options());
    for (std::size_t pi = 0; pi < group.params().size(); ++pi) {
      torch::Tensor& w = group.params()[pi];
      if (!w.grad().defined()) continue;
      const torch::Tensor& g = w.grad();
      State& s = state_by_group_[gi][pi];
      if (!s.exp_avg.defined()) {
        s.exp_avg = torch::zeros_like(w);
        s.exp_avg_sq = torch::zeros_like(w);
      }
      ++s.step;
      const auto [b1, b2] = o.betas_;
      s.exp_avg.mul_(b1).add_(g, 1 - b1);
      s.exp_avg_sq.mul_(b2).addcmul_(g, g, 1 - b2);
      const double c1 = 1 - std::pow(b1, static_cast<double>(s.step));
      const double c2 = 1 - std::pow(b2, static_cast<double>(s.step));
      torch::Tensor update = (s.exp_avg / c1) / ((s.exp_avg_sq / c2).sqrt() + o.eps_);
      if (o.weight_decay_ != 0) update.add_(w, o.weight_decay_);
      const double w_norm = w.norm().item<double>();
      const double u_norm = update.norm().item<double>();
      const double trust = w_norm > 0 && u_norm > 0 ? w_norm / u_norm : 1.0;
      w.add_(update, -o.lr_ * trust);
    }
  }
  return loss;
}

void Lamb::save(torch::serialize::OutputArchive& archive) const {
  for (std::size_t gi = 0; gi < state_by_group_.size(); ++gi) {
    for (std::size_t pi = 0; pi < state_by_group_[gi].size(); ++pi) {
      const State& s = state_by_group_[gi][pi];
      if (!s.exp_avg.defined()) continue;
      const std::string key = "lamb." + std::to_string(gi) + "." + std::to_string(pi);
      archive.write(key + ".step", torch::tensor(s.step));
      archive.write(key + ".exp_avg", s.exp_avg);
      archive.write(key + ".exp_avg_sq", s.exp_avg_sq);
    }
  }
}

void Lamb::load(torch::serialize::InputArchive& archive) {
  for (std::size_t gi = 0; gi < state_by_group_.size(); ++gi) {
    for (std::size_t pi = 0; pi < state_by_group_[gi].size(); ++pi) {
      State& s = state_by_group_[gi][pi];
      const std::string key = "lamb." + std::to_string(gi) + "." + std::to_string(pi);
      torch::Tensor step;
      if (!archive.try_read(key + ".step", step)) continue;
      s.step = step.item<std::int64_t>();
      archive.read(key + ".exp_avg", s.exp_avg);
      archive.read(key + ".exp_avg_sq", s.exp_avg_sq);
    }
  }
}

}  // namespace entrenar::engine
