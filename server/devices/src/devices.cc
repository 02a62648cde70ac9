#include "entrenar/devices/devices.h"

#include <algorithm>
#include <cstdio>

namespace entrenar::devices {
namespace {

Device FromGpu(const Gpu& g) {
  return {"cuda:" + std::to_string(g.index), "gpu", g.index, g.model, g.memory_bytes};
}

}  // namespace

Result<Discovery> Discover(const DeviceConfig& config) {
  Discovery d;
  if (config.mode == "cpu") {
    d.note = "GPUs disabled by the configuration";
  } else {
    const Result<std::vector<Gpu>> gpus = QueryNvml(config.nvml_library);
    if (!gpus.ok() && config.mode == "list") {
      return FailedPrecondition("devices lists GPUs, but NVML is unavailable: " +
                                gpus.status().message());
    }
    if (!gpus.ok()) {
      d.note = gpus.status().message() + "; CPU slots only";
    } else if (config.mode == "list") {
      for (int want : config.gpus) {
        auto it = std::find_if(gpus->begin(), gpus->end(),
                               [want](const Gpu& g) { return g.index == want; });
        if (it == gpus->end()) {
          return FailedPrecondition("devices lists GPU " + std::to_string(want) +
                                    " but NVML finds " + std::to_string(gpus->size()) + " GPU(s)");
        }
        d.devices.push_back(FromGpu(*it));
      }
      d.note = std::to_string(d.devices.size()) + " listed GPU(s) of " +
               std::to_string(gpus->size()) + " found by NVML";
    } else {
      for (const Gpu& g : *gpus) d.devices.push_back(FromGpu(g));
      d.note = std::to_string(gpus->size()) + " GPU(s) found by NVML";
    }
  }
  for (std::int64_t i = 0; i < config.cpu_slots; ++i) {
    d.devices.push_back({"cpu:" + std::to_string(i), "cpu", static_cast<int>(i), "", 0});
  }
  if (d.devices.empty()) return FailedPrecondition("no devices: no GPU and cpu_slots is 0");
  return d;
}

std::string GiB(std::int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f GiB", static_cast<double>(bytes) / (1LL << 30));
  return text;
}

}  // namespace entrenar::devices
