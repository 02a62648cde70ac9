#pragma once

#include <string>
#include <string_view>

#include "entrenar/base/status.h"

namespace entrenar {

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// Lower-case hex SHA-256 of a file's contents, streamed. Returns kNotFound if the file does not
// exist and kDataLoss if it cannot be read.
Result<std::string> Sha256File(const std::string& path);

}  // namespace entrenar
