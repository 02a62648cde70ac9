#pragma once

#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/manifest/diagnostic.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::manifest {

// The lock file of `m`: its resolved YAML plus a `lock:` section with the sha256 and size of
// every local file it references (paths relative to `base_dir`) and the versions of entrenar and
// its libraries. Remote URIs (hf://, s3://, pacha://) are not hashed.
Result<std::string> MakeLock(const Manifest& m, const std::string& base_dir);

// Checks a manifest's `lock:` section against the files on disk: one error per file whose hash
// or size changed or that disappeared, and one if `m` has no lock section at all.
std::vector<Diagnostic> VerifyLock(const Manifest& m, const std::string& base_dir);

}  // namespace entrenar::manifest
