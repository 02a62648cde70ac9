#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "entrenar/manifest/diagnostic.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::manifest {

// How to turn manifest text into a resolved, validated Manifest.
struct LoadOptions {
  // `--set PATH=VALUE` overrides, applied in order before templates are resolved.
  std::vector<std::string> overrides;
  // The run's fixed `{{ timestamp }}` (ISO 8601, e.g. "2026-11-24T17:10:38Z"); now when empty.
  std::string timestamp;
  // Reads `{{ env.VAR }}`; std::getenv when unset. Returns nullopt for an unset variable.
  std::function<std::optional<std::string>(const std::string&)> getenv;
};

// The outcome of loading: the manifest (when there are no errors) and every diagnostic found.
struct LoadResult {
  std::optional<Manifest> manifest;
  std::vector<Diagnostic> diagnostics;
  bool ok() const { return manifest.has_value(); }
};

// Parses, overrides, resolves templates, reads the typed manifest and validates it against
// every rule of SPEC §14, collecting all diagnostics in one pass. Never throws.
LoadResult LoadText(const std::string& text, const std::string& file_name,
                    const LoadOptions& options = {});
// As LoadText, reading `path`; a missing or unreadable file is one diagnostic.
LoadResult LoadFile(const std::string& path, const LoadOptions& options = {});

// The fully resolved manifest as YAML: every key with its value, defaults filled in.
std::string ToYaml(const Manifest& m);
// Only the keys the author wrote (overrides included), with templates resolved: loading it again
// gives the same Manifest, and keys left to their defaults stay unwritten (so they ask nothing of
// the engine). What entrenard hands a worker.
std::string ToWrittenYaml(const Manifest& m);
// The same as a JSON document.
std::string ToJson(const Manifest& m);

// The manifest as a run ran it, for its config.resolved.yaml: local relative paths (the keys of
// format `uri`) made absolute against `base_dir`, `output.dir` the run directory, and a report
// nobody asked for written as disabled, so that the file trains the same run again from
// wherever it lies.
Manifest AsRun(const Manifest& m, const std::string& base_dir, const std::string& run_dir);

// The manifest with its local relative paths (the keys of format `uri`) rewritten for a file
// that lies in `new_dir` rather than `base_dir`: still relative, and still naming the same files.
// What a lock file written to another directory than its manifest's needs.
Manifest Rebased(const Manifest& m, const std::string& base_dir, const std::string& new_dir);

// The value at `path` ("output.model.save_optimizer", "callbacks[1].trigger") as compact JSON,
// as ToYaml writes it (defaults included); "" when there is no such key.
std::string ValueJson(const Manifest& m, const std::string& path);

}  // namespace entrenar::manifest
