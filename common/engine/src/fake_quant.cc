#include "fake_quant.h"

#include <fnmatch.h>

#include <cmath>

namespace entrenar::engine {
namespace {

// Per-slice ranges [lo, hi] of rows of `x` ([slices, n]) by the spec's method.
std::pair<torch::Tensor, torch::Tensor> Ranges(const torch::Tensor& x, const QuantSpec& spec);

// Fake-quantizes rows of `x` with per-row ranges.
torch::Tensor Quantize(const torch::Tensor& x, const torch::Tensor& lo, const torch::Tensor& hi,
                       const QuantSpec& spec) {
  const double levels = std::pow(2.0, static_cast<double>(spec.bits)) - 1;
  if (spec.symmetric) {
    const double qmax = std::pow(2.0, static_cast<double>(spec.bits - 1)) - 1;
    const torch::Tensor amax = torch::maximum(lo.abs(), hi.abs()).clamp_min(1e-12);
    const torch::Tensor scale = amax / qmax;
    return torch::clamp(torch::round(x / scale), -qmax - 1, qmax) * scale;
  }
  const torch::Tensor low = torch::minimum(lo, torch::zeros_like(lo));
  const torch::Tensor high = torch::maximum(hi, torch::zeros_like(hi));
  const torch::Tensor scale = ((high - low) / levels).clamp_min(1e-12);
  const torch::Tensor zero = torch::round(-low / scale);
  return (torch::clamp(torch::round(x / scale) + zero, 0, levels) - zero) * scale;
}

std::pair<torch::Tensor, torch::Tensor> Ranges(const torch::Tensor& x, const QuantSpec& spec) {
  if (spec.method == "percentile") {
    const double q = spec.percentile / 100.0;
    if (spec.symmetric) {
      const torch::Tensor a = torch::quantile(x.abs(), q, 1, true);
      return {-a, a};
    }
    return {torch::quantile(x, 1 - q, 1, true), torch::quantile(x, q, 1, true)};
  }
  torch::Tensor lo = std::get<0>(x.min(1, true)), hi = std::get<0>(x.max(1, true));
  if (spec.method != "mse") return {lo, hi};
  // The clipping of the range (1, 0.95, ..., 0.2) with the least squared error, per row.
  torch::Tensor best_err = torch::full_like(lo, std::numeric_limits<float>::infinity());
  torch::Tensor best_lo = lo, best_hi = hi;
  for (int k = 0; k < 17; ++k) {
    const double r = 1.0 - 0.05 * k;
    const torch::Tensor err = (Quantize(x, lo * r, hi * r, spec) - x).pow(2).sum(1, true);
    const torch::Tensor better = err < best_err;
    best_err = torch::where(better, err, best_err);
    best_lo = torch::where(better, lo * r, best_lo);
    best_hi = torch::where(better, hi * r, best_hi);
  }
  return {best_lo, best_hi};
}

}  // namespace

QuantSpec WeightSpec(const manifest::Manifest& m) {
  const manifest::QuantizeConfig& q = m.quantize;
  QuantSpec s;
  s.bits = q.bits;
  s.symmetric = q.scheme != "asymmetric";
  s.granularity = q.granularity;
  s.group_size = q.group_size.value_or(128);
  s.method = q.calibration.method;
  s.percentile = q.calibration.percentile;
  if (q.qat.enabled) {
    s.method = q.qat.observer == "histogram" ? "mse" : q.qat.observer;
  }
  return s;
}

Status CheckGroups(const torch::Tensor& w, const QuantSpec& spec) {
  if (spec.granularity != "per_group" || w.dim() < 2) return OkStatus();
  const std::int64_t row = w.numel() / w.size(0);
  if (row % spec.group_size == 0) return OkStatus();
  return InvalidArgument("quantize.group_size: rows of " + std::to_string(row) +
                         " weights do not split into groups of " + std::to_string(spec.group_size));
}

Result<torch::Tensor> FakeQuantize(const torch::Tensor& w, const QuantSpec& spec) {
  torch::Tensor x = w.to(torch::kFloat);
  if (spec.granularity == "per_tensor" || x.dim() < 2) {
    x = x.reshape({1, -1});
  } else if (spec.granularity == "per_channel") {
    x = x.reshape({x.size(0), -1});
  } else {
    ENTRENAR_RETURN_IF_ERROR(CheckGroups(w, spec));
    x = x.reshape({-1, spec.group_size});
  }
  const auto [lo, hi] = Ranges(x.detach(), spec);
  return Quantize(x, lo, hi, spec).reshape(w.sizes()).to(w.scalar_type());
}

void ActivationQuantizer::Observe(const torch::Tensor& x) {
  torch::Tensor flat = x.detach().to(torch::kCPU, torch::kFloat).reshape({-1});
  if (flat.numel() > 65536) flat = flat.slice(0, 0, flat.numel(), flat.numel() / 65536);
  samples_.push_back(flat);
}

void ActivationQuantizer::Freeze() {
  if (samples_.empty()) return;
  QuantSpec per_tensor = spec_;
  const torch::Tensor all = torch::cat(samples_).view({1, -1});
  const auto [lo, hi] = Ranges(all, per_tensor);
  lo_ = lo.item<double>();
  hi_ = hi.item<double>();
  samples_.clear();
  calibrated_ = true;
}

torch::Tensor ActivationQuantizer::Apply(const torch::Tensor& x) const {
  const torch::Tensor flat = x.reshape({1, -1});
  if (dynamic_) {
    QuantSpec minmax = spec_;
    minmax.method = "minmax";
    const auto [lo, hi] = Ranges(flat.detach().to(torch::kFloat), minmax);
    return Quantize(flat, lo.to(x.scalar_type()), hi.to(x.scalar_type()), spec_).view(x.sizes());
  }
  if (!calibrated_) return x;
  const torch::Tensor lo = torch::full({1, 1}, lo_, x.options());
  const torch::Tensor hi = torch::full({1, 1}, hi_, x.options());
  return Quantize(flat, lo, hi, spec_).view(x.sizes());
}

bool Excluded(const manifest::Manifest& m, const std::string& name) {
  for (const std::string& pattern : m.quantize.exclude) {
    if (fnmatch(pattern.c_str(), name.c_str(), 0) == 0) return true;
    if (name.rfind(pattern + ".", 0) == 0) return true;
    if (name.find("." + pattern + ".") != std::string::npos) return true;
  }
  return false;
}

torch::Tensor ActivationHooks::operator()(std::size_t i, const torch::Tensor& x) {
  const auto q = at.find(i);
  if (q == at.end()) return x;
  if (!observing) return q->second.Apply(x);
  q->second.Observe(x);
  return x;
}

void ActivationHooks::Freeze() {
  for (auto& [i, q] : at) q.Freeze();
}

}  // namespace entrenar::engine
