// LAMB against an update computed by hand from its definition (lamb.h), in double precision.
#include "lamb.h"

#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

namespace entrenar::engine {
namespace {

// One LAMB step on a plain vector, written out term by term.
struct Reference {
  std::vector<double> w, m, v;
  int t = 0;
  void Step(const std::vector<double>& g, double lr, double b1, double b2, double eps, double wd) {
    ++t;
    std::vector<double> u(w.size());
    double w_norm = 0, u_norm = 0;
    for (std::size_t i = 0; i < w.size(); ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const double m_hat = m[i] / (1 - std::pow(b1, t));
      const double v_hat = v[i] / (1 - std::pow(b2, t));
      u[i] = m_hat / (std::sqrt(v_hat) + eps) + wd * w[i];
      w_norm += w[i] * w[i];
      u_norm += u[i] * u[i];
    }
    w_norm = std::sqrt(w_norm);
    u_norm = std::sqrt(u_norm);
    const double trust = w_norm > 0 && u_norm > 0 ? w_norm / u_norm : 1.0;
    for (std::size_t i = 0; i < w.size(); ++i) w[i] -= lr * trust * u[i];
  }
};

TEST_CASE("LAMB matches its hand-computed update, trust ratio included", "[unit][engine]") {
  torch::Tensor w = torch::tensor({1.0, -2.0, 0.5}, torch::kDouble).requires_grad_(true);
  torch::Tensor zero = torch::zeros({2}, torch::kDouble).requires_grad_(true);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{w, zero});
  Lamb lamb(std::move(groups), LambOptions(0.1).betas({0.8, 0.9}).eps(1e-6).weight_decay(0.05));
  Reference ref{{1.0, -2.0, 0.5}, {0, 0, 0}, {0, 0, 0}};
  Reference ref_zero{{0, 0}, {0, 0}, {0, 0}};
  const std::vector<std::vector<double>> grads = {{0.3, -0.1, 2.0}, {-0.5, 0.4, 0.1}, {1, 1, 1}};
  for (const auto& g : grads) {
    w.mutable_grad() = torch::tensor(g, torch::kDouble);
    zero.mutable_grad() = torch::tensor({0.2, -0.2}, torch::kDouble);
    lamb.step();
    ref.Step(g, 0.1, 0.8, 0.9, 1e-6, 0.05);
    ref_zero.Step({0.2, -0.2}, 0.1, 0.8, 0.9, 1e-6, 0.05);  // ||w|| = 0: trust ratio 1
    for (std::size_t i = 0; i < 3; ++i) {
      CHECK(w[static_cast<std::int64_t>(i)].item<double>() == Approx(ref.w[i]).epsilon(1e-12));
    }
  }
  CHECK(zero[0].item<double>() == Approx(ref_zero.w[0]).epsilon(1e-12));
  CHECK(zero[0].item<double>() != 0.0);
  // The first step's size: lr * ||w|| exactly, whatever the gradient's scale.
  torch::Tensor p = torch::tensor({3.0, 4.0}, torch::kDouble).requires_grad_(true);
  std::vector<torch::optim::OptimizerParamGroup> one;
  one.emplace_back(std::vector<torch::Tensor>{p});
  Lamb single(std::move(one), LambOptions(0.01));
  p.mutable_grad() = torch::tensor({1000.0, -0.001}, torch::kDouble);
  single.step();
  const double moved = std::hypot(p[0].item<double>() - 3.0, p[1].item<double>() - 4.0);
  CHECK(moved == Approx(0.01 * 5.0).epsilon(1e-9));
}

TEST_CASE("LAMB's state survives save and load", "[unit][engine]") {
  auto make = [](torch::Tensor& w) {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(std::vector<torch::Tensor>{w});
    return std::make_unique<Lamb>(std::move(g), LambOptions(0.05));
  };
  torch::Tensor a = torch::tensor({1.0, 2.0}, torch::kDouble).requires_grad_(true);
  auto first = make(a);
  a.mutable_grad() = torch::tensor({0.5, -1.0}, torch::kDouble);
  first->step();
  torch::serialize::OutputArchive out;
  first->save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  torch::Tensor b = a.detach().clone().requires_grad_(true);
  auto second = make(b);
  std::istringstream in_bytes(bytes.str());
  torch::serialize::InputArchive in;
  in.load_from(in_bytes);
  second->load(in);
  a.mutable_grad() = torch::tensor({0.1, 0.2}, torch::kDouble);
  b.mutable_grad() = torch::tensor({0.1, 0.2}, torch::kDouble);
  first->step();
  second->step();
  CHECK(torch::equal(a, b));
}

}  // namespace
}  // namespace entrenar::engine
