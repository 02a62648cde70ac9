#pragma once

// The stages of loading a manifest, in order: ParseYaml (node.h) -> ApplyOverride ->
// ResolveTemplates -> ReadManifest -> Validate.
#include <string>
#include <vector>

#include "entrenar/manifest/load.h"
#include "entrenar/manifest/manifest.h"

#include "node.h"

namespace entrenar::manifest {

// Applies one `--set PATH=VALUE` to `root`. Returns false (after reporting) for a malformed
// argument or a path that cannot be reached (indexing a mapping, a list index past the end).
bool ApplyOverride(Node& root, const std::string& arg, std::vector<Diagnostic>* diags);

// Replaces every `{{ }}` template in `root` by its value. References see overrides and defaults.
void ResolveTemplates(Node& root, const LoadOptions& options, std::vector<Diagnostic>* diags);

// Reads the typed manifest (types, ranges, unknown keys).
Manifest ReadManifest(const Node& root, const std::string& file, std::vector<Diagnostic>* diags);

// The cross-field rules of SPEC §14 (exclusivity, dependencies, computed metrics, shapes, ...).
void Validate(const Manifest& m, std::vector<Diagnostic>* diags);

// The metrics a run of `m` computes, usable by save_best, early stopping, plateau and alerts.
std::vector<std::string> ComputedMetrics(const Manifest& m);

}  // namespace entrenar::manifest
