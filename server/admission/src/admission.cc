#include "entrenar/admission/admission.h"

#include <algorithm>
#include <filesystem>
#include <random>

#include "entrenar/base/strings.h"
#include "entrenar/manifest/load.h"
#include "entrenar/plan/budget.h"
#include "entrenar/plan/support.h"
#include "entrenar/run/layout.h"
#include "entrenar/run/owner_files.h"

namespace entrenar::admission {
namespace {

namespace fs = std::filesystem;

std::int64_t CountOf(const std::vector<devices::Device>& devices, const std::string& kind) {
  return std::count_if(devices.begin(), devices.end(),
                       [&](const devices::Device& d) { return d.kind == kind; });
}

// Devices asked for by name: each known and named once, all of one kind.
Status Pinned(const Request& req, const std::vector<devices::Device>& devices, std::string* kind,
              std::string* pinned) {
  std::vector<std::string> seen;
  for (const std::string& name : req.device_names) {
    auto it = std::find_if(devices.begin(), devices.end(),
                           [&](const devices::Device& d) { return d.name == name; });
    if (it == devices.end()) {
      std::string known;
      for (const devices::Device& d : devices) known += (known.empty() ? "" : ", ") + d.name;
      return FailedPrecondition("this server has no device `" + name + "` (it has " + known + ")");
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return InvalidArgument("device `" + name + "` is listed twice");
    }
    seen.push_back(name);
    if (!kind->empty() && *kind != it->kind) {
      return InvalidArgument("a job runs on GPUs or on CPU slots, not both");
    }
    *kind = it->kind;
    *pinned += (pinned->empty() ? "" : ",") + name;
  }
  return OkStatus();
}

// The kind of slot model.device asks for, and whether the server could ever give it.
Status Placement(const std::string& device, std::int64_t count,
                 const std::vector<devices::Device>& devices, std::string* kind) {
  const std::int64_t gpus = CountOf(devices, "gpu");
  const std::string named = *kind;  // from pinned device names, if any
  if (!named.empty()) {
    if ((device == "cpu" && named == "gpu") || (device.rfind("cuda", 0) == 0 && named == "cpu")) {
      return InvalidArgument("model.device is `" + device + "` but the devices named are " +
                             (named == "gpu" ? "GPUs" : "CPU slots"));
    }
  } else if (device == "cpu") {
    *kind = "cpu";
  } else if (device.rfind("cuda", 0) == 0) {
    *kind = "gpu";
  } else {
    *kind = gpus > 0 ? "gpu" : "cpu";
  }
  if (*kind == "gpu" && gpus == 0) {
    return FailedPrecondition("model.device is `" + device +
                              "` but this server has no GPU; it could never start (use `cpu` or "
                              "`auto`)");
  }
  if (device.rfind("cuda:", 0) == 0) {
    const std::int64_t ordinal = std::atoll(device.c_str() + 5);
    if (ordinal >= count) {
      return FailedPrecondition("model.device `" + device + "` is the job's device " +
                                std::to_string(ordinal) + " but it asks for " +
                                std::to_string(count) + " device(s); submit with --devices " +
                                std::to_string(ordinal + 1) + " or use `cuda`");
    }
  }
  const std::int64_t have = CountOf(devices, *kind);
  if (count > have) {
    const std::string unit = *kind == "gpu" ? "GPU(s)" : "CPU slot(s)";
    return FailedPrecondition("the job needs " + std::to_string(count) + " " + unit +
                              " but this server has " + std::to_string(have) +
                              "; it could never start");
  }
  return OkStatus();
}

// A job that needs `bytes` free on each GPU: only for GPU jobs, and refused when no GPU of the
// server has that much memory in all (it could never start).
Status GpuMemory(std::int64_t bytes, const std::string& kind,
                 const std::vector<devices::Device>& devices) {
  if (bytes == 0) return OkStatus();
  if (bytes < 0) return InvalidArgument("gpu_memory_bytes must be 0 (any) or more");
  if (kind != "gpu") {
    return FailedPrecondition("--gpu-memory is for jobs on GPUs, and this job runs on CPU slots");
  }
  std::int64_t largest = 0;
  for (const devices::Device& d : devices) {
    if (d.kind == "gpu") largest = std::max(largest, d.memory_bytes);
  }
  if (largest == 0 || bytes <= largest) return OkStatus();  // 0: NVML did not say
  return FailedPrecondition("the job needs " + devices::GiB(bytes) +
                            " of GPU memory but this server's largest GPU has " +
                            devices::GiB(largest) + "; it could never start");
}

Status CustomCallbacks(const manifest::Manifest& m, const Policy& policy) {
  for (std::size_t i = 0; i < m.callbacks.size(); ++i) {
    if (m.callbacks[i].type != "custom" || policy.allow_custom_callbacks) continue;
    const std::string key = "callbacks[" + std::to_string(i) + "]";
    const manifest::Location at = m.LocationOf(key);
    return FailedPrecondition(at.file + ":" + std::to_string(at.line) + ":" +
                              std::to_string(at.column) + ": " + key +
                              ": custom callbacks are off on this entrenard; an admin can allow "
                              "them with `allow_custom_callbacks: true` in entrenard.yaml");
  }
  return OkStatus();
}

Status Priority(const Request& req, const Policy& policy) {
  if (req.priority <= policy.max_priority || policy.admins.count(req.uid)) return OkStatus();
  return PermissionDenied("priority " + std::to_string(req.priority) + " is above " +
                          std::to_string(policy.max_priority) +
                          ", the highest a user may give on this entrenard; an admin may submit "
                          "it, or raise `max_priority` in entrenard.yaml");
}

std::string Errors(const std::vector<manifest::Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) out += manifest::FormatDiagnostic(d) + "\n";
  return out;
}

// Where the job writes: output.dir against the submitter's directory, normalized.
std::string RunDir(const manifest::Manifest& m, const std::string& working_dir) {
  const fs::path out(m.output.dir);
  std::string dir =
      (out.is_absolute() ? out : fs::path(working_dir) / out).lexically_normal().string();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace

Result<store::JobSpec> Admit(manifest::Manifest& m, const Request& req, const Policy& policy,
                             const std::vector<devices::Device>& devices,
                             std::vector<manifest::Diagnostic>* unsupported) {
  if (req.working_dir.empty() || req.working_dir[0] != '/') {
    return InvalidArgument("manifest.working_dir must be an absolute path");
  }
  // Refused now, with the engine's own words, rather than after waiting for a slot.
  *unsupported = plan::CheckTrainable(m);
  if (manifest::HasErrors(*unsupported)) return InvalidArgument(Errors(*unsupported));
  *unsupported = plan::CheckSupport(m);
  if (!unsupported->empty()) return Unimplemented(Errors(*unsupported));
  ENTRENAR_RETURN_IF_ERROR(CustomCallbacks(m, policy));
  if (req.strict && !m.lock) {
    // The hashes are the worker's to check, as the owner, when each attempt starts.
    return InvalidArgument(
        "--strict needs a lock file, and this manifest has no `lock` section; "
        "write one with `entrenar lock FILE > FILE.lock.yaml`");
  }
  // A data-parallel job runs one rank per device, all started together (gang scheduling).
  const std::int64_t ranks = plan::WorldSize(m);
  std::int64_t count = req.devices > 0 ? req.devices : ranks;
  std::string kind, pinned;
  if (!req.device_names.empty()) {
    ENTRENAR_RETURN_IF_ERROR(Pinned(req, devices, &kind, &pinned));
    count = static_cast<std::int64_t>(req.device_names.size());
  }
  if (ranks > 1 && count != ranks) {
    const manifest::Location at = m.LocationOf("training.distributed.world_size");
    return InvalidArgument(at.file + ":" + std::to_string(at.line) + ":" +
                           std::to_string(at.column) + ": training.distributed.world_size is " +
                           std::to_string(ranks) + " but the job asks for " +
                           std::to_string(count) +
                           " device(s): a data-parallel job runs one rank per device; submit "
                           "with --devices " +
                           std::to_string(ranks) + " or leave --devices out");
  }
  ENTRENAR_RETURN_IF_ERROR(Placement(m.model.device, count, devices, &kind));
  ENTRENAR_RETURN_IF_ERROR(GpuMemory(req.gpu_memory_bytes, kind, devices));
  ENTRENAR_RETURN_IF_ERROR(Priority(req, policy));
  store::JobSpec spec;
  spec.name = req.name.empty() ? m.name : req.name;
  if (spec.name.size() > policy.max_name_bytes || !IsValidUtf8(spec.name)) {
    return InvalidArgument("a job's name is UTF-8 text of at most " +
                           std::to_string(policy.max_name_bytes) + " bytes; this one is " +
                           std::to_string(spec.name.size()) + " bytes");
  }
  if (!m.seed) {
    // Drawn once here, so every attempt of the job (resumes included) uses the same seed.
    m.seed = static_cast<std::int64_t>(std::random_device{}() & 0x7fffffff);
    m.locations["seed"] = manifest::Location{"entrenard", 0, 0};
  }
  spec.uid = req.uid;
  spec.gid = req.gid;
  spec.user = req.user;
  spec.device_kind = kind;
  spec.pinned = pinned;
  spec.strict = req.strict;
  spec.gpu_memory_bytes = req.gpu_memory_bytes;
  spec.priority = req.priority;
  spec.devices = count;
  // The keys the author wrote, resolved: the worker's support check sees what the author asked.
  spec.manifest = manifest::ToWrittenYaml(m);
  spec.base_dir = req.working_dir;
  spec.run_dir = RunDir(m, req.working_dir);
  return spec;
}

Status RunDirFree(store::Store& store, const std::string& run_dir, std::uint32_t uid,
                  std::uint32_t gid) {
  ENTRENAR_ASSIGN_OR_RETURN(const std::optional<store::Job> active, store.ActiveJobIn(run_dir));
  const std::string hint =
      "; give this job its own output.dir (a `{{ timestamp }}` in it gives every run its own)";
  if (active) {
    return FailedPrecondition(
        run_dir + " is the run directory of job " + std::to_string(active->id) + " (" +
        std::string(store::StateName(active->state)) + ", " + active->spec.user + ")" + hint);
  }
  const run::Layout layout(run_dir);
  const run::Owner owner = run::OwnerFor(uid, gid);
  for (const std::string& file : {layout.Job(), layout.Events(), layout.Summary()}) {
    if (run::ExistsAsOwner(owner, file)) {
      return FailedPrecondition(run_dir + " already holds a run (" +
                                fs::path(file).filename().string() + ")" + hint +
                                "; `entrenar resume JOB` continues a job's own run");
    }
  }
  return OkStatus();
}

}  // namespace entrenar::admission
