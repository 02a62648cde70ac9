#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace entrenar::manifest {

// Seconds in a duration written `90s`, `1h30m`, `1.5h`, `2d`, `500ms` or ISO 8601 `PT1H30M`,
// `P1DT2H`; nullopt when `text` is none of these.
std::optional<double> ParseDuration(std::string_view text);

}  // namespace entrenar::manifest
