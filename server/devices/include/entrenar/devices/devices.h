#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::devices {

// A device jobs can be scheduled on: a GPU found through NVML, or a CPU slot.
struct Device {
  std::string name;   // "cuda:0" (the NVML index), "cpu:1"
  std::string kind;   // "gpu" or "cpu"
  int index = 0;      // the NVML index of a GPU; the slot number of a CPU slot
  std::string model;  // "NVIDIA H100 80GB HBM3"; "" for CPU slots
  std::int64_t memory_bytes = 0;
};

// Memory as people read it: "16.0 GiB".
std::string GiB(std::int64_t bytes);

// A GPU as NVML reports it.
struct Gpu {
  int index = 0;
  std::string model;
  std::string uuid;
  std::int64_t memory_bytes = 0;
};

// NVML loaded at run time: no build or package dependency on the NVIDIA driver. kNotFound when
// the library cannot be loaded (no driver: a CPU-only machine), kInternal when it fails.
Result<std::vector<Gpu>> QueryNvml(const std::string& library = "libnvidia-ml.so.1");

// What the daemon's `devices` setting asks for.
struct DeviceConfig {
  std::string mode = "auto";  // "auto": every GPU NVML finds; "cpu": none; "list": `gpus`
  std::vector<int> gpus;      // NVML indices, with mode "list"
  std::int64_t cpu_slots = 2;
  std::string nvml_library = "libnvidia-ml.so.1";
};

struct Discovery {
  std::vector<Device> devices;  // GPUs first, then CPU slots
  std::string note;             // how the GPUs were found, or why there are none
};

// The devices the daemon schedules on. A listed GPU NVML does not know is an error.
Result<Discovery> Discover(const DeviceConfig& config);

// Free memory of GPUs now, as NVML reports it (the library loaded on first use, once).
// Thread-safe.
class FreeMemory {
 public:
  explicit FreeMemory(std::string library = "libnvidia-ml.so.1");
  ~FreeMemory();
  FreeMemory(const FreeMemory&) = delete;
  FreeMemory& operator=(const FreeMemory&) = delete;

  // Bytes free on the GPU of NVML index `index`; nullopt when NVML cannot tell.
  std::optional<std::int64_t> Of(int index);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace entrenar::devices
