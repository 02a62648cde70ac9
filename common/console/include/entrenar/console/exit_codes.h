#pragma once

namespace entrenar::console {

// Process exit codes of `entrenar` and `entrenar-train`, one table for every command. entrenard
// reads a worker's: 0 finished, 6 halted by an alert, 8 a rank lost (the job is requeued to
// resume from its checkpoint), anything else failed.
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
  kExitRankLost = 8,     // a rank of a data-parallel run died or stopped answering
};

}  // namespace entrenar::console
