#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/devices/devices.h"
#include "entrenar/manifest/diagnostic.h"
#include "entrenar/manifest/manifest.h"
#include "entrenar/store/store.h"

namespace entrenar::admission {

// The admin's rules for what a user may queue (entrenard.yaml).
struct Policy {
  std::set<std::uint32_t> admins;       // may exceed the priority ceiling
  bool allow_custom_callbacks = false;  // else a `custom` callback is refused
  std::int64_t max_priority = 100;      // above it, only admins may submit
  std::size_t max_name_bytes = 256;     // a job's name
};

// Who asks, and for what besides the manifest.
struct Request {
  std::uint32_t uid = 0, gid = 0;
  std::string user;  // uid's name
  std::string name;  // the job's name ("" : the manifest's)
  std::int64_t priority = 0;
  std::int64_t devices = 0;               // how many (0: one), or
  std::vector<std::string> device_names;  // exactly these
  std::string working_dir;                // absolute: where the manifest's relative paths resolve
  bool strict = false;                    // a lock file whose hashes every attempt checks
  std::int64_t gpu_memory_bytes = 0;      // free memory needed on each GPU (0: any)
};

// The job `m` (loaded and valid) becomes on a server with `devices`, or why it cannot be
// queued: kInvalidArgument (a manifest that cannot train: no data, its diagnostics in
// *unsupported), kFailedPrecondition, kPermissionDenied, or kUnimplemented for what the engine
// does not run (its diagnostics in *unsupported). Draws the seed when the manifest
// has none (every attempt uses it). Does not look at the run directory (RunDirFree does).
Result<store::JobSpec> Admit(manifest::Manifest& m, const Request& req, const Policy& policy,
                             const std::vector<devices::Device>& devices,
                             std::vector<manifest::Diagnostic>* unsupported);

// A run directory holds one run: refused while a job that has not ended uses it, or when it
// already holds a run's files (looked at as the submitter, uid/gid). Call it and create the
// job under one lock, so two submissions cannot both find it free.
Status RunDirFree(store::Store& store, const std::string& run_dir, std::uint32_t uid,
                  std::uint32_t gid);

}  // namespace entrenar::admission
