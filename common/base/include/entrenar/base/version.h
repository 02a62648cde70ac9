#pragma once

#include <string_view>

namespace entrenar {

// The version of entrenar itself, e.g. "0.1.0".
std::string_view Version();

}  // namespace entrenar
