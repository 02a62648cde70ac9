// The LLaMA decoder: RMSNorm, rotary position embeddings, grouped-query attention, SwiGLU.
#include "llama.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "model.h"

namespace entrenar::engine {
namespace {

namespace nn = torch::nn;

// (cos, sin) [seq, head_dim] of the rotary embedding: frequencies theta^(-2i/d), positions
// divided by the linear scaling factor, the halves repeated (the rotate_half layout).
std::pair<torch::Tensor, torch::Tensor> Rotary(const LlamaConfig& c, std::int64_t seq,
                                               torch::Device device) {
  const std::int64_t d = c.HeadDim();
  const torch::Tensor inv =
      torch::pow(c.rope_theta, -torch::arange(0, d, 2, torch::kDouble) / static_cast<double>(d));
  const torch::Tensor pos = torch::arange(seq, torch::kDouble) / c.rope_scaling_factor;
  const torch::Tensor freqs = torch::outer(pos, inv);
  const torch::Tensor emb = torch::cat({freqs, freqs}, -1);
  return {emb.cos().to(torch::kFloat).to(device), emb.sin().to(torch::kFloat).to(device)};
}

torch::Tensor RotateHalf(const torch::Tensor& x) {
  const std::int64_t half = x.size(-1) / 2;
  return torch::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
}

template <typename T>
Status Key(const nlohmann::json& j, const char* key, T* out, bool required = true) {
  if (!j.contains(key)) {
    return required ? InvalidArgument(std::string("config.json: `") + key + "` is missing")
                    : OkStatus();
  }
  try {
    *out = j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgument(std::string("config.json: `") + key + "` has the wrong type");
  }
  return OkStatus();
}

}  // namespace

Result<LlamaConfig> ParseLlamaConfig(const std::string& json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return InvalidArgument("config.json is not a JSON object");
  const std::string type = j.value("model_type", "llama");
  if (type != "llama" && type != "mistral") {
    return Unimplemented("config.json: model_type " + type + " (llama and mistral are built)");
  }
  LlamaConfig c;
  ENTRENAR_RETURN_IF_ERROR(Key(j, "vocab_size", &c.vocab_size));
  ENTRENAR_RETURN_IF_ERROR(Key(j, "hidden_size", &c.hidden_size));
  ENTRENAR_RETURN_IF_ERROR(Key(j, "intermediate_size", &c.intermediate_size));
  ENTRENAR_RETURN_IF_ERROR(Key(j, "num_hidden_layers", &c.num_hidden_layers));
  ENTRENAR_RETURN_IF_ERROR(Key(j, "num_attention_heads", &c.num_attention_heads));
  c.num_key_value_heads = c.num_attention_heads;
  ENTRENAR_RETURN_IF_ERROR(Key(j, "num_key_value_heads", &c.num_key_value_heads, false));
  ENTRENAR_RETURN_IF_ERROR(Key(j, "max_position_embeddings", &c.max_position_embeddings, false));
  ENTRENAR_RETURN_IF_ERROR(Key(j, "rope_theta", &c.rope_theta, false));
  ENTRENAR_RETURN_IF_ERROR(Key(j, "rms_norm_eps", &c.rms_norm_eps, false));
  ENTRENAR_RETURN_IF_ERROR(Key(j, "tie_word_embeddings", &c.tie_word_embeddings, false));
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const nlohmann::json& s = j["rope_scaling"];
    const std::string kind = s.value("type", s.value("rope_type", ""));
    if (kind != "linear") return Unimplemented("config.json: rope_scaling type " + kind);
    ENTRENAR_RETURN_IF_ERROR(Key(s, "factor", &c.rope_scaling_factor));
  }
  if (c.hidden_size <= 0 || c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 ||
      c.hidden_size % c.num_attention_heads != 0 ||
      c.num_attention_heads % c.num_key_value_heads != 0 || c.HeadDim() % 2 != 0) {
    return InvalidArgument(
        "config.json: hidden_size must split into num_attention_heads heads of an even size, "
        "and the heads into num_key_value_heads groups");
  }
  return c;
}

