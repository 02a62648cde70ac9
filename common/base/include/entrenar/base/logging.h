#pragma once

#include <string_view>

namespace entrenar {

// Configures the process-wide logger: plain lines on stderr at `level`
// ("trace", "debug", "info", "warn", "error", "off"). Returns false for an unknown level.
// Call once from main, before any other thread starts.
bool SetupLogging(std::string_view level);

}  // namespace entrenar
