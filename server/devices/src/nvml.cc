// GPU discovery through NVML (common/nvml).
#include "entrenar/nvml/nvml.h"

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

}  // namespace entrenar::devices
