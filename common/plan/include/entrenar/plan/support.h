#pragma once

#include <string>
#include <vector>

#include "entrenar/manifest/diagnostic.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::plan {

// The tokenize step of a manifest's preprocessing, or nullptr.
const manifest::TokenizeStep* FindTokenize(const manifest::Manifest& m);

// A run on text (a tokenize step) or with a transformer architecture trains a language model.
bool IsLanguageModel(const manifest::Manifest& m);

// The headless Chromium that prints `output.report.format: pdf` (report.html to report.pdf):
// $ENTRENAR_CHROMIUM, else chromium or chromium-browser in /usr/bin; "" when there is none.
std::string ChromiumBinary();

// Whether lora.target_modules names the sequential layer `layer` (`layers.0`): a glob on its
// name or on its index alone (`0`, as PEFT names an nn.Sequential's modules).
bool LoraTargetsLayer(const manifest::LoraConfig& lora, const std::string& layer);

// What the engine can run. A manifest key outside these (or a value the engine lacks, such as
// `scheduler.name: plateau`) is refused before training with "not supported yet: KEY", by
// `entrenar train`, by the worker and by entrenard's Submit alike. The key list is the
// manifest's own (visit.h) minus what the engine lacks.
std::vector<manifest::Diagnostic> CheckSupport(const manifest::Manifest& m);

// What every run needs that a valid manifest may leave out (SPEC 1.0 requires only entrenar,
// name and version): data to train on, and for a language model (a tokenize step, a
// transformer, LoRA, or a model named by a directory or Hub id: Appendix B) its tokenize step.
// Errors here make a manifest invalid for training (exit 1, INVALID_ARGUMENT), everywhere
// CheckSupport runs.
std::vector<manifest::Diagnostic> CheckTrainable(const manifest::Manifest& m);

}  // namespace entrenar::plan
