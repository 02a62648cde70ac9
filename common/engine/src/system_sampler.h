#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace entrenar::engine {

// monitoring.system: samples this process every `interval` on a background thread, from /proc:
//   cpu_percent        CPU time over wall time, in percent of one core (over 100 with threads)
//   memory_mb          resident memory of the process (VmRSS), MiB
//   memory_system_mb   memory in use on the machine (MemTotal - MemAvailable), MiB
//   disk_io            bytes/s the process read plus wrote (read_bytes, write_bytes), with
//                      disk_read_bytes_per_s and disk_write_bytes_per_s
// `metrics` picks among cpu_percent, memory_mb (with memory_system_mb) and disk_io (empty: all).
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

  const std::chrono::milliseconds interval_;
  const std::vector<std::string> metrics_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::map<std::string, double> latest_;
  std::atomic<std::uint64_t> version_{0};
  std::thread thread_;
};

}  // namespace entrenar::engine
