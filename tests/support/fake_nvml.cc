// A stand-in for the NVIDIA driver's libnvidia-ml.so.1, for machines without a GPU: it speaks
// the NVML C ABI (the calls entrenard makes) and reports FAKE_NVML_GPUS devices (default 2),
// "Fake NVML GPU N" with 16 GiB each. FAKE_NVML_FAIL_INIT=1 makes nvmlInit fail like a driver
// whose kernel module is not loaded. GPU N is (N + 1) × FAKE_NVML_USED_MIB (default 0) MiB used
// and (N + 1) × FAKE_NVML_UTIL percent (default 0) busy.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace {

constexpr int kSuccess = 0;
constexpr int kInvalidArgument = 2;
constexpr int kDriverNotLoaded = 9;

unsigned Count() {
  const char* n = std::getenv("FAKE_NVML_GPUS");
  return n ? static_cast<unsigned>(std::atoi(n)) : 2;
}

unsigned Index(void* device) {
  return static_cast<unsigned>(reinterpret_cast<std::uintptr_t>(device)) - 1;
}

}  // namespace

extern "C" {

struct FakeNvmlMemory {
  unsigned long long total, free, used;
};

int nvmlInit_v2() {
  const char* fail = std::getenv("FAKE_NVML_FAIL_INIT");
  return fail && fail[0] == '1' ? kDriverNotLoaded : kSuccess;
}
int nvmlShutdown() { return kSuccess; }
int nvmlDeviceGetCount_v2(unsigned* count) {
  *count = Count();
  return kSuccess;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned index, void** device) {
  if (index >= Count()) return kInvalidArgument;
  *device = reinterpret_cast<void*>(static_cast<std::uintptr_t>(index) + 1);
  return kSuccess;
}
int nvmlDeviceGetName(void* device, char* name, unsigned length) {
  std::snprintf(name, length, "Fake NVML GPU %u", Index(device));
  return kSuccess;
}
int nvmlDeviceGetUUID(void* device, char* uuid, unsigned length) {
  std::snprintf(uuid, length, "GPU-00000000-0000-0000-0000-%012u", Index(device));
  return kSuccess;
}
unsigned long long EnvNumber(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 10) : 0;
}
int nvmlDeviceGetMemoryInfo(void* device, FakeNvmlMemory* memory) {
  memory->total = 16ULL << 30;
  memory->used = (Index(device) + 1) * (EnvNumber("FAKE_NVML_USED_MIB") << 20);
  memory->free = memory->total - memory->used;
  return kSuccess;
}
struct FakeNvmlUtilization {
  unsigned gpu, memory;
};
int nvmlDeviceGetUtilizationRates(void* device, FakeNvmlUtilization* rates) {
  rates->gpu = static_cast<unsigned>((Index(device) + 1) * EnvNumber("FAKE_NVML_UTIL"));
  rates->memory = 0;
  return kSuccess;
}
const char* nvmlErrorString(int result) {
  return result == kDriverNotLoaded ? "Driver Not Loaded" : "Unknown Error";
}

}  // extern "C"
