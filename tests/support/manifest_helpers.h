#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "entrenar/manifest/load.h"

namespace entrenar::testing {

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Files with extension `ext` directly in `dir`, sorted.
inline std::vector<std::string> ListFiles(const std::string& dir, const std::string& ext) {
  std::vector<std::string> out;
  if (!std::filesystem::is_directory(dir)) return out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ext) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::string Describe(const std::vector<manifest::Diagnostic>& diags) {
  std::string out;
  for (const auto& d : diags) out += manifest::FormatDiagnostic(d) + "\n";
  return out;
}

inline const manifest::Diagnostic* FindError(const std::vector<manifest::Diagnostic>& diags,
                                             const std::string& path) {
  for (const auto& d : diags) {
    if (d.severity == manifest::Severity::kError && d.path == path) return &d;
  }
  return nullptr;
}

// The header every test manifest needs.
inline std::string Root(const std::string& body = "") {
  return "entrenar: \"1.0\"\nname: t\nversion: \"1\"\n" + body;
}

inline manifest::LoadResult Load(const std::string& text, std::vector<std::string> overrides = {}) {
  manifest::LoadOptions options;
  options.overrides = std::move(overrides);
  options.timestamp = "2026-01-02T03:04:05Z";
  options.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "DATA_PATH") return "/data/train.csv";
    return std::nullopt;
  };
  return manifest::LoadText(text, "t.yaml", options);
}

// The manifest of Root(body) with `overrides`; the test fails unless it is valid.
inline manifest::Manifest LoadValid(const std::string& body,
                                    std::vector<std::string> overrides = {}) {
  manifest::LoadResult r = Load(Root(body), std::move(overrides));
  INFO(Describe(r.diagnostics));
  REQUIRE(r.ok());
  return *r.manifest;
}

}  // namespace entrenar::testing
