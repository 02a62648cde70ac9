#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace entrenar::manifest {

enum class ScalarKind { kNull, kBool, kInt, kFloat, kString };

// A plain (unquoted) scalar typed by the YAML 1.2 core schema: `1e-4` is a float, `yes` a string.
struct ScalarValue {
  ScalarKind kind = ScalarKind::kString;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
};

ScalarValue ClassifyScalar(std::string_view text);

// True when plain `text` would not read back as the string itself (so it must be quoted).
bool LooksTyped(std::string_view text);

}  // namespace entrenar::manifest
