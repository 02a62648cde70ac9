#include "fused_adam.h"

#include <cmath>
#include <string>

namespace entrenar::engine {

FusedAdam::FusedAdam(std::vector<torch::optim::OptimizerParamGroup> groups,
                     const torch::optim::AdamWOptions& defaults, bool decoupled)
    : torch::optim::Optimizer(std::move(groups),
                              std::make_unique<torch::optim::AdamWOptions>(defaults)),
      decoupled_(decoupled) {
  torch::NoGradGuard no_grad;
  for (auto& group : param_groups()) {
    Flat f;
    std::int64_t total = 0;
    for (const auto& p : group.params()) {
      f.offsets.push_back(total);
      total += p.numel();
    }
    const auto& first = group.params().front();
    f.param = torch::empty({total}, first.options());
    f.grad = torch::zeros({total}, first.options());
    for (std::size_t i = 0; i < group.params().size(); ++i) {
      torch::Tensor& p = group.params()[i];
      torch::Tensor slot = f.param.slice(0, f.offsets[i], f.offsets[i] + p.numel()).view(p.sizes());
      slot.copy_(p);
      p.set_data(slot);
    }
    f.exp_avg = torch::zeros_like(f.param);
    f.exp_avg_sq = torch::zeros_like(f.param);
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    if (o.amsgrad()) f.max_exp_avg_sq = torch::zeros_like(f.param);
    flat_.push_back(std::move(f));
    AdoptGradients(flat_.size() - 1);
  }
}

void FusedAdam::AdoptGradients(std::size_t g) {
  Flat& f = flat_[g];
  auto& params = param_groups()[g].params();
  for (std::size_t i = 0; i < params.size(); ++i) {
    torch::Tensor& p = params[i];
    const std::int64_t begin = f.offsets[i];
    auto* want = static_cast<char*>(f.grad.data_ptr()) + begin * f.grad.element_size();
    if (p.grad().defined() && p.grad().data_ptr() == static_cast<void*>(want)) {
      continue;
    }
    torch::Tensor slot = f.grad.slice(0, begin, begin + p.numel()).view(p.sizes());
    if (p.grad().defined()) {
      slot.copy_(p.grad());
    } else {
      slot.zero_();
    }
    p.mutable_grad() = slot;
  }
}

void FusedAdam::ZeroGrad() {
  for (std::size_t g = 0; g < flat_.size(); ++g) {
    AdoptGradients(g);
    flat_[g].grad.zero_();
  }
}

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (std::size_t g = 0; g < flat_.size(); ++g) {
    AdoptGradients(g);
    Flat& f = flat_[g];
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(param_groups()[g].options());
    torch::Tensor grad = f.grad;
    if (decoupled_) {
      if (o.weight_decay() != 0) f.param.mul_(1 - o.lr() * o.weight_decay());
    } else if (o.weight_decay() != 0) {
      grad = grad.add(f.param, o.weight_decay());
    }
    ++f.step;
    const auto [beta1, beta2] = o.betas();
    const double bias_correction1 = 1 - std::pow(beta1, f.step);
    const double bias_correction2 = 1 - std::pow(beta2, f.step);
    f.exp_avg.mul_(beta1).add_(grad, 1 - beta1);
    f.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    torch::Tensor denom;
    if (o.amsgrad()) {
      torch::max_out(f.max_exp_avg_sq, f.exp_avg_sq, f.max_exp_avg_sq);
      denom = (f.max_exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(o.eps());
    } else {
      denom = (f.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(o.eps());
    }
    f.param.addcdiv_(f.exp_avg, denom, -o.lr() / bias_correction1);
  }
  return loss;
}

void FusedAdam::save(torch::serialize::OutputArchive& archive) const {
  for (std::size_t g = 0; g < flat_.size(); ++g) {
    const Flat& f = flat_[g];
    const std::string key = "adam." + std::to_string(g);
    archive.write(key + ".step", torch::tensor(f.step));
    archive.write(key + ".exp_avg", f.exp_avg);
    archive.write(key + ".exp_avg_sq", f.exp_avg_sq);
    if (f.max_exp_avg_sq.defined()) archive.write(key + ".max_exp_avg_sq", f.max_exp_avg_sq);
  }
}

void FusedAdam::load(torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  // `read` into a defined tensor re-points it; each value is read fresh and copied in.
  auto read = [&](const std::string& key) {
    torch::Tensor t;
    archive.read(key, t);
    return t;
  };
  for (std::size_t g = 0; g < flat_.size(); ++g) {
    Flat& f = flat_[g];
    const std::string key = "adam." + std::to_string(g);
    f.step = read(key + ".step").item<std::int64_t>();
    f.exp_avg.copy_(read(key + ".exp_avg"));
    f.exp_avg_sq.copy_(read(key + ".exp_avg_sq"));
    if (f.max_exp_avg_sq.defined()) f.max_exp_avg_sq.copy_(read(key + ".max_exp_avg_sq"));
  }
}

}  // namespace entrenar::engine
