// The few NVML calls entrenar makes, resolved with dlsym. The signatures follow nvml.h (NVIDIA
// Management Library API reference).
#include "entrenar/nvml/nvml.h"

#include <dlfcn.h>

namespace entrenar::nvml {
namespace {

using NvmlReturn = int;  // nvmlReturn_t; 0 is NVML_SUCCESS
using NvmlDevice = void*;
struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlUtilization {
  unsigned gpu, memory;
};

template <typename F>
bool Bind(void* lib, const char* symbol, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, symbol));
  return *out != nullptr;
}

}  // namespace

struct Library::Api {
  void* lib = nullptr;
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*count)(unsigned*) = nullptr;
  NvmlReturn (*handle)(unsigned, NvmlDevice*) = nullptr;
  NvmlReturn (*name)(NvmlDevice, char*, unsigned) = nullptr;
  NvmlReturn (*uuid)(NvmlDevice, char*, unsigned) = nullptr;
  NvmlReturn (*memory)(NvmlDevice, NvmlMemory*) = nullptr;
  NvmlReturn (*utilization)(NvmlDevice, NvmlUtilization*) = nullptr;  // optional
  const char* (*error)(NvmlReturn) = nullptr;
  bool initialized = false;

  ~Api() {
    if (initialized && shutdown) shutdown();
    if (lib) dlclose(lib);
  }
  std::string Error(NvmlReturn r) const {
    return error ? error(r) : "NVML error " + std::to_string(r);
  }
  Result<NvmlDevice> Handle(int index) const {
    NvmlDevice device = nullptr;
    if (NvmlReturn r = handle(static_cast<unsigned>(index), &device); r != 0) {
      return Internal("NVML device " + std::to_string(index) + ": " + Error(r));
    }
    return device;
  }
};

Library::Library(std::unique_ptr<Api> api) : api_(std::move(api)) {}
Library::~Library() = default;

Result<std::unique_ptr<Library>> Library::Load(const std::string& path) {
  auto api = std::make_unique<Api>();
  api->lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!api->lib) return NotFound("cannot load " + path + " (no NVIDIA driver)");
  void* lib = api->lib;
  if (!Bind(lib, "nvmlInit_v2", &api->init) || !Bind(lib, "nvmlShutdown", &api->shutdown) ||
      !Bind(lib, "nvmlDeviceGetCount_v2", &api->count) ||
      !Bind(lib, "nvmlDeviceGetHandleByIndex_v2", &api->handle) ||
      !Bind(lib, "nvmlDeviceGetName", &api->name) || !Bind(lib, "nvmlDeviceGetUUID", &api->uuid) ||
      !Bind(lib, "nvmlDeviceGetMemoryInfo", &api->memory)) {
    return Internal(path + " lacks an NVML function entrenar needs: " + dlerror());
  }
  Bind(lib, "nvmlDeviceGetUtilizationRates", &api->utilization);
  Bind(lib, "nvmlErrorString", &api->error);
  if (NvmlReturn r = api->init(); r != 0) return Internal("nvmlInit failed: " + api->Error(r));
  api->initialized = true;
  return std::unique_ptr<Library>(new Library(std::move(api)));
}

Result<int> Library::Count() {
  unsigned count = 0;
  if (NvmlReturn r = api_->count(&count); r != 0) {
    return Internal("nvmlDeviceGetCount failed: " + api_->Error(r));
  }
  return static_cast<int>(count);
}

Result<GpuInfo> Library::Info(int index) {
  ENTRENAR_ASSIGN_OR_RETURN(NvmlDevice device, api_->Handle(index));
  GpuInfo g;
  g.index = index;
  char text[96] = {};
  if (api_->name(device, text, sizeof(text)) == 0) g.model = text;
  char uuid[96] = {};
  if (api_->uuid(device, uuid, sizeof(uuid)) == 0) g.uuid = uuid;
  NvmlMemory memory{};
  if (api_->memory(device, &memory) == 0) g.memory_bytes = static_cast<std::int64_t>(memory.total);
  return g;
}

std::optional<GpuUsage> Library::Usage(int index) {
  Result<NvmlDevice> device = api_->Handle(index);
  if (!device.ok()) return std::nullopt;
  NvmlMemory memory{};
  if (api_->memory(*device, &memory) != 0) return std::nullopt;
  GpuUsage u;
  u.memory_used_bytes = static_cast<std::int64_t>(memory.used);
  u.memory_total_bytes = static_cast<std::int64_t>(memory.total);
  NvmlUtilization rates{};
  if (api_->utilization && api_->utilization(*device, &rates) == 0) {
    u.utilization_percent = rates.gpu;
  }
  return u;
}

}  // namespace entrenar::nvml
