#pragma once

// The stages of loading a manifest, in order: ParseYaml (node.h) -> ApplyOverride ->
// ResolveTemplates -> ReadManifest -> Validate.
// (ReplaceBudgetKeys runs just before the overrides.)
#include <string>
#include <vector>

#include "entrenar/manifest/load.h"
#include "entrenar/manifest/manifest.h"

#include "node.h"

namespace entrenar::manifest {

// Applies one `--set PATH=VALUE` to `root`. Returns false (after reporting) for a malformed
// argument or a path that cannot be reached (indexing a mapping, a list index past the end).
bool ApplyOverride(Node& root, const std::string& arg, std::vector<Diagnostic>* diags);

// Before the overrides are applied: an override of one budget key (training.epochs, max_steps
// or duration) removes the file's other budget keys, each with a note naming what replaced it
// (a run has one budget; the override is the one asked for now).
void ReplaceBudgetKeys(Node& root, const std::vector<std::string>& overrides,
                       std::vector<Diagnostic>* diags);

// Replaces every `{{ }}` template in `root` by its value. References see overrides and defaults.
void ResolveTemplates(Node& root, const LoadOptions& options, std::vector<Diagnostic>* diags);

// Reads the typed manifest (types, ranges, unknown keys).
Manifest ReadManifest(const Node& root, const std::string& file, std::vector<Diagnostic>* diags);

// The cross-field rules of SPEC §14 (exclusivity, dependencies, computed metrics, shapes, ...).
void Validate(const Manifest& m, std::vector<Diagnostic>* diags);

// The metrics a run of `m` computes, usable by save_best, early stopping, plateau and alerts.
std::vector<std::string> ComputedMetrics(const Manifest& m);

}  // namespace entrenar::manifest
