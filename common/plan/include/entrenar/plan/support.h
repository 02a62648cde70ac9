#pragma once

#include <vector>

#include "entrenar/manifest/diagnostic.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::plan {

// The tokenize step of a manifest's preprocessing, or nullptr.
const manifest::TokenizeStep* FindTokenize(const manifest::Manifest& m);

// A run on text (a tokenize step) or with a transformer architecture trains a language model.
bool IsLanguageModel(const manifest::Manifest& m);

// What the engine can run. A manifest key outside these (or a value the engine lacks, such as
// `scheduler.name: plateau`) is refused before training with "not supported yet: KEY", by
// `entrenar train`, by the worker and by entrenard's Submit alike. The key list is the
// manifest's own (visit.h) minus what the engine lacks.
std::vector<manifest::Diagnostic> CheckSupport(const manifest::Manifest& m);

}  // namespace entrenar::plan
