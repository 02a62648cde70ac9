#include "entrenar/manifest/diagnostic.h"

#include <algorithm>

namespace entrenar::manifest {

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kError:
      return "error";
    case Severity::kWarning:
      return "warning";
    case Severity::kNote:
      return "note";
  }
  return "error";
}

std::string FormatDiagnostic(const Diagnostic& d) {
  std::string out = d.location.file;
  if (d.location.line > 0) {
    out += ":" + std::to_string(d.location.line) + ":" + std::to_string(d.location.column);
  }
  out += std::string(": ") + SeverityName(d.severity) + ": ";
  if (!d.path.empty()) out += d.path + ": ";
  out += d.message;
  for (const std::string& h : d.hints) out += "\n  hint: " + h;
  return out;
}

bool HasErrors(const std::vector<Diagnostic>& diagnostics) {
  return std::any_of(diagnostics.begin(), diagnostics.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::kError; });
}

}  // namespace entrenar::manifest
