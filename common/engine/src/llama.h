// A LLaMA-family decoder in LibTorch with Hugging Face parameter names (model.embed_tokens,
// model.layers.N.self_attn.q_proj, ..., model.norm, lm_head), so checkpoints in the Hugging Face
// layout load by name and `target_modules` / `freeze` patterns mean what users expect.
// Internal to the engine (includes LibTorch).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/formats/gguf.h"
#include "entrenar/formats/safetensors.h"
#include "entrenar/manifest/manifest.h"
#include "entrenar/quant/blockwise.h"

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

  // Rows that pack several sequences: `positions` [batch, seq] restart at each sequence's
  // start, and `blocked` [batch, 1, seq, seq] is true where a query may not see a key (another
  // sequence's, or a later one). Each sequence gets the logits it would get alone.
  torch::Tensor forward_packed(const torch::Tensor& ids, const torch::Tensor& positions,
                               const torch::Tensor& blocked);

  // The keys and values of the positions a sequence has seen, per layer, so that generation
  // computes each new token once.
  struct KvCache {
    std::vector<torch::Tensor> k, v;  // [batch, key/value heads, length, head_dim]
    std::int64_t length = 0;
  };
  // Logits [batch, t, vocab] of `ids` continuing the sequence `cache` holds (empty: from the
  // start), whose keys and values it then appends: the same logits as forward() on the whole
  // sequence.
  torch::Tensor forward_cached(const torch::Tensor& ids, KvCache& cache);
  const LlamaConfig& config() const { return config_; }

  // LoRA (SPEC §6) on the projections `lora` selects (target_modules by short name, e.g.
  // q_proj, or target_modules_pattern, a regex over the full module name): A (rank × in,
  // `init_weights`) and B (out × rank, zeros, so the model starts exactly as the base) registered
  // under the projection as lora_A / lora_B (PEFT's names); output base(x) + alpha/rank ·
  // B(A(dropout(x))). Every base parameter stops requiring gradients. Returns kInvalidArgument
  // naming the key when nothing matches. Returns the wrapped modules' names.
  Result<std::vector<std::string>> ApplyLora(const manifest::LoraConfig& lora);
  bool has_lora() const { return lora_scale_ != 0; }

  // QLoRA (`lora.quantize_base`): the seven projections of every layer stored 4-bit
  // (`quant_type` nf4 or fp4, blocks of 64, `double_quantize`), dequantized on the fly in
  // forward; their float weights are released. `quantize_bits` must be 4. Call before
  // ApplyLora.
  Status QuantizeBase(const manifest::LoraConfig& lora);
  // The bytes the projections' weights take now (4-bit storage when quantized), and as float32.
  std::size_t ProjectionBytes() const;
  std::size_t ProjectionBytesFloat32() const;
  // A projection's weight as float32 (dequantized when stored 4-bit).
  torch::Tensor ProjectionWeight(std::size_t layer, int proj) const;
  double lora_scale() const { return lora_scale_; }

  // Called on the input of every projection (index layer · kCount + projection) before its
  // product, e.g. to quantize activations; none by default.
  using InputHook = std::function<torch::Tensor(std::size_t, const torch::Tensor&)>;
  void set_input_hook(InputHook hook) { input_hook_ = std::move(hook); }

  // The projections of each layer, in this order.
  static constexpr const char* kProjections[] = {
      "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  enum Proj { kQ, kK, kV, kO, kGate, kUp, kDown, kCount };
  struct Adapter {
    torch::nn::Linear a{nullptr}, b{nullptr};
  };
  struct Layer {
    std::array<torch::nn::Linear, kCount> proj{nullptr, nullptr, nullptr, nullptr,
                                               nullptr, nullptr, nullptr};
    std::array<Adapter, kCount> lora;
    std::array<std::shared_ptr<quant::Quantized4>, kCount> q4;  // QLoRA's 4-bit weights
    std::array<std::vector<std::int64_t>, kCount> shape;        // of the 4-bit weights
    torch::Tensor input_norm, post_norm;
  };
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  torch::Tensor Project(Layer& l, Proj p, const torch::Tensor& x);
  torch::Tensor Attention(Layer& l, const torch::Tensor& x, const torch::Tensor& cos,
                          const torch::Tensor& sin, const torch::Tensor& mask, KvCache* cache);
  torch::Tensor Decode(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                       KvCache* cache);
  torch::Tensor Layers(torch::Tensor h, const torch::Tensor& cos, const torch::Tensor& sin,
                       const torch::Tensor& mask, KvCache* cache);
  torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight) const;

  LlamaConfig config_;
  torch::nn::Embedding embed_{nullptr};
  std::vector<Layer> layers_;
  torch::Tensor norm_;
  torch::nn::Linear lm_head_{nullptr};  // null when tied to the embedding
  double lora_scale_ = 0;
  torch::nn::Dropout lora_dropout_{nullptr};
  InputHook input_hook_;
};
TORCH_MODULE(Llama);

// Loads Hugging Face weights (float32/16/bf16) by name: every parameter must be there with its
// shape; `lm_head.weight` may be absent when the embeddings are tied. Errors list what is
// missing, unexpected or mis-shaped.
Status LoadLlamaWeights(Llama& model, const formats::Safetensors& st, const std::string& file);
// The model's parameters as float32 tensors under their Hugging Face names (LoRA adapters
// included, as `...q_proj.lora_A.weight`).
formats::Safetensors LlamaWeights(const Llama& model);

// The adapters alone in PEFT's layout: adapter_model.safetensors tensors named
// `base_model.model.<module>.lora_A.weight`, and adapter_config.json (`task_type` null when
// empty: a model that is not a transformers one).
formats::Safetensors AdapterWeights(const Llama& model);
std::string AdapterConfigJson(const manifest::LoraConfig& lora,
                              const std::vector<std::string>& modules,
                              const std::string& base_model,
                              const std::string& task_type = "CAUSAL_LM");
// Loads PEFT adapter tensors into a model with the same adapters applied.
Status LoadAdapterWeights(Llama& model, const formats::Safetensors& st, const std::string& file);
// The base weights with each adapter merged in (W + alpha/rank · B·A), under the base names and
// without adapter tensors: a plain model with the adapted behaviour.
formats::Safetensors MergedWeights(const Llama& model);

// The model as a GGUF v3 file that llama.cpp runs (general.architecture llama): tensors under
// llama.cpp's names (token_embd, blk.N.attn_q, ...), Q and K rows permuted from Hugging Face's
// rotate-half rotary layout to ggml's interleaved pairs, LoRA adapters merged, 4-bit base
// weights dequantized; matrices in `type` (norms stay F32; a quantized type falls back to F16
// for rows that are not a multiple of 32); the hyper-parameters and the tokenizer in
// `tokenizer` (a tokenizer.json's byte-level BPE as `gpt2` with the `gpt-2` pre-tokenizer, a
// SentencePiece model as `llama` with scores) as metadata, the vocabulary padded with unused
// tokens up to vocab_size.
Result<formats::Gguf> LlamaGguf(const Llama& model, const std::string& tokenizer,
                                const std::string& name, formats::GgmlType type);

// A llama GGUF as a model to train (LlamaGguf's, or llama.cpp's converters' with the same
// names): the configuration from its `llama.*` metadata, and the weights under their Hugging
// Face names, dequantized to float32, Q and K rows back in the rotate-half layout (no
// `output.weight`: tied embeddings). `file` names the source in errors.
struct GgufModel {
  LlamaConfig config;
  formats::Safetensors weights;
};
Result<GgufModel> LlamaFromGguf(const formats::Gguf& g, const std::string& file);

}  // namespace entrenar::engine