LlamaImpl::LlamaImpl(const LlamaConfig& c) : config_(c) {
  auto model = register_module("model", std::make_shared<nn::Module>());
  embed_ = model->register_module("embed_tokens", nn::Embedding(c.vocab_size, c.hidden_size));
  auto layers = model->register_module("layers", std::make_shared<nn::Module>());
  const std::int64_t kv = c.num_key_value_heads * c.HeadDim();
  auto linear = [](std::int64_t in, std::int64_t out) {
    return nn::Linear(nn::LinearOptions(in, out).bias(false));
  };
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto layer = layers->register_module(std::to_string(i), std::make_shared<nn::Module>());
    auto attn = layer->register_module("self_attn", std::make_shared<nn::Module>());
    auto mlp = layer->register_module("mlp", std::make_shared<nn::Module>());
    Layer l;
    l.proj = {attn->register_module("q_proj", linear(c.hidden_size, c.hidden_size)),
              attn->register_module("k_proj", linear(c.hidden_size, kv)),
              attn->register_module("v_proj", linear(c.hidden_size, kv)),
              attn->register_module("o_proj", linear(c.hidden_size, c.hidden_size)),
              mlp->register_module("gate_proj", linear(c.hidden_size, c.intermediate_size)),
              mlp->register_module("up_proj", linear(c.hidden_size, c.intermediate_size)),
              mlp->register_module("down_proj", linear(c.intermediate_size, c.hidden_size))};
    auto in_norm = layer->register_module("input_layernorm", std::make_shared<nn::Module>());
    l.input_norm = in_norm->register_parameter("weight", torch::ones({c.hidden_size}));
    auto post_norm =
        layer->register_module("post_attention_layernorm", std::make_shared<nn::Module>());
    l.post_norm = post_norm->register_parameter("weight", torch::ones({c.hidden_size}));
    layers_.push_back(std::move(l));
  }
  auto norm = model->register_module("norm", std::make_shared<nn::Module>());
  norm_ = norm->register_parameter("weight", torch::ones({c.hidden_size}));
  if (!c.tie_word_embeddings)
    lm_head_ = register_module("lm_head", linear(c.hidden_size, c.vocab_size));
}

Status LlamaImpl::QuantizeBase(const manifest::LoraConfig& lora) {
  if (lora.quantize_bits != 4) {
    return Unimplemented("lora.quantize_bits: " + std::to_string(lora.quantize_bits) +
                         " (QLoRA stores base weights in 4 bits)");
  }
  const quant::Code4 code = lora.quant_type == "fp4" ? quant::Code4::kFp4 : quant::Code4::kNf4;
  torch::NoGradGuard no_grad;
  for (Layer& l : layers_) {
    for (std::size_t p = 0; p < kCount; ++p) {
      torch::Tensor& w = l.proj[p]->weight;
      const torch::Tensor f = w.detach().to(torch::kCPU, torch::kFloat).contiguous();
      l.shape[p] = f.sizes().vec();
      l.q4[p] = std::make_shared<quant::Quantized4>(
          quant::Quantize4(f.data_ptr<float>(), f.numel(), code, lora.double_quantize));
      w.set_requires_grad(false);
      w.set_();  // the float weight's storage is released
    }
  }
  return OkStatus();
}

torch::Tensor LlamaImpl::ProjectionWeight(std::size_t layer, int proj) const {
  const Layer& l = layers_[layer];
  const auto p = static_cast<std::size_t>(proj);
  if (!l.q4[p]) return l.proj[p]->weight.detach().to(torch::kFloat);
  torch::Tensor w = torch::empty(l.shape[p], torch::kFloat);
  quant::Dequantize4(*l.q4[p], w.data_ptr<float>());
  return w;
}

