// A trained LLaMA as a GGUF file for llama.cpp (see llama.h).
#include <cstring>
#include <map>
#include <optional>
#include <type_traits>

#include "entrenar/text/bpe.h"
#include "entrenar/text/tokenizer.h"

#include "llama.h"

namespace entrenar::engine {
namespace {

using formats::GgufValue;

// Hugging Face rotary layout (rotate_half: the two halves of each head) to ggml's (pairs of
// neighbours): rows of each head reordered as convert_hf_to_gguf.py's permute does.
torch::Tensor PermuteRotary(const torch::Tensor& w, std::int64_t heads) {
  const std::int64_t rows = w.size(0);
  return w.reshape({heads, 2, rows / heads / 2, w.size(1)}).transpose(1, 2).reshape(w.sizes());
}

// ggml's interleaved rotary rows back to Hugging Face's rotate-half layout (PermuteRotary's
// inverse).
torch::Tensor UnpermuteRotary(const torch::Tensor& w, std::int64_t heads) {
  const std::int64_t rows = w.size(0);
  return w.reshape({heads, rows / heads / 2, 2, w.size(1)}).transpose(1, 2).reshape(w.sizes());
}

// The GGUF name of a Hugging Face tensor name, or "" for none.
std::string GgufName(const std::string& hf) {
  static const std::vector<std::pair<std::string, std::string>> kLayer = {
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.k_proj.weight", "attn_k.weight"},
      {"self_attn.v_proj.weight", "attn_v.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"input_layernorm.weight", "attn_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"}};
  if (hf == "model.embed_tokens.weight") return "token_embd.weight";
  if (hf == "model.norm.weight") return "output_norm.weight";
  if (hf == "lm_head.weight") return "output.weight";
  const std::string prefix = "model.layers.";
  if (hf.rfind(prefix, 0) != 0) return "";
  const std::size_t dot = hf.find('.', prefix.size());
  const std::string layer = hf.substr(prefix.size(), dot - prefix.size());
  const std::string rest = hf.substr(dot + 1);
  for (const auto& [from, to] : kLayer) {
    if (rest == from) return "blk." + layer + "." + to;
  }
  return "";
}

// Token types and the padding of the vocabulary up to the model's vocab_size with unused ids.
void PadVocabulary(std::int64_t vocab, std::vector<std::string>* tokens,
                   std::vector<std::int32_t>* types, std::vector<float>* scores) {
  while (static_cast<std::int64_t>(tokens->size()) < vocab) {
    tokens->push_back("[PAD" + std::to_string(tokens->size()) + "]");
    types->push_back(5);  // unused
    if (scores) scores->push_back(-1e4F);
  }
}

void AddSpecialIds(const text::Tokenizer& tok, formats::Gguf* g) {
  if (tok.BosId() >= 0) {
    g->metadata.emplace_back("tokenizer.ggml.bos_token_id",
                             GgufValue::U32(static_cast<std::uint32_t>(tok.BosId())));
  }
  if (tok.EosId() >= 0) {
    g->metadata.emplace_back("tokenizer.ggml.eos_token_id",
                             GgufValue::U32(static_cast<std::uint32_t>(tok.EosId())));
  }
  g->metadata.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::Bool(tok.BosId() >= 0));
  g->metadata.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::Bool(false));
}

// llama.cpp's byte-level BPE vocabulary (`gpt2`, GPT-2's pre-tokenizer) from a tokenizer.json.
Status AddBpe(const std::string& path, std::int64_t vocab, formats::Gguf* g) {
  ENTRENAR_ASSIGN_OR_RETURN(const text::BpeTokenizer tok, text::BpeTokenizer::FromFile(path));
  std::vector<std::string> tokens = tok.tokens();
  std::vector<std::int32_t> types(tokens.size(), 1);  // normal
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (tok.IsAdded(static_cast<std::int32_t>(i))) types[i] = 3;  // control
  }
  PadVocabulary(vocab, &tokens, &types, nullptr);
  g->metadata.emplace_back("tokenizer.ggml.model", GgufValue::String("gpt2"));
  g->metadata.emplace_back("tokenizer.ggml.pre", GgufValue::String("gpt-2"));
  g->metadata.emplace_back("tokenizer.ggml.tokens", GgufValue::Strings(tokens));
  g->metadata.emplace_back("tokenizer.ggml.token_type", GgufValue::I32s(types));
  g->metadata.emplace_back("tokenizer.ggml.merges", GgufValue::Strings(tok.Merges()));
  return OkStatus();
}

// llama.cpp's SentencePiece vocabulary (`llama`): pieces, scores and types.
Status AddSentencePiece(const std::string& path, std::int64_t vocab, formats::Gguf* g) {
  ENTRENAR_ASSIGN_OR_RETURN(const auto sp, text::SentencePieceTokenizer::FromFile(path));
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  std::vector<float> scores;
  for (std::size_t i = 0; i < sp->VocabSize(); ++i) {
    const auto id = static_cast<std::int32_t>(i);
    tokens.push_back(sp->Piece(id));
    scores.push_back(sp->Score(id));
    types.push_back(sp->GgufType(id));
  }
  PadVocabulary(vocab, &tokens, &types, &scores);
  g->metadata.emplace_back("tokenizer.ggml.model", GgufValue::String("llama"));
  g->metadata.emplace_back("tokenizer.ggml.tokens", GgufValue::Strings(tokens));
  g->metadata.emplace_back("tokenizer.ggml.scores", GgufValue::F32s(scores));
  g->metadata.emplace_back("tokenizer.ggml.token_type", GgufValue::I32s(types));
  return OkStatus();
}

}  // namespace

