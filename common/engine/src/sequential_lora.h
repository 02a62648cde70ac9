// LoRA on the linear layers of a sequential model (lora.target_modules by layer name:
// `layers.0`, `layers.*`). Internal to the engine (includes LibTorch).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/formats/safetensors.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// Replaces each linear layer of `model` that lora.target_modules names with the same layer plus
// a low-rank update, y = W x + b + alpha/rank * B A x (A initialised as lora.init_weights says,
// B zero, so training starts from the model exactly), and freezes every other parameter. The
// parameters keep their names (`layers.0.weight`); the adapters are `layers.0.lora_A.weight`
// and `layers.0.lora_B.weight`. Returns the adapted layers (`layers.0`); kInvalidArgument when
// a target names no linear layer.
Result<std::vector<std::string>> ApplySequentialLora(torch::nn::Sequential& model,
                                                     const manifest::LoraConfig& lora);

// The model's weights with each adapter merged into its layer (W + alpha/rank * B A), under the
// plain model's names: what loads into the architecture without LoRA.
formats::Safetensors MergedSequentialWeights(const torch::nn::Sequential& model);

// The adapters alone, under PEFT's names (`base_model.model.layers.0.lora_A.weight`).
formats::Safetensors SequentialAdapterWeights(const torch::nn::Sequential& model);

}  // namespace entrenar::engine
