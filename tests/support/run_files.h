#pragma once
// Running `entrenar` and reading back what a run directory holds, for the end-to-end and
// integration tests.

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "subprocess.h"

namespace entrenar::testing {

// The `entrenar` binary under test (ENTRENAR_BINARY, set by ctest).
inline std::string EntrenarBinary() {
  const char* b = std::getenv("ENTRENAR_BINARY");
  REQUIRE(b != nullptr);
  return b;
}

// `entrenar train ARGS...`, with a time limit sized for a slow 2-core machine.
inline ProcessResult Train(std::vector<std::string> args) {
  args.insert(args.begin(), {EntrenarBinary(), "train"});
  return RunProcess(args, "", 240);
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// metrics.jsonl as step -> train_loss. Complete lines only: the run may still be writing it.
inline std::map<std::int64_t, double> LossByStep(const std::string& jsonl) {
  std::map<std::int64_t, double> out;
  std::istringstream in(Slurp(jsonl));
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    if (row.is_object() && row.contains("step") && row.contains("train_loss")) {
      out[row["step"].get<std::int64_t>()] = row["train_loss"].get<double>();
    }
  }
  return out;
}

// What a run shows of itself: its metric rows without timings, its files, and its log with the
// run directory, each of `blank` and every number blanked. Runs that differ only in speed, or
// in where they lie, look the same.
inline std::string ObservedRun(const std::string& run, const std::string& err,
                               const std::vector<std::string>& blank = {}) {
  std::string out;
  std::istringstream rows(Slurp(run + "/metrics.jsonl"));
  for (std::string line; std::getline(rows, line);) {
    nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
    for (const char* timing : {"samples_per_second", "step_samples_per_second", "tokens_per_second",
                               "elapsed_seconds", "time", "timestamp"})
      row.erase(timing);
    out += row.dump() + "\n";
  }
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(run))
    files.push_back(std::filesystem::relative(e.path(), run).string());
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) out += f + "\n";
  std::string log = err;
  std::vector<std::string> hide = blank;
  hide.insert(hide.begin(), run);
  for (const std::string& h : hide) {
    for (std::size_t at = log.find(h); !h.empty() && at != std::string::npos; at = log.find(h))
      log.replace(at, h.size(), "X");
  }
  return out + std::regex_replace(log, std::regex("[0-9.]+"), "N");
}

}  // namespace entrenar::testing
