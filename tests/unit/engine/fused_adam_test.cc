// The flat-buffer Adam/AdamW against LibTorch's own, bit for bit.
#include "fused_adam.h"

#include <catch2/catch.hpp>

namespace entrenar::engine {
namespace {

struct Params {
  std::vector<torch::Tensor> a, b;  // two groups
};

Params MakeParams() {
  torch::manual_seed(5);
  return {{torch::randn({4, 3}).requires_grad_(true), torch::randn({3}).requires_grad_(true)},
          {torch::randn({2, 2}).requires_grad_(true)}};
}

std::vector<torch::optim::OptimizerParamGroup> Groups(const Params& p, bool amsgrad = false) {
  std::vector<torch::optim::OptimizerParamGroup> g;
  for (auto [params, lr, wd] : {std::tuple{p.a, 0.01, 0.1}, std::tuple{p.b, 0.003, 0.0}}) {
    g.emplace_back(
        params,
        std::make_unique<torch::optim::AdamWOptions>(
            torch::optim::AdamWOptions(lr).betas({0.85, 0.99}).amsgrad(amsgrad).weight_decay(wd)));
  }
  return g;
}

template <typename Reference>
void Compare(bool decoupled, bool amsgrad) {
  Params ours = MakeParams(), theirs = MakeParams();
  const auto defaults = torch::optim::AdamWOptions(0.01).betas({0.85, 0.99}).amsgrad(amsgrad);
  FusedAdam fused(Groups(ours, amsgrad), defaults, decoupled);
  // The reference takes the same per-group options in its own option type.
  std::vector<torch::optim::OptimizerParamGroup> ref_groups;
  using RefOptions = typename Reference::OptionsType;
  for (auto [params, lr, wd] :
       {std::tuple{theirs.a, 0.01, 0.1}, std::tuple{theirs.b, 0.003, 0.0}}) {
    auto o = std::make_unique<RefOptions>(lr);
    o->betas({0.85, 0.99}).amsgrad(amsgrad).weight_decay(wd);
    ref_groups.emplace_back(params, std::move(o));
  }
  Reference reference(std::move(ref_groups), RefOptions(0.01));
  for (int step = 0; step < 6; ++step) {
    for (Params* p : {&ours, &theirs}) {
      torch::Tensor loss =
          (p->a[0].pow(2).sum() * (step + 1)) + p->a[1].sin().sum() + p->b[0].exp().sum();
      loss.backward();
    }
    fused.step();
    reference.step();
    fused.ZeroGrad();
    reference.zero_grad();
  }
  for (std::size_t i = 0; i < ours.a.size(); ++i) {
    INFO((ours.a[i] - theirs.a[i]).abs().max().item<double>());
    CHECK(torch::equal(ours.a[i], theirs.a[i]));
  }
  CHECK(torch::equal(ours.b[0], theirs.b[0]));
  CHECK_FALSE(torch::equal(ours.b[0], MakeParams().b[0]));  // it did move
}

struct AdamWRef : torch::optim::AdamW {
  using OptionsType = torch::optim::AdamWOptions;
  using torch::optim::AdamW::AdamW;
};
struct AdamRef : torch::optim::Adam {
  using OptionsType = torch::optim::AdamOptions;
  using torch::optim::Adam::Adam;
};

TEST_CASE("Flat AdamW equals LibTorch's AdamW bit for bit", "[unit][engine]") {
  Compare<AdamWRef>(true, false);
  Compare<AdamWRef>(true, true);
}

TEST_CASE("Flat Adam equals LibTorch's Adam bit for bit", "[unit][engine]") {
  Compare<AdamRef>(false, false);
  Compare<AdamRef>(false, true);
}

TEST_CASE("Flat Adam takes gradients that were replaced rather than accumulated",
          "[unit][engine]") {
  Params ours = MakeParams();
  FusedAdam fused(Groups(ours), torch::optim::AdamWOptions(0.01), true);
  const torch::Tensor before = ours.b[0].detach().clone();
  ours.b[0].mutable_grad() = torch::ones({2, 2});  // a new tensor, not the flat buffer's view
  fused.step();
  CHECK_FALSE(torch::equal(ours.b[0], before));
}

}  // namespace
}  // namespace entrenar::engine