std::size_t LlamaImpl::ProjectionBytes() const {
  std::size_t bytes = 0;
  for (const Layer& l : layers_) {
    for (std::size_t p = 0; p < kCount; ++p) {
      bytes += l.q4[p] ? l.q4[p]->Bytes()
                       : static_cast<std::size_t>(l.proj[p]->weight.numel() *
                                                  l.proj[p]->weight.element_size());
    }
  }
  return bytes;
}

std::size_t LlamaImpl::ProjectionBytesFloat32() const {
  std::size_t n = 0;
  for (const Layer& l : layers_) {
    for (std::size_t p = 0; p < kCount; ++p) {
      n += l.q4[p] ? static_cast<std::size_t>(l.q4[p]->count)
                   : static_cast<std::size_t>(l.proj[p]->weight.numel());
    }
  }
  return 4 * n;
}

torch::Tensor LlamaImpl::Project(Layer& l, Proj p, const torch::Tensor& input) {
  const torch::Tensor x =
      input_hook_ ? input_hook_(static_cast<std::size_t>(&l - layers_.data()) * kCount + p, input)
                  : input;
  torch::Tensor y;
  if (l.q4[p]) {  // QLoRA: dequantize the 4-bit weight for this product only
    torch::Tensor w = torch::empty(l.shape[p], torch::kFloat);
    quant::Dequantize4(*l.q4[p], w.data_ptr<float>());
    y = torch::nn::functional::linear(x, w.to(x.device(), x.scalar_type()));
  } else {
    y = l.proj[p]->forward(x);
  }
  Adapter& a = l.lora[p];
  if (!a.a) return y;
  const torch::Tensor in = lora_dropout_ ? lora_dropout_->forward(x) : x;
  return y + lora_scale_ * a.b->forward(a.a->forward(in));
}

Result<std::vector<std::string>> LlamaImpl::ApplyLora(const manifest::LoraConfig& lora) {
  if (lora.rank <= 0) return InvalidArgument("lora.rank must be positive");
  std::optional<std::regex> pattern;
  if (lora.target_modules_pattern) {
    try {
      pattern.emplace(*lora.target_modules_pattern);
    } catch (const std::regex_error& e) {
      return InvalidArgument("lora.target_modules_pattern is not a regular expression: " +
                             std::string(e.what()));
    }
  }
  for (auto& p : parameters()) p.set_requires_grad(false);
  std::vector<std::string> wrapped;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    for (int p = 0; p < kCount; ++p) {
      const std::string full = "model.layers." + std::to_string(i) + "." + kProjections[p];
      const std::string short_name = full.substr(full.rfind('.') + 1);
      const bool named = std::find(lora.target_modules.begin(), lora.target_modules.end(),
                                   short_name) != lora.target_modules.end();
      if (!named && !(pattern && std::regex_search(full, *pattern))) continue;
      torch::nn::Linear& base = layers_[i].proj[static_cast<std::size_t>(p)];
      const auto& q4_shape = layers_[i].shape[static_cast<std::size_t>(p)];
      const bool q4 = layers_[i].q4[static_cast<std::size_t>(p)] != nullptr;
      const std::int64_t in = q4 ? q4_shape[1] : base->weight.size(1);
      const std::int64_t out = q4 ? q4_shape[0] : base->weight.size(0);
      Adapter& a = layers_[i].lora[static_cast<std::size_t>(p)];
      a.a = base->register_module(
          "lora_A", torch::nn::Linear(torch::nn::LinearOptions(in, lora.rank).bias(false)));
      a.b = base->register_module(
          "lora_B", torch::nn::Linear(torch::nn::LinearOptions(lora.rank, out).bias(false)));
      torch::NoGradGuard no_grad;
      if (lora.init_weights == "xavier") {
        torch::nn::init::xavier_uniform_(a.a->weight);
      } else if (lora.init_weights == "kaiming") {
        torch::nn::init::kaiming_uniform_(a.a->weight, std::sqrt(5.0));
      } else {  // gaussian, as PEFT: N(0, 1/rank)
        a.a->weight.normal_(0, 1.0 / static_cast<double>(lora.rank));
      }
      a.b->weight.zero_();
      const torch::Tensor& ref = q4 ? embed_->weight : base->weight;
      a.a->to(ref.device(), ref.scalar_type());
      a.b->to(ref.device(), ref.scalar_type());
      wrapped.push_back(full);
    }
  }
  if (wrapped.empty()) {
    return InvalidArgument(lora.target_modules_pattern
                               ? "lora.target_modules_pattern matches no module"
                               : "lora.target_modules matches no module (the projections are "
                                 "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
  }
  lora_scale_ = lora.alpha / static_cast<double>(lora.rank);
  if (lora.dropout > 0)
    lora_dropout_ = register_module("lora_dropout", torch::nn::Dropout(lora.dropout));
  return wrapped;
}

