// GPU discovery through NVML (common/nvml).
#include "entrenar/nvml/nvml.h"

#include <algorithm>
#include <mutex>

#include "entrenar/devices/devices.h"

namespace entrenar::devices {

Result<std::vector<Gpu>> QueryNvml(const std::string& library) {
  ENTRENAR_ASSIGN_OR_RETURN(std::unique_ptr<nvml::Library> nvml, nvml::Library::Load(library));
  ENTRENAR_ASSIGN_OR_RETURN(const int count, nvml->Count());
  std::vector<Gpu> gpus;
  for (int i = 0; i < count; ++i) {
    ENTRENAR_ASSIGN_OR_RETURN(const nvml::GpuInfo info, nvml->Info(i));
    gpus.push_back({info.index, info.model, info.uuid, info.memory_bytes});
  }
  return gpus;
}

struct FreeMemory::State {
  std::mutex mu;
  std::string library;
  bool tried = false;
  std::unique_ptr<nvml::Library> nvml;  // null: NVML could not be loaded
};

FreeMemory::FreeMemory(std::string library) : state_(std::make_unique<State>()) {
  state_->library = std::move(library);
}

FreeMemory::~FreeMemory() = default;

std::optional<std::int64_t> FreeMemory::Of(int index) {
  std::lock_guard<std::mutex> lock(state_->mu);
  if (!state_->tried) {
    state_->tried = true;
    Result<std::unique_ptr<nvml::Library>> loaded = nvml::Library::Load(state_->library);
    if (loaded.ok()) state_->nvml = std::move(loaded).value();
  }
  if (!state_->nvml) return std::nullopt;
  const std::optional<nvml::GpuUsage> usage = state_->nvml->Usage(index);
  if (!usage || usage->memory_total_bytes <= 0) return std::nullopt;
  return std::max<std::int64_t>(0, usage->memory_total_bytes - usage->memory_used_bytes);
}

}  // namespace entrenar::devices
