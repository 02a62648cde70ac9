#include "system_sampler.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace entrenar::engine {
namespace {

// A "Key: value" field of a /proc file (kB for memory), or -1.
double Field(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::atof(line.c_str() + key.size() + 1);
  }
  return -1;
}

// The NVML indices CUDA_VISIBLE_DEVICES names (indices, or UUIDs and their prefixes), in order;
// all `count` when it is unset. An empty value (a CPU job) names none.
std::vector<int> VisibleGpus(nvml::Library& nvml, int count) {
  std::vector<int> out;
  const char* env = std::getenv("CUDA_VISIBLE_DEVICES");
  if (!env) {
    for (int i = 0; i < count; ++i) out.push_back(i);
    return out;
  }
  std::stringstream list(env);
  for (std::string item; std::getline(list, item, ',');) {
    if (item.empty()) continue;
    if (item.rfind("GPU-", 0) != 0) {
      const int index = std::atoi(item.c_str());
      if (index < 0 || index >= count) break;  // CUDA stops at the first invalid entry
      out.push_back(index);
      continue;
    }
    for (int i = 0; i < count; ++i) {
      const Result<nvml::GpuInfo> info = nvml.Info(i);
      if (info.ok() && info->uuid.rfind(item, 0) == 0) out.push_back(i);
    }
  }
  return out;
}

}  // namespace

void SystemSampler::OpenGpus() {
  if (!Wants("gpu_utilization") && !Wants("gpu_memory_mb") && !Wants("gpu_memory")) return;
  const char* path = std::getenv("ENTRENAR_NVML_LIBRARY");
  Result<std::unique_ptr<nvml::Library>> lib =
      nvml::Library::Load(path && *path ? path : "libnvidia-ml.so.1");
  if (!lib.ok()) return;  // no driver: no GPU metrics
  const Result<int> count = (*lib)->Count();
  if (!count.ok()) return;
  gpus_ = VisibleGpus(**lib, *count);
  if (!gpus_.empty()) nvml_ = std::move(*lib);
}

void SystemSampler::SampleGpus(std::map<std::string, double>* s) {
  if (!nvml_) return;
  double utilization = 0;
  std::int64_t used = 0, total = 0;
  int seen = 0;
  for (int index : gpus_) {
    const std::optional<nvml::GpuUsage> u = nvml_->Usage(index);
    if (!u) continue;
    utilization += u->utilization_percent;
    used += u->memory_used_bytes;
    total += u->memory_total_bytes;
    ++seen;
  }
  if (seen == 0) return;
  if (Wants("gpu_utilization")) (*s)["gpu_utilization"] = utilization / seen;
  if (Wants("gpu_memory_mb")) (*s)["gpu_memory_mb"] = static_cast<double>(used) / (1 << 20);
  if (Wants("gpu_memory") && total > 0) {
    (*s)["gpu_memory"] = static_cast<double>(used) / static_cast<double>(total);
  }
}

SystemSampler::SystemSampler(std::chrono::milliseconds interval, std::vector<std::string> metrics)
    : interval_(std::max(interval, std::chrono::milliseconds(10))), metrics_(std::move(metrics)) {
  thread_ = std::thread([this] {
    OpenGpus();  // on this thread: loading the driver's library takes a moment
    Counters before = Read();
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      const Counters now = Read();
      Sample(before, now);
      before = now;
      lock.lock();
    }
  });
}

SystemSampler::~SystemSampler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  thread_.join();
}

std::map<std::string, double> SystemSampler::Latest() {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

bool SystemSampler::Wants(const std::string& metric) const {
  return metrics_.empty() || std::find(metrics_.begin(), metrics_.end(), metric) != metrics_.end();
}

SystemSampler::Counters SystemSampler::Read() {
  Counters c;
  c.at = std::chrono::steady_clock::now();
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start at the state, field 3;
  // utime and stime are fields 14 and 15, in clock ticks.
  const std::size_t close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(text.substr(close + 2));
    std::string f;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14) utime = std::atof(f.c_str());
      if (i == 15) stime = std::atof(f.c_str());
    }
    c.cpu_seconds = (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  c.read_bytes = std::max(0.0, Field("/proc/self/io", "read_bytes"));
  c.write_bytes = std::max(0.0, Field("/proc/self/io", "write_bytes"));
  return c;
}

void SystemSampler::Sample(const Counters& before, const Counters& now) {
  const double secs = std::chrono::duration<double>(now.at - before.at).count();
  if (secs <= 0) return;
  std::map<std::string, double> s;
  if (Wants("cpu_percent")) s["cpu_percent"] = 100 * (now.cpu_seconds - before.cpu_seconds) / secs;
  if (Wants("memory_mb")) {
    s["memory_mb"] = Field("/proc/self/status", "VmRSS") / 1024;
    const double total = Field("/proc/meminfo", "MemTotal");
    const double available = Field("/proc/meminfo", "MemAvailable");
    if (total > 0 && available >= 0) s["memory_system_mb"] = (total - available) / 1024;
  }
  if (Wants("disk_io")) {
    const double read = (now.read_bytes - before.read_bytes) / secs;
    const double write = (now.write_bytes - before.write_bytes) / secs;
    s["disk_read_bytes_per_s"] = read;
    s["disk_write_bytes_per_s"] = write;
    s["disk_io"] = read + write;
  }
  SampleGpus(&s);
  std::lock_guard<std::mutex> lock(mu_);
  latest_ = std::move(s);
  version_.fetch_add(1, std::memory_order_release);
}

}  // namespace entrenar::engine
