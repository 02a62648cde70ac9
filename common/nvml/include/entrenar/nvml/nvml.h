#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "entrenar/base/status.h"

namespace entrenar::nvml {

// A GPU as NVML reports it.
struct GpuInfo {
  int index = 0;  // NVML's index (PCI bus order)
  std::string model;
  std::string uuid;  // "GPU-..."
  std::int64_t memory_bytes = 0;
};

// What a GPU is doing now.
struct GpuUsage {
  double utilization_percent = 0;  // the share of the last sample period a kernel ran
  std::int64_t memory_used_bytes = 0, memory_total_bytes = 0;
};

// The NVIDIA driver's NVML library, loaded at run time with dlopen: no build or package
// dependency on the driver. Thread-compatible (one caller at a time).
class Library {
 public:
  // kNotFound when the library cannot be loaded (no driver: a CPU-only machine), kInternal when
  // it lacks a function or nvmlInit fails.
  static Result<std::unique_ptr<Library>> Load(const std::string& path = "libnvidia-ml.so.1");
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  Result<int> Count();
  Result<GpuInfo> Info(int index);
  // nullopt when NVML cannot tell (e.g. the device fell off the bus).
  std::optional<GpuUsage> Usage(int index);

 private:
  struct Api;
  explicit Library(std::unique_ptr<Api> api);
  std::unique_ptr<Api> api_;
};

}  // namespace entrenar::nvml
