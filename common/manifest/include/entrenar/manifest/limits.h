#pragma once

#include <cstddef>

namespace entrenar::manifest {

// Bounds on what one manifest may cost to read. The same in `entrenar validate`, `train` and
// entrenard (whose Validate RPC anyone on the socket may call): a manifest past one of them is
// refused with an error naming the limit and the line, before it can cost memory or time.
// Real manifests are a few KiB with a few hundred values; each bound is far above that.
struct Limits {
  static constexpr std::size_t kMaxBytes = 1 << 20;  // the YAML text (each --set's too)
  static constexpr int kMaxDepth = 64;               // nested lists and mappings
  // Values after aliases (`*name`) are expanded: a "billion laughs" stops here.
  static constexpr std::size_t kMaxNodes = 100000;
  // Column names in one list after `a_1, ..., a_N` ranges are expanded.
  static constexpr std::size_t kMaxColumns = 100000;
  // Diagnostics reported for one manifest; the rest are counted in one last line.
  static constexpr std::size_t kMaxDiagnostics = 200;
};

}  // namespace entrenar::manifest
