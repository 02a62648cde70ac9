#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "entrenar/nvml/nvml.h"

namespace entrenar::engine {

// monitoring.system: samples this process every `interval` on a background thread, from /proc:
//   cpu_percent        CPU time over wall time, in percent of one core (over 100 with threads)
//   memory_mb          resident memory of the process (VmRSS), MiB
//   memory_system_mb   memory in use on the machine (MemTotal - MemAvailable), MiB
//   disk_io            bytes/s the process read plus wrote (read_bytes, write_bytes), with
//                      disk_read_bytes_per_s and disk_write_bytes_per_s
//   gpu_utilization    mean utilization of this process's GPUs, percent (NVML)
//   gpu_memory_mb      memory in use on them, MiB
//   gpu_memory         that memory as a fraction of theirs (0..1)
// This process's GPUs: those CUDA_VISIBLE_DEVICES names (NVML indices or GPU-UUIDs), else all.
// NVML comes from ENTRENAR_NVML_LIBRARY (default libnvidia-ml.so.1); without it, or without
// GPUs, there are no GPU metrics and no error.
// `metrics` picks among cpu_percent, memory_mb (with memory_system_mb), disk_io,
// gpu_utilization, gpu_memory_mb and gpu_memory (empty: all).
class SystemSampler {
 public:
  SystemSampler(std::chrono::milliseconds interval, std::vector<std::string> metrics);
  ~SystemSampler();
  SystemSampler(const SystemSampler&) = delete;
  SystemSampler& operator=(const SystemSampler&) = delete;

  // The latest sample (empty until the first interval has passed).
  std::map<std::string, double> Latest();
  // Changes with each sample: Latest() is worth reading again.
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  struct Counters {
    double cpu_seconds = 0, read_bytes = 0, write_bytes = 0;
    std::chrono::steady_clock::time_point at;
  };
  static Counters Read();
  void Sample(const Counters& before, const Counters& now);
  bool Wants(const std::string& metric) const;
  void OpenGpus();
  void SampleGpus(std::map<std::string, double>* s);

  const std::chrono::milliseconds interval_;
  const std::vector<std::string> metrics_;
  std::mutex mu_;  // guards stop_ and latest_ (the sampler thread writes, the trainer reads)
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::map<std::string, double> latest_;
  std::atomic<std::uint64_t> version_{0};
  std::unique_ptr<nvml::Library> nvml_;  // null: no GPU metrics
  std::vector<int> gpus_;                // NVML indices
  std::thread thread_;
};

}  // namespace entrenar::engine