torch::Tensor LlamaImpl::RmsNorm(const torch::Tensor& x, const torch::Tensor& weight) const {
  const torch::Tensor x32 = x.to(torch::kFloat);
  const torch::Tensor normed = x32 * torch::rsqrt(x32.pow(2).mean(-1, true) + config_.rms_norm_eps);
  return weight * normed.to(x.scalar_type());
}

torch::Tensor LlamaImpl::Attention(Layer& l, const torch::Tensor& x, const torch::Tensor& cos,
                                   const torch::Tensor& sin, const torch::Tensor& mask,
                                   KvCache* cache) {
  const std::int64_t b = x.size(0), t = x.size(1), d = config_.HeadDim();
  const std::int64_t heads = config_.num_attention_heads, kv = config_.num_key_value_heads;
  torch::Tensor q = Project(l, kQ, x).view({b, t, heads, d}).transpose(1, 2);
  torch::Tensor k = Project(l, kK, x).view({b, t, kv, d}).transpose(1, 2);
  torch::Tensor v = Project(l, kV, x).view({b, t, kv, d}).transpose(1, 2);
  q = q * cos + RotateHalf(q) * sin;
  k = k * cos + RotateHalf(k) * sin;
  if (cache) {  // earlier positions' keys and values come first
    const auto i = static_cast<std::size_t>(&l - layers_.data());
    if (cache->k.size() <= i) {
      cache->k.push_back(k);
      cache->v.push_back(v);
    } else {
      cache->k[i] = k = torch::cat({cache->k[i], k}, 2);
      cache->v[i] = v = torch::cat({cache->v[i], v}, 2);
    }
  }
  if (kv != heads) {  // each key/value head serves heads / kv query heads
    k = k.repeat_interleave(heads / kv, 1);
    v = v.repeat_interleave(heads / kv, 1);
  }
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(d));
  scores = scores.masked_fill(mask, -std::numeric_limits<float>::infinity());
  const torch::Tensor probs = torch::softmax(scores.to(torch::kFloat), -1).to(q.scalar_type());
  return Project(l, kO, torch::matmul(probs, v).transpose(1, 2).reshape({b, t, heads * d}));
}

torch::Tensor LlamaImpl::forward(const torch::Tensor& ids, const torch::Tensor& attention_mask) {
  return Decode(ids, attention_mask, nullptr);
}

torch::Tensor LlamaImpl::forward_cached(const torch::Tensor& ids, KvCache& cache) {
  torch::Tensor logits = Decode(ids, {}, &cache);
  cache.length += ids.size(1);
  return logits;
}

torch::Tensor LlamaImpl::Decode(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                                KvCache* cache) {
  const std::int64_t t = ids.size(1), past = cache ? cache->length : 0, total = past + t;
  torch::Tensor h = embed_->forward(ids);
  auto [cos, sin] = Rotary(config_, total, h.device());
  cos = cos.slice(0, past).to(h.scalar_type());  // a bfloat16 or float16 model computes in
  sin = sin.slice(0, past).to(h.scalar_type());  // its own type
  // True where attention is not allowed: later positions, and padded keys.
  torch::Tensor mask =
      torch::ones({t, total}, torch::TensorOptions().dtype(torch::kBool).device(h.device()))
          .triu(1 + past);
  mask = mask.view({1, 1, t, total});
  if (attention_mask.defined()) {
    mask = mask | (attention_mask.to(torch::kBool).logical_not().view({ids.size(0), 1, 1, t}));
  }
  return Layers(h, cos, sin, mask, cache);
}

