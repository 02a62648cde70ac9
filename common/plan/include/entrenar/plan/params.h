#pragma once

#include <optional>

#include "entrenar/manifest/manifest.h"

namespace entrenar::plan {

// The engine's MLP width for a LLaMA decoder without intermediate_size: 8/3 of hidden, rounded
// up to a multiple of 64 (LLaMA's rule).
std::int64_t DefaultIntermediateSize(std::int64_t hidden_size);

// Parameters of one sequential layer (weights and biases; batch-norm statistics are buffers).
double LayerParameters(const manifest::Layer& l);

// Parameters of a sequential model, or of a LLaMA decoder with the manifest's sizes (nullopt
// when a size is missing: it comes from model.source). Doubles: sizes are user input and their
// products may not fit an integer.
std::optional<double> ModelParameters(const manifest::ArchitectureConfig& a);

}  // namespace entrenar::plan
