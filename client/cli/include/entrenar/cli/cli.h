#pragma once

#include "entrenar/console/exit_codes.h"

namespace entrenar::cli {

// The exit codes are console's (shared with entrenar-train).
using enum console::ExitCode;

// Runs the `entrenar` command line. Returns the process exit code. `train` execs
// `entrenar-train` from the same directory.
int Run(int argc, char** argv);

}  // namespace entrenar::cli
