// What the fetchers read from the environment and how they check names that become paths.
// Internal to entrenar_fetch.
#pragma once

#include <cstdlib>
#include <string>
#include <string_view>

namespace entrenar::fetch {

// The variable's value, or "" when it is unset or empty.
inline std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}

// Whether `path` (a repository's file name, an object's key) stays inside the folder it is
// joined to: relative, every part a name (not empty, `.` or `..`), no control character.
inline bool SafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/') return false;
  for (const char c : path) {
    if (static_cast<unsigned char>(c) < 0x20) return false;
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = path.find('/', start);
    const std::string_view part = path.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

}  // namespace entrenar::fetch
