#pragma once
// Running `entrenar` and reading back what a run directory holds, for the end-to-end and
// integration tests.

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <map>
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

}  // namespace entrenar::testing
