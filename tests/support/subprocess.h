#pragma once

#include <string>
#include <vector>

namespace entrenar::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when killed by a signal or not started
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] is a path), feeding `input` on stdin, with a time limit. Returns its exit
// code and everything it printed.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& input = "",
                         int timeout_seconds = 60, const std::string& cwd = "");

}  // namespace entrenar::testing
