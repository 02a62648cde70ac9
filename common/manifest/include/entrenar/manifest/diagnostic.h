#pragma once

#include <string>
#include <vector>

namespace entrenar::manifest {

// A place in a manifest file (1-based line and column), or in a `--set` argument.
struct Location {
  std::string file;  // "train.yaml", or "--set training.epochs=0" for an override
  int line = 0;      // 0 when unknown
  int column = 0;
};

// A note tells what loading did for the author (an override replacing a key); never a problem.
enum class Severity { kError, kWarning, kNote };

// One finding about a manifest: what is wrong, where, and how to fix it.
const char* SeverityName(Severity s);  // "error", "warning" or "note"

struct Diagnostic {
  Severity severity = Severity::kError;
  std::string path;  // manifest key path, e.g. "training.gradient.clip_norm", "callbacks[2]"
  Location location;
  std::string message;  // says what was expected and what was found
  std::vector<std::string> hints;
};

// "FILE:LINE:COL: error: PATH: message" followed by one "  hint: ..." line per hint.
std::string FormatDiagnostic(const Diagnostic& d);

// True when any diagnostic is an error (warnings alone leave a manifest valid).
bool HasErrors(const std::vector<Diagnostic>& diagnostics);

}  // namespace entrenar::manifest
