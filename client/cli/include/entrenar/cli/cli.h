#pragma once

namespace entrenar::cli {

// Process exit codes of the `entrenar` command, one table for every subcommand.
enum ExitCode : int {
  kExitOk = 0,
  kExitInvalid = 1,      // the manifest (or lock) is invalid; diagnostics were printed
  kExitUsage = 2,        // bad command line
  kExitUnsupported = 3,  // valid, but uses a key this build cannot run yet
  kExitIo = 4,           // a file could not be read or written
  kExitUnavailable = 5,  // entrenard cannot be reached
  kExitJobFailed = 6,    // the followed job ended FAILED, CANCELLED or HALTED; a run halted by
                         // an alert
  kExitRefused = 7,      // entrenard refused the request (no such job, not yours, ...)
};

// Runs the `entrenar` command line. Returns the process exit code. `train` execs
// `entrenar-train` from the same directory.
int Run(int argc, char** argv);
// Runs `entrenar-train train ...`: the one command that needs LibTorch.
int RunTrainer(int argc, char** argv);

}  // namespace entrenar::cli
