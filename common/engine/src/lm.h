// Language models in the trainer: the LLaMA a manifest describes or loads, batches of token ids,
// the causal-LM loss, evaluation, generation and the saved model directory. Internal to the
// engine (includes LibTorch).
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/engine/text_data.h"
#include "entrenar/formats/safetensors.h"
#include "entrenar/manifest/manifest.h"

#include "llama.h"
#include "precision.h"

namespace entrenar::engine {

struct LmModel {
  Llama model{nullptr};
  std::vector<std::string> lora_modules;  // wrapped projections; empty without LoRA
  manifest::LoraConfig lora;              // as applied (an adapter source's own settings)
  std::string base;                       // the model directory or file loaded ("" for a new model)
  std::int64_t total_parameters = 0;      // counted before quantization
};

// The model of a `transformer` run: config.json of model.source (a Hugging Face directory, or
// the directory of a .safetensors file) or model.architecture, weights from model.safetensors
// or a sharded model.safetensors.index.json (a new model starts from N(0, 0.02)), then
// model.freeze, then lora (quantize_base first). A PEFT adapter directory as model.source loads
// its base model (base_model_name_or_path) and its adapters, to train on. Errors name the
// manifest key.
Result<LmModel> BuildLm(const manifest::Manifest& m, const TextData& d,
                        const std::string& base_dir);

// Examples as rows of width `width` (their longest when 0): ids with -1 past each example's end
// ([n, width]; packed windows [n, 2, width], the second channel each token's segment), and
// next-token targets (-100 where the loss does not count).
std::pair<torch::Tensor, torch::Tensor> LmTensors(const std::vector<TextExample>& examples,
                                                  std::int64_t width);
// Logits [batch, t, vocab] of a batch of rows, t being its longest example; packed rows attend
// within their segments, whose positions start at 0.
torch::Tensor LmForward(Llama& model, const torch::Tensor& x);
// Mean cross-entropy over the counted targets of `y` (cut to the logits' length).
torch::Tensor LmLoss(const torch::Tensor& logits, const torch::Tensor& y);
// Loss (per counted token), perplexity and next-token accuracy of rows x/y, `batch` rows at a
// time, in evaluation mode, as `prefix`loss, `prefix`perplexity, `prefix`accuracy.
std::map<std::string, double> LmEvaluate(Llama& model, const torch::Tensor& x,
                                         const torch::Tensor& y, std::int64_t batch,
                                         const Precision& prec, const std::string& prefix);

// Continues `prompt` by up to `max_tokens` tokens, greedily (temperature 0) or sampled from the
// softmax at `temperature`; stops after `eos`.
std::vector<std::int32_t> Generate(Llama& model, std::vector<std::int32_t> prompt,
                                   std::int64_t max_tokens, double temperature, std::int32_t eos,
                                   const Precision& prec, std::mt19937_64& rng);

// The tensors a checkpoint keeps: the adapters with LoRA, else every parameter.
formats::Safetensors LmCheckpointWeights(const LmModel& lm);
Status LoadLmCheckpoint(LmModel& lm, const formats::Safetensors& st, const std::string& file);

// Writes the trained model into `dir` as a Hugging Face directory: config.json and the
// tokenizer, then model.safetensors, or with LoRA adapter_model.safetensors and
// adapter_config.json (PEFT) and, with output.model.merge_lora, model.safetensors merged.
// Returns the names of the files written.
Result<std::vector<std::string>> SaveLm(const LmModel& lm, const manifest::Manifest& m,
                                        const TextData& d, const std::string& dir);

}  // namespace entrenar::engine
