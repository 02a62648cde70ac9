#pragma once

#include <optional>
#include <string>
#include <vector>

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

// The parameter names of a sequential model as LibTorch names them (`layers.0.weight`,
// `layers.0.bias`, ...; layers without parameters keep their index), for checks that run
// before any model is built.
std::vector<std::string> SequentialParameterNames(const manifest::ArchitectureConfig& a);

// Whether a model.freeze or optimizer.param_groups glob names the parameter `name`: by its full
// name (`layers.0.weight`), its name inside the model (`0.weight`), or as a prefix of either
// (`layers.0` names both tensors of layer 0).
bool ParameterMatches(const std::string& pattern, const std::string& name);

}  // namespace entrenar::plan