torch::Tensor LlamaImpl::forward_packed(const torch::Tensor& ids, const torch::Tensor& positions,
                                        const torch::Tensor& blocked) {
  const torch::Tensor h = embed_->forward(ids);
  const auto [cos_table, sin_table] = Rotary(config_, ids.size(1), h.device());
  // [batch, 1, seq, head_dim]: each token's own position.
  const torch::Tensor cos = cos_table.index({positions}).unsqueeze(1).to(h.scalar_type());
  const torch::Tensor sin = sin_table.index({positions}).unsqueeze(1).to(h.scalar_type());
  return Layers(h, cos, sin, blocked, nullptr);
}

torch::Tensor LlamaImpl::Layers(torch::Tensor h, const torch::Tensor& cos, const torch::Tensor& sin,
                                const torch::Tensor& mask, KvCache* cache) {
  for (Layer& l : layers_) {
    h = h + Attention(l, RmsNorm(h, l.input_norm), cos, sin, mask, cache);
    const torch::Tensor x = RmsNorm(h, l.post_norm);
    h = h + Project(l, kDown, torch::silu(Project(l, kGate, x)) * Project(l, kUp, x));
  }
  h = RmsNorm(h, norm_);
  return lm_head_ ? lm_head_->forward(h) : torch::matmul(h, embed_->weight.t());
}

Status LoadLlamaWeights(Llama& model, const formats::Safetensors& st, const std::string& file) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing, shape;
  std::set<std::string> used;
  for (auto& p : model->named_parameters()) {
    const formats::Tensor* t = st.Find(p.key());
    if (!t) {
      missing.push_back(p.key());
      continue;
    }
    used.insert(p.key());
    std::vector<std::int64_t> want = p.value().sizes().vec();
    if (t->shape != want) {
      shape.push_back(p.key());
      continue;
    }
    torch::Tensor src;
    if (t->dtype == formats::DType::kF32) {
      src = torch::from_blob(const_cast<char*>(t->bytes.data()), want, torch::kFloat).clone();
    } else if (t->dtype == formats::DType::kF16 || t->dtype == formats::DType::kBF16) {
      src = torch::from_blob(const_cast<char*>(t->bytes.data()), want,
                             t->dtype == formats::DType::kF16 ? torch::kHalf : torch::kBFloat16)
                .to(torch::kFloat);
    } else {
      shape.push_back(p.key() + " (dtype " + formats::DTypeName(t->dtype) + ")");
      continue;
    }
    p.value().copy_(src);
  }
  std::vector<std::string> unexpected;
  for (const formats::Tensor& t : st.tensors) {
    const bool tied_head = t.name == "lm_head.weight" && model->config().tie_word_embeddings;
    if (!used.count(t.name) && !tied_head && t.name.find("rotary_emb") == std::string::npos) {
      unexpected.push_back(t.name);
    }
  }
  if (missing.empty() && shape.empty() && unexpected.empty()) return OkStatus();
  auto list = [](const std::vector<std::string>& v) {
    std::string out;
    for (std::size_t i = 0; i < v.size() && i < 8; ++i) out += (i ? ", " : "") + v[i];
    return v.size() > 8 ? out + ", ..." : out;
  };
  std::string message = file + " does not fit the model:";
  if (!missing.empty()) message += " missing " + list(missing) + ";";
  if (!shape.empty()) message += " wrong shape " + list(shape) + ";";
  if (!unexpected.empty()) message += " unexpected " + list(unexpected) + ";";
  return InvalidArgument(message);
}

