#pragma once

#include <string>

#include "entrenar/base/status.h"

namespace entrenar {

// The whole contents of `path`. Returns kNotFound for a missing file, kInvalidArgument for a
// directory and kDataLoss when it cannot be read.
Result<std::string> ReadWholeFile(const std::string& path);

// Writes `contents` to `path` atomically: to a temporary name in the same directory, then a
// rename, so readers see the old file or the new one, never half of one. Returns kDataLoss.
Status WriteFileAtomic(const std::string& path, const std::string& contents);

}  // namespace entrenar
