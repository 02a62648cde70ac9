// The few NVML calls entrenard needs, resolved with dlsym from the driver's library. The
// signatures follow nvml.h (NVIDIA Management Library API reference).
#include <dlfcn.h>

#include "entrenar/devices/devices.h"

namespace entrenar::devices {
namespace {

using NvmlReturn = int;  // nvmlReturn_t; 0 is NVML_SUCCESS
using NvmlDevice = void*;
struct NvmlMemory {
  unsigned long long total, free, used;
};

struct Nvml {
  void* lib = nullptr;
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*shutdown)() = nullptr;
  NvmlReturn (*count)(unsigned*) = nullptr;
  NvmlReturn (*handle)(unsigned, NvmlDevice*) = nullptr;
  NvmlReturn (*name)(NvmlDevice, char*, unsigned) = nullptr;
  NvmlReturn (*uuid)(NvmlDevice, char*, unsigned) = nullptr;
  NvmlReturn (*memory)(NvmlDevice, NvmlMemory*) = nullptr;
  const char* (*error)(NvmlReturn) = nullptr;

  ~Nvml() {
    if (shutdown) shutdown();
    if (lib) dlclose(lib);
  }
  std::string Error(NvmlReturn r) const {
    return error ? error(r) : "NVML error " + std::to_string(r);
  }
};

template <typename F>
bool Bind(void* lib, const char* symbol, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, symbol));
  return *out != nullptr;
}

}  // namespace

Result<std::vector<Gpu>> QueryNvml(const std::string& library) {
  Nvml nvml;
  nvml.lib = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!nvml.lib) return NotFound("cannot load " + library + " (no NVIDIA driver)");
  void* lib = nvml.lib;
  decltype(nvml.shutdown) shutdown = nullptr;
  if (!Bind(lib, "nvmlInit_v2", &nvml.init) || !Bind(lib, "nvmlShutdown", &shutdown) ||
      !Bind(lib, "nvmlDeviceGetCount_v2", &nvml.count) ||
      !Bind(lib, "nvmlDeviceGetHandleByIndex_v2", &nvml.handle) ||
      !Bind(lib, "nvmlDeviceGetName", &nvml.name) || !Bind(lib, "nvmlDeviceGetUUID", &nvml.uuid) ||
      !Bind(lib, "nvmlDeviceGetMemoryInfo", &nvml.memory)) {
    return Internal(library + " lacks an NVML function entrenard needs: " + dlerror());
  }
  Bind(lib, "nvmlErrorString", &nvml.error);
  if (NvmlReturn r = nvml.init(); r != 0) {
    return Internal("nvmlInit failed: " + nvml.Error(r));
  }
  nvml.shutdown = shutdown;  // only once initialized
  unsigned count = 0;
  if (NvmlReturn r = nvml.count(&count); r != 0) {
    return Internal("nvmlDeviceGetCount failed: " + nvml.Error(r));
  }
  std::vector<Gpu> gpus;
  for (unsigned i = 0; i < count; ++i) {
    NvmlDevice device = nullptr;
    if (NvmlReturn r = nvml.handle(i, &device); r != 0) {
      return Internal("NVML device " + std::to_string(i) + ": " + nvml.Error(r));
    }
    Gpu g;
    g.index = static_cast<int>(i);
    char text[96] = {};
    if (nvml.name(device, text, sizeof(text)) == 0) g.model = text;
    char uuid[96] = {};
    if (nvml.uuid(device, uuid, sizeof(uuid)) == 0) g.uuid = uuid;
    NvmlMemory memory{};
    if (nvml.memory(device, &memory) == 0) g.memory_bytes = static_cast<std::int64_t>(memory.total);
    gpus.push_back(std::move(g));
  }
  return gpus;
}

}  // namespace entrenar::devices