Result<formats::Gguf> LlamaGguf(const Llama& model, const std::string& tokenizer,
                                const std::string& name, formats::GgmlType type) {
  const LlamaConfig& c = model->config();
  formats::Gguf g;
  auto u32 = [](std::int64_t v) { return GgufValue::U32(static_cast<std::uint32_t>(v)); };
  g.metadata = {{"general.architecture", GgufValue::String("llama")},
                {"general.name", GgufValue::String(name)},
                {"general.file_type", u32(type == formats::GgmlType::kF32    ? 0
                                          : type == formats::GgmlType::kF16  ? 1
                                          : type == formats::GgmlType::kQ4_0 ? 2
                                                                             : 7)},
                {"llama.context_length", u32(c.max_position_embeddings)},
                {"llama.embedding_length", u32(c.hidden_size)},
                {"llama.block_count", u32(c.num_hidden_layers)},
                {"llama.feed_forward_length", u32(c.intermediate_size)},
                {"llama.rope.dimension_count", u32(c.HeadDim())},
                {"llama.attention.head_count", u32(c.num_attention_heads)},
                {"llama.attention.head_count_kv", u32(c.num_key_value_heads)},
                {"llama.attention.layer_norm_rms_epsilon",
                 GgufValue::F32(static_cast<float>(c.rms_norm_eps))},
                {"llama.rope.freq_base", GgufValue::F32(static_cast<float>(c.rope_theta))},
                {"llama.vocab_size", u32(c.vocab_size)}};
  if (c.rope_scaling_factor != 1) {
    g.metadata.emplace_back("llama.rope.scaling.type", GgufValue::String("linear"));
    g.metadata.emplace_back("llama.rope.scaling.factor",
                            GgufValue::F32(static_cast<float>(c.rope_scaling_factor)));
  }
  ENTRENAR_ASSIGN_OR_RETURN(const std::unique_ptr<text::Tokenizer> tok,
                            text::LoadTokenizer(tokenizer));
  const bool sentencepiece = dynamic_cast<const text::SentencePieceTokenizer*>(tok.get());
  ENTRENAR_RETURN_IF_ERROR(sentencepiece ? AddSentencePiece(tokenizer, c.vocab_size, &g)
                                         : AddBpe(tokenizer, c.vocab_size, &g));
  AddSpecialIds(*tok, &g);
  torch::NoGradGuard no_grad;
  const formats::Safetensors merged = MergedWeights(model);
  for (const formats::Tensor& t : merged.tensors) {
    const std::string gguf_name = GgufName(t.name);
    if (gguf_name.empty()) return Internal("no GGUF name for " + t.name);
    torch::Tensor w =
        torch::from_blob(const_cast<char*>(t.bytes.data()), t.shape, torch::kFloat).clone();
    if (t.name.find("q_proj") != std::string::npos) w = PermuteRotary(w, c.num_attention_heads);
    if (t.name.find("k_proj") != std::string::npos) w = PermuteRotary(w, c.num_key_value_heads);
    w = w.contiguous();
    std::vector<float> values(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
    formats::GgufTensor out;
    out.name = gguf_name;
    out.shape = t.shape;
    // Norm weights (one dimension) stay float32, as llama.cpp's converters keep them; a
    // quantized type needs rows of a multiple of 32 values, else the tensor is kept as F16.
    out.type = t.shape.size() == 1 ? formats::GgmlType::kF32 : type;
    const bool quantized =
        out.type == formats::GgmlType::kQ8_0 || out.type == formats::GgmlType::kQ4_0;
    if (quantized && t.shape.back() % 32 != 0) out.type = formats::GgmlType::kF16;
    ENTRENAR_ASSIGN_OR_RETURN(out.data, formats::EncodeGgml(values, out.type));
    g.tensors.push_back(std::move(out));
  }
  return g;
}

namespace {

// A `llama.*` number of `g`, or `fallback` (nullopt: required).
Result<double> MetaNumber(const formats::Gguf& g, const std::string& key,
                          std::optional<double> fallback, const std::string& file) {
  const GgufValue* v = g.Find(key);
  if (!v) {
    if (fallback) return *fallback;
    return InvalidArgument("model.source: " + file + " lacks " + key + " (a llama GGUF has it)");
  }
  switch (v->type) {
    case GgufValue::Type::kU8:
    case GgufValue::Type::kU16:
    case GgufValue::Type::kU32:
    case GgufValue::Type::kU64:
      return static_cast<double>(v->u);
    case GgufValue::Type::kI8:
    case GgufValue::Type::kI16:
    case GgufValue::Type::kI32:
    case GgufValue::Type::kI64:
      return static_cast<double>(v->i);
    case GgufValue::Type::kF32:
    case GgufValue::Type::kF64:
      return v->f;
    default:
      return InvalidArgument("model.source: " + file + ": " + key + " is not a number");
  }
}

Result<LlamaConfig> GgufConfig(const formats::Gguf& g, const std::string& file) {
  const GgufValue* arch = g.Find("general.architecture");
  if (!arch || arch->type != GgufValue::Type::kString || arch->s != "llama") {
    return InvalidArgument("model.source: " + file +
                           " is not a llama GGUF (general.architecture: " +
                           (arch ? arch->s : std::string("none")) + ")");
  }
  LlamaConfig c;
  auto take = [&](const char* key, std::optional<double> fallback, auto* field) -> Status {
    ENTRENAR_ASSIGN_OR_RETURN(const double v, MetaNumber(g, key, fallback, file));
    *field = static_cast<std::remove_pointer_t<decltype(field)>>(v);
    return OkStatus();
  };
  ENTRENAR_RETURN_IF_ERROR(take("llama.embedding_length", std::nullopt, &c.hidden_size));
  ENTRENAR_RETURN_IF_ERROR(take("llama.block_count", std::nullopt, &c.num_hidden_layers));
  ENTRENAR_RETURN_IF_ERROR(take("llama.feed_forward_length", std::nullopt, &c.intermediate_size));
  ENTRENAR_RETURN_IF_ERROR(
      take("llama.attention.head_count", std::nullopt, &c.num_attention_heads));
  ENTRENAR_RETURN_IF_ERROR(take("llama.attention.head_count_kv",
                                static_cast<double>(c.num_attention_heads),
                                &c.num_key_value_heads));
  ENTRENAR_RETURN_IF_ERROR(take("llama.context_length", 2048.0, &c.max_position_embeddings));
  ENTRENAR_RETURN_IF_ERROR(take("llama.attention.layer_norm_rms_epsilon", 1e-5, &c.rms_norm_eps));
  ENTRENAR_RETURN_IF_ERROR(take("llama.rope.freq_base", 10000.0, &c.rope_theta));
  ENTRENAR_RETURN_IF_ERROR(take("llama.rope.scaling.factor", 1.0, &c.rope_scaling_factor));
  const formats::GgufTensor* embed = g.FindTensor("token_embd.weight");
  if (!embed || embed->shape.size() != 2) {
    return InvalidArgument("model.source: " + file + " has no token_embd.weight matrix");
  }
  ENTRENAR_RETURN_IF_ERROR(
      take("llama.vocab_size", static_cast<double>(embed->shape[0]), &c.vocab_size));
  c.tie_word_embeddings = g.FindTensor("output.weight") == nullptr;
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
      c.hidden_size % c.num_attention_heads != 0 ||
      c.num_attention_heads % c.num_key_value_heads != 0) {
    return InvalidArgument("model.source: " + file +
                           ": the heads do not split embedding_length evenly");
  }
  return c;
}

// The Hugging Face names of a model with config `c`, by their GGUF names.
std::map<std::string, std::string> HfNames(const LlamaConfig& c) {
  std::vector<std::string> hf = {"model.embed_tokens.weight", "model.norm.weight",
                                 "lm_head.weight"};
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string layer = "model.layers." + std::to_string(i) + ".";
    for (const char* part :
         {"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
          "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
          "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight"}) {
      hf.push_back(layer + part);
    }
  }
  std::map<std::string, std::string> by_gguf;
  for (const std::string& name : hf) by_gguf[GgufName(name)] = name;
  return by_gguf;
}

}  // namespace

