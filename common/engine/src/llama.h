// A LLaMA-family decoder in LibTorch with Hugging Face parameter names (model.embed_tokens,
// model.layers.N.self_attn.q_proj, ..., model.norm, lm_head), so checkpoints in the Hugging Face
// layout load by name and `target_modules` / `freeze` patterns mean what users expect.
// Internal to the engine (includes LibTorch).
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/formats/safetensors.h"

namespace entrenar::engine {

// The hyper-parameters of config.json (model_type llama, mistral, qwen2-style without biases).
struct LlamaConfig {
  std::int64_t vocab_size = 32000;
  std::int64_t hidden_size = 4096;
  std::int64_t intermediate_size = 11008;
  std::int64_t num_hidden_layers = 32;
  std::int64_t num_attention_heads = 32;
  std::int64_t num_key_value_heads = 32;  // < heads: grouped-query attention
  std::int64_t max_position_embeddings = 4096;
  double rope_theta = 10000;
  double rope_scaling_factor = 1;  // rope_scaling {type: linear, factor}
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;

  std::int64_t HeadDim() const { return hidden_size / num_attention_heads; }
};

// Reads config.json. kInvalidArgument names a missing or inconsistent key; kUnimplemented a
// model_type or rope_scaling type this decoder does not implement.
Result<LlamaConfig> ParseLlamaConfig(const std::string& json);

class LlamaImpl : public torch::nn::Module {
 public:
  explicit LlamaImpl(const LlamaConfig& config);
  // ids [batch, seq] (int64) -> logits [batch, seq, vocab]; causal attention. With an
  // `attention_mask` [batch, seq] of 1/0, padded keys are masked out as well.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& attention_mask = {});
  const LlamaConfig& config() const { return config_; }

 private:
  struct Layer {
    torch::nn::Linear q, k, v, o, gate, up, down;
    torch::Tensor input_norm, post_norm;
  };
  torch::Tensor Attention(Layer& l, const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin, const torch::Tensor& mask);
  torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight) const;

  LlamaConfig config_;
  torch::nn::Embedding embed_{nullptr};
  std::vector<Layer> layers_;
  torch::Tensor norm_;
  torch::nn::Linear lm_head_{nullptr};  // null when tied to the embedding
};
TORCH_MODULE(Llama);

// Loads Hugging Face weights (float32/16/bf16) by name: every parameter must be there with its
// shape; `lm_head.weight` may be absent when the embeddings are tied. Errors list what is
// missing, unexpected or mis-shaped.
Status LoadLlamaWeights(Llama& model, const formats::Safetensors& st, const std::string& file);
// The model's parameters as float32 tensors under their Hugging Face names.
formats::Safetensors LlamaWeights(const Llama& model);

}  // namespace entrenar::engine
