#include "precision.h"

#include <ATen/autocast_mode.h>

namespace entrenar::engine {
namespace {

torch::ScalarType DType(const std::string& name) {
  if (name == "float16") return torch::kHalf;
  if (name == "bfloat16") return torch::kBFloat16;
  return torch::kFloat;
}

// LibTorch 2.4 made autocast take the device type; older versions name CPU and GPU calls apart.
void SetAutocast(const Precision& p, bool on) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  at::autocast::set_autocast_dtype(p.device.type(), p.autocast_dtype);
  at::autocast::set_autocast_enabled(p.device.type(), on);
#else
  if (p.device.is_cuda()) {
    at::autocast::set_autocast_gpu_dtype(p.autocast_dtype);
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_autocast_cpu_dtype(p.autocast_dtype);
    at::autocast::set_cpu_enabled(on);
  }
#endif
  if (!on) at::autocast::clear_cache();
}

Result<torch::Device> ResolveDevice(const std::string& name) {
  const bool cuda = torch::cuda::is_available();
  if (name == "auto") return cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (!cuda) {
    return InvalidArgument(
        "model.device: `" + name +
        "` asks for a CUDA GPU, but LibTorch finds none on this machine (" +
        std::string(torch::cuda::device_count() == 0 ? "no CUDA devices" : "CUDA unusable") +
        "); use `device: auto` to train where you can");
  }
  const int index = name == "cuda" ? 0 : std::stoi(name.substr(5));
  const auto count = static_cast<int>(torch::cuda::device_count());
  if (index >= count) {
    return InvalidArgument("model.device: `" + name + "` but this machine has " +
                           std::to_string(count) +
                           " CUDA device(s): cuda:0 to cuda:" + std::to_string(count - 1));
  }
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
}

}  // namespace

std::string DeviceName(const torch::Device& d) { return d.str(); }

Result<Precision> ResolvePrecision(const manifest::Manifest& m) {
  Precision p;
  ENTRENAR_ASSIGN_OR_RETURN(p.device, ResolveDevice(m.model.device));
  p.param_dtype = DType(m.model.dtype);
  const auto& mp = m.training.mixed_precision;
  if (mp.enabled) {
    p.autocast = true;
    p.autocast_dtype = DType(mp.dtype);
    p.scale_loss = p.autocast_dtype == torch::kHalf;
  }
  const bool half =
      p.param_dtype == torch::kHalf || (p.autocast && p.autocast_dtype == torch::kHalf);
  if (half && p.device.is_cpu()) {
    const std::string key =
        p.param_dtype == torch::kHalf ? "model.dtype" : "training.mixed_precision.dtype";
    return InvalidArgument(key +
                           ": float16 needs a CUDA device (LibTorch has no float16 matrix "
                           "multiply on the CPU); on the CPU use bfloat16");
  }
  return p;
}

AutocastScope::AutocastScope(const Precision& p) : p_(p) {
  if (p_.autocast) SetAutocast(p_, true);
}

AutocastScope::~AutocastScope() {
  if (p_.autocast) SetAutocast(p_, false);
}

}  // namespace entrenar::engine
