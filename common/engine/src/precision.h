// Devices, dtypes and autocast. Internal to the engine (includes LibTorch).
#pragma once

#include <string>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// How a run computes: where, in which parameter dtype, and with which autocast dtype (if any).
struct Precision {
  torch::Device device = torch::kCPU;
  torch::ScalarType param_dtype = torch::kFloat;
  bool autocast = false;
  torch::ScalarType autocast_dtype = torch::kBFloat16;
  bool scale_loss = false;  // float16 autocast: dynamic or fixed loss scaling
};

// model.device, model.dtype and training.mixed_precision resolved against this machine.
// `device: cuda` without a usable GPU, and float16 on the CPU (LibTorch has no float16 matrix
// multiply there), are InvalidArgument errors naming the key.
Result<Precision> ResolvePrecision(const manifest::Manifest& m);

std::string DeviceName(const torch::Device& d);

// Autocast on for the scope's lifetime when `p.autocast`.
class AutocastScope {
 public:
  explicit AutocastScope(const Precision& p);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  const Precision& p_;
};

}  // namespace entrenar::engine