Result<GgufModel> LlamaFromGguf(const formats::Gguf& g, const std::string& file) {
  GgufModel out;
  ENTRENAR_ASSIGN_OR_RETURN(out.config, GgufConfig(g, file));
  const LlamaConfig& c = out.config;
  const std::map<std::string, std::string> names = HfNames(c);
  for (const formats::GgufTensor& t : g.tensors) {
    const auto hf = names.find(t.name);
    if (hf == names.end()) continue;  // LoadLlamaWeights names what is missing
    Result<std::vector<float>> values = DecodeGgml(t.data, t.type, t.NumElements());
    if (!values.ok()) {
      return InvalidArgument("model.source: " + file + ": " + t.name + ": " +
                             values.status().message());
    }
    torch::Tensor w = torch::from_blob(values->data(), t.shape, torch::kFloat).clone();
    const bool q = hf->second.find("q_proj") != std::string::npos;
    const bool k = hf->second.find("k_proj") != std::string::npos;
    if ((q || k) && w.dim() == 2) {
      const std::int64_t heads = q ? c.num_attention_heads : c.num_key_value_heads;
      if (w.size(0) % (2 * heads) != 0) {
        return InvalidArgument("model.source: " + file + ": " + t.name + " has " +
                               std::to_string(w.size(0)) + " rows, not a whole number of heads");
      }
      w = UnpermuteRotary(w, heads).contiguous();
    }
    out.weights.tensors.push_back(formats::MakeF32Tensor(
        hf->second, t.shape,
        std::vector<float>(w.data_ptr<float>(), w.data_ptr<float>() + w.numel())));
  }
  return out;
}

}  // namespace entrenar::engine
