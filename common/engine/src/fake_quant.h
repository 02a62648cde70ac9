// Quantization of weights and activations (SPEC §7), simulated in float: values are rounded to
// their `bits`-bit grid and mapped back ("fake quantization"), so a model computes exactly what
// the quantized model would. Internal to the engine (includes LibTorch).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// How values are quantized: quantize.bits, scheme, granularity, group_size, and the range
// estimate (calibration.method, or the QAT observer).
struct QuantSpec {
  std::int64_t bits = 8;
  bool symmetric = true;  // scheme symmetric (and dynamic's weights); else a zero point
  std::string granularity = "per_channel";
  std::int64_t group_size = 128;
  std::string method = "minmax";  // minmax, percentile or mse
  double percentile = 99.99;
};

// The spec of `m.quantize`; QAT uses its observer (minmax, percentile; histogram searches the
// clipping that minimizes the squared error, as the mse method does).
QuantSpec WeightSpec(const manifest::Manifest& m);

// kInvalidArgument (naming quantize.group_size) when `spec` is per_group and the rows of `w`
// do not split into groups of group_size.
Status CheckGroups(const torch::Tensor& w, const QuantSpec& spec);

// `w` (rows × anything) fake-quantized: ranges per tensor, per row (output channel), or per
// group of group_size consecutive values of a row. Errors as CheckGroups.
Result<torch::Tensor> FakeQuantize(const torch::Tensor& w, const QuantSpec& spec);

// An activation quantizer: a per-tensor range, calibrated over batches (Observe, then Freeze)
// or taken from each batch (`dynamic`).
class ActivationQuantizer {
 public:
  ActivationQuantizer(QuantSpec spec, bool dynamic) : spec_(std::move(spec)), dynamic_(dynamic) {}
  void Observe(const torch::Tensor& x);  // while calibrating: remember a sample of values
  void Freeze();                         // the range from what was observed
  torch::Tensor Apply(const torch::Tensor& x) const;
  bool calibrated() const { return calibrated_; }

 private:
  QuantSpec spec_;
  bool dynamic_;
  bool calibrated_ = false;
  std::vector<torch::Tensor> samples_;
  double lo_ = 0, hi_ = 0;
};

// Activation quantizers on the inputs of a model's quantized layers, by index (a sequential
// model's module, or a transformer's projection). Used by the training thread only.
struct ActivationHooks {
  std::map<std::size_t, ActivationQuantizer> at;
  bool observing = false;  // calibrating: record activations instead of quantizing them

  // `x` as layer `i` sees it: recorded while calibrating, else quantized (when `i` has one).
  torch::Tensor operator()(std::size_t i, const torch::Tensor& x);
  void Freeze();  // every range from what was observed
};

// Whether `name` matches one of quantize.exclude (a glob, or a prefix up to a dot).
bool Excluded(const manifest::Manifest& m, const std::string& name);

}  // namespace entrenar::engine
