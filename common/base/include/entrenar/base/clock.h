#pragma once

#include <chrono>
#include <string>

namespace entrenar {

// "2026-11-24T17:10:38Z": ISO 8601 UTC with second precision.
std::string FormatUtcIso(std::chrono::system_clock::time_point t);

// "2026-11-24T17:10:38.042Z": the same with milliseconds.
std::string FormatUtcIsoMillis(std::chrono::system_clock::time_point t);

// The current time as FormatUtcIso writes it.
std::string NowUtcIso();

}  // namespace entrenar
