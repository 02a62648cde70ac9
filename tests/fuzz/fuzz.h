#pragma once

// What every fuzz target shares: the libFuzzer entry point's signature and a property check
// that stops the run loudly (a failed check is a finding, like a crash).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "entrenar/base/status.h"

#define ENTRENAR_FUZZ_TARGET \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)

// Aborts (a crash to libFuzzer and to the replay driver) when `cond` does not hold.
#define FUZZ_CHECK(cond)                                                                    \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

using entrenar::Result;

namespace entrenar::fuzz {

inline std::string AsString(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Whether `name` stays inside the folder it is relative to: parts that are names, joined by
// single slashes (no `.` or `..`, not absolute, no backslash).
inline bool Inside(const std::string& name) {
  if (name.empty() || name.front() == '/' || name.find('\\') != std::string::npos) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = name.find('/', start);
    const std::string part = name.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

}  // namespace entrenar::fuzz