namespace {

bool IsAdapter(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos;
}

}  // namespace

formats::Safetensors LlamaWeights(const Llama& model) {
  formats::Safetensors st;
  for (const auto& p : model->named_parameters()) st.tensors.push_back(ToF32(p.key(), p.value()));
  return st;
}

formats::Safetensors AdapterWeights(const Llama& model) {
  formats::Safetensors st;
  for (const auto& p : model->named_parameters()) {
    if (IsAdapter(p.key())) st.tensors.push_back(ToF32("base_model.model." + p.key(), p.value()));
  }
  return st;
}

std::string AdapterConfigJson(const manifest::LoraConfig& lora,
                              const std::vector<std::string>& modules,
                              const std::string& base_model, const std::string& task_type) {
  std::vector<std::string> targets = lora.target_modules;
  if (targets.empty()) {
    for (const std::string& m : modules) {
      const std::string short_name = m.substr(m.rfind('.') + 1);
      if (std::find(targets.begin(), targets.end(), short_name) == targets.end())
        targets.push_back(short_name);
    }
  }
  nlohmann::ordered_json j = {{"peft_type", "LORA"},
                              {"task_type", task_type.empty() ? nlohmann::ordered_json(nullptr)
                                                              : nlohmann::ordered_json(task_type)},
                              {"base_model_name_or_path", base_model},
                              {"r", lora.rank},
                              {"lora_alpha", lora.alpha},
                              {"lora_dropout", lora.dropout},
                              {"target_modules", targets},
                              {"bias", lora.bias},
                              {"fan_in_fan_out", false},
                              {"inference_mode", true},
                              {"init_lora_weights", lora.init_weights}};
  return j.dump(2) + "\n";
}

Status LoadAdapterWeights(Llama& model, const formats::Safetensors& st, const std::string& file) {
  torch::NoGradGuard no_grad;
  std::size_t loaded = 0;
  for (auto& p : model->named_parameters()) {
    if (!IsAdapter(p.key())) continue;
    const formats::Tensor* t = st.Find("base_model.model." + p.key());
    if (!t) return InvalidArgument(file + " lacks base_model.model." + p.key());
    if (t->shape != p.value().sizes().vec() || t->dtype != formats::DType::kF32)
      return InvalidArgument(file + ": " + t->name + " has another shape or type");
    p.value().copy_(torch::from_blob(const_cast<char*>(t->bytes.data()), t->shape, torch::kFloat));
    ++loaded;
  }
  if (loaded != st.tensors.size())
    return InvalidArgument(file + " holds adapters this model does not have");
  return OkStatus();
}

formats::Safetensors MergedWeights(const Llama& model) {
  torch::NoGradGuard no_grad;
  formats::Safetensors st;
  const auto params = model->named_parameters();
  // Projection weights come dequantized when stored 4-bit.
  std::map<std::string, torch::Tensor> projections;
  for (std::size_t i = 0; i < model->layers().size(); ++i) {
    for (int p = 0; p < LlamaImpl::kCount; ++p) {
      projections["model.layers." + std::to_string(i) + "." + LlamaImpl::kProjections[p] +
                  ".weight"] = model->ProjectionWeight(i, p);
    }
  }
  for (const auto& p : params) {
    if (IsAdapter(p.key())) continue;
    const auto proj = projections.find(p.key());
    torch::Tensor w =
        proj != projections.end() ? proj->second : p.value().detach().to(torch::kFloat);
    const std::string stem = p.key().substr(0, p.key().size() - std::string(".weight").size());
    if (const torch::Tensor* a = params.find(stem + ".lora_A.weight")) {
      const torch::Tensor& b = params[stem + ".lora_B.weight"];
      w = w + model->lora_scale() * torch::matmul(b.to(torch::kFloat), a->to(torch::kFloat));
    }
    st.tensors.push_back(ToF32(p.key(), w));
  }
  return st;
}

}  // namespace entrenar::engine
