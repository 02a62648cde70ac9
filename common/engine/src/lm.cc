// Language models in the trainer (see lm.h).
#include "lm.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/engine/dataset.h"

#include "model.h"

namespace entrenar::engine {
namespace {

namespace fs = std::filesystem;
using manifest::Manifest;

// Where a model source's config.json and weights are.
struct SourceFiles {
  std::string config;   // "" when there is none
  std::string weights;  // model.safetensors, a shard index, or a .safetensors file
  std::string base;     // what adapter_config.json names as the base model
};

Result<SourceFiles> LocateSource(const std::string& path) {
  SourceFiles f;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    f.base = path;
    f.config = path + "/config.json";
    if (!fs::exists(f.config, ec)) {
      return NotFound("model.source: " + path +
                      " has no config.json (a Hugging Face model "
                      "directory has config.json and model.safetensors)");
    }
    for (const char* name : {"model.safetensors", "model.safetensors.index.json"}) {
      if (fs::exists(path + "/" + name, ec)) f.weights = path + "/" + name;
    }
    if (f.weights.empty()) {
      return NotFound("model.source: " + path +
                      " has neither model.safetensors nor model.safetensors.index.json");
    }
    return f;
  }
  if (!fs::exists(path, ec)) return NotFound("model.source: " + path + " does not exist");
  f.weights = path;
  f.base = path;
  const std::string dir_config = (fs::path(path).parent_path() / "config.json").string();
  if (fs::exists(dir_config, ec)) f.config = dir_config;
  return f;
}

// model.format: gguf, or a .gguf file without model.format.
bool IsGgufSource(const Manifest& m, const std::string& file) {
  if (m.model.format) return *m.model.format == "gguf";
  return fs::path(file).extension() == ".gguf";
}

// The weights of `file`: one safetensors file, or every shard a model.safetensors.index.json
// names.
Result<formats::Safetensors> ReadWeights(const std::string& file) {
  const std::string index_suffix = ".index.json";
  if (file.size() < index_suffix.size() ||
      file.compare(file.size() - index_suffix.size(), index_suffix.size(), index_suffix) != 0) {
    return formats::ReadSafetensorsFile(file);
  }
  ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(file));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    return InvalidArgument(file + ": no weight_map object");
  std::set<std::string> shards;
  for (const auto& [name, shard] : j["weight_map"].items()) {
    if (!shard.is_string()) return InvalidArgument(file + ": weight_map." + name + " is no file");
    shards.insert(shard.get<std::string>());
  }
  formats::Safetensors all;
  const fs::path dir = fs::path(file).parent_path();
  for (const std::string& shard : shards) {
    ENTRENAR_ASSIGN_OR_RETURN(formats::Safetensors part,
                              formats::ReadSafetensorsFile((dir / shard).string()));
    for (formats::Tensor& t : part.tensors) all.tensors.push_back(std::move(t));
  }
  return all;
}

// model.architecture's transformer keys over `c` (a new model), or checked against it (loaded).
Status ApplyArchitecture(const Manifest& m, const TextData& d, bool loaded, LlamaConfig* c) {
  if (!m.model.architecture) {
    if (loaded) return OkStatus();
    return InvalidArgument(
        "model: a new transformer needs model.architecture (type: transformer, hidden_size, "
        "num_layers, num_heads), or model.source naming a Hugging Face model directory");
  }
  const manifest::ArchitectureConfig& a = *m.model.architecture;
  Status status = OkStatus();
  auto take = [&](const char* key, const auto& value, auto* field) {
    if (!value || !status.ok()) return;
    using Field = std::remove_pointer_t<decltype(field)>;
    const auto want = static_cast<Field>(*value);
    if (loaded && *field != want) {
      status = InvalidArgument("model.architecture." + std::string(key) + ": " +
                               std::to_string(*value) + " differs from the model's config.json (" +
                               std::to_string(*field) + "); leave it out to use the model's");
    }
    *field = want;
  };
  take("hidden_size", a.hidden_size, &c->hidden_size);
  take("num_layers", a.num_layers, &c->num_hidden_layers);
  take("num_heads", a.num_heads, &c->num_attention_heads);
  take("num_kv_heads", a.num_kv_heads, &c->num_key_value_heads);
  take("intermediate_size", a.intermediate_size, &c->intermediate_size);
  take("vocab_size", a.vocab_size, &c->vocab_size);
  take("max_seq_length", a.max_seq_length, &c->max_position_embeddings);
  take("rms_norm_eps", a.rms_norm_eps, &c->rms_norm_eps);
  take("rope_theta", a.rope_theta, &c->rope_theta);
  take("tie_word_embeddings", a.tie_word_embeddings, &c->tie_word_embeddings);
  ENTRENAR_RETURN_IF_ERROR(status);
  if (loaded) return OkStatus();
  for (const auto& [key, value] : {std::pair{"hidden_size", a.hidden_size.has_value()},
                                   {"num_layers", a.num_layers.has_value()},
                                   {"num_heads", a.num_heads.has_value()}}) {
    if (!value)
      return InvalidArgument("model.architecture." + std::string(key) +
                             " is required for a new transformer");
  }
  if (!a.num_kv_heads) c->num_key_value_heads = c->num_attention_heads;
  // LLaMA's MLP width: 8/3 of hidden, rounded up to a multiple of 64.
  if (!a.intermediate_size) c->intermediate_size = (8 * c->hidden_size / 3 + 63) / 64 * 64;
  if (!a.vocab_size) c->vocab_size = d.vocab_size;
  if (!a.max_seq_length) c->max_position_embeddings = std::max<std::int64_t>(d.max_length, 2048);
  if (!a.rms_norm_eps) c->rms_norm_eps = 1e-6;
  if (!a.tie_word_embeddings) c->tie_word_embeddings = false;
  const std::int64_t heads = c->num_attention_heads, kv = c->num_key_value_heads;
  if (c->hidden_size % heads != 0 || heads % kv != 0 || c->HeadDim() % 2 != 0) {
    return InvalidArgument(
        "model.architecture: hidden_size must split into num_heads heads of an even size, and "
        "num_heads into num_kv_heads groups");
  }
  return OkStatus();
}

void InitNew(Llama& model) {
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    if (p.key().find("norm") == std::string::npos) p.value().normal_(0, 0.02);
  }
}

std::string ConfigJson(const LlamaConfig& c) {
  nlohmann::ordered_json j = {{"architectures", {"LlamaForCausalLM"}},
                              {"model_type", "llama"},
                              {"vocab_size", c.vocab_size},
                              {"hidden_size", c.hidden_size},
                              {"intermediate_size", c.intermediate_size},
                              {"num_hidden_layers", c.num_hidden_layers},
                              {"num_attention_heads", c.num_attention_heads},
                              {"num_key_value_heads", c.num_key_value_heads},
                              {"max_position_embeddings", c.max_position_embeddings},
                              {"rms_norm_eps", c.rms_norm_eps},
                              {"rope_theta", c.rope_theta},
                              {"tie_word_embeddings", c.tie_word_embeddings},
                              {"hidden_act", "silu"},
                              {"torch_dtype", "float32"}};
  if (c.rope_scaling_factor != 1) {
    j["rope_scaling"] = {{"type", "linear"}, {"factor", c.rope_scaling_factor}};
  }
  return j.dump(2) + "\n";
}

// A PEFT adapter directory as model.source: its base model, and the LoRA settings it was
// trained with (the manifest's, where set, must agree).
struct AdapterSource {
  std::string dir, base;
  manifest::LoraConfig lora;
};

Result<std::optional<AdapterSource>> ReadAdapterSource(const Manifest& m, const std::string& dir) {
  const std::string file = dir + "/adapter_config.json";
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::optional<AdapterSource>();
  if (!m.lora.enabled) {
    // A run directory with the merged model too loads as that plain model.
    if (fs::exists(dir + "/model.safetensors", ec)) return std::optional<AdapterSource>();
    return InvalidArgument("model.source: " + dir +
                           " is a LoRA adapter; set lora.enabled: true to load and train it");
  }
  ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(file));
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  AdapterSource a;
  a.dir = dir;
  a.lora = m.lora;
  try {
    a.base = j.at("base_model_name_or_path").get<std::string>();
    a.lora.rank = j.at("r").get<std::int64_t>();
    a.lora.alpha = j.at("lora_alpha").get<double>();
    a.lora.target_modules = j.at("target_modules").get<std::vector<std::string>>();
    a.lora.target_modules_pattern.reset();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgument(file +
                           ": expected base_model_name_or_path, r, lora_alpha and "
                           "target_modules (PEFT's adapter_config.json)");
  }
  if (fs::path(a.base).is_relative()) a.base = (fs::path(dir) / a.base).lexically_normal();
  auto differs = [&](const char* key, bool same) -> Status {
    if (same || !m.IsSet(std::string("lora.") + key)) return OkStatus();
    return InvalidArgument(std::string("lora.") + key + " differs from " + file +
                           "; leave it out to continue the adapter as it was trained");
  };
  ENTRENAR_RETURN_IF_ERROR(differs("rank", a.lora.rank == m.lora.rank));
  ENTRENAR_RETURN_IF_ERROR(differs("alpha", a.lora.alpha == m.lora.alpha));
  ENTRENAR_RETURN_IF_ERROR(
      differs("target_modules", a.lora.target_modules == m.lora.target_modules));
  return std::optional<AdapterSource>(std::move(a));
}

// The GGUF tensor type of an export: ggml's Q8_0 (blocks of 32 with one scale each) for a model
// quantized to exactly that grid (8 bits, symmetric, per_group of 32, minmax ranges); Q4_0 for
// 4 bits, symmetric, per_group of 32 (ggml's 4-bit grid differs from ours: values are rounded
// again); F16 for a float16 or bfloat16 model; else float32, holding whatever values the model
// has.
formats::GgmlType GgufType(const Manifest& m) {
  const manifest::QuantizeConfig& q = m.quantize;
  const bool blocks = q.enabled && q.scheme == "symmetric" && q.granularity == "per_group" &&
                      q.group_size.value_or(0) == 32;
  const std::string method = q.qat.enabled ? q.qat.observer : q.calibration.method;
  if (blocks && q.bits == 8 && method == "minmax") return formats::GgmlType::kQ8_0;
  if (blocks && q.bits == 4) return formats::GgmlType::kQ4_0;
  if (!q.enabled && m.model.dtype != "float32") return formats::GgmlType::kF16;
  return formats::GgmlType::kF32;
}

}  // namespace

Result<LmModel> BuildLm(const Manifest& m, const TextData& d, const std::string& base_dir) {
  LmModel lm;
  LlamaConfig config;
  SourceFiles files;
  std::optional<AdapterSource> adapter;
  std::optional<GgufModel> gguf;
  if (m.model.source) {
    std::string source = ResolvePath(base_dir, *m.model.source);
    ENTRENAR_ASSIGN_OR_RETURN(adapter, ReadAdapterSource(m, source));
    if (adapter) source = adapter->base;
    ENTRENAR_ASSIGN_OR_RETURN(files, LocateSource(source));
    if (IsGgufSource(m, files.weights)) {
      Result<formats::Gguf> g = formats::ReadGgufFile(files.weights);
      if (!g.ok()) {
        return Status(g.status().code(),
                      "model.source: " + files.weights + ": " + g.status().message());
      }
      ENTRENAR_ASSIGN_OR_RETURN(gguf, LlamaFromGguf(*g, files.weights));
      config = gguf->config;
      files.config.clear();  // the GGUF's own metadata, not a config.json beside it
    } else if (!files.config.empty()) {
      ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(files.config));
      Result<LlamaConfig> parsed = ParseLlamaConfig(text);
      if (!parsed.ok()) {
        return Status(parsed.status().code(),
                      "model.source: " + files.config + ": " + parsed.status().message());
      }
      config = *parsed;
    }
    lm.base = fs::absolute(files.base).lexically_normal().string();
  }
  ENTRENAR_RETURN_IF_ERROR(
      ApplyArchitecture(m, d, !files.config.empty() || gguf.has_value(), &config));
  if (d.vocab_size > config.vocab_size) {
    return InvalidArgument("model: the tokenizer has " + std::to_string(d.vocab_size) +
                           " tokens but the model's vocab_size is " +
                           std::to_string(config.vocab_size));
  }
  if (d.max_length > config.max_position_embeddings) {
    return InvalidArgument(
        "data.preprocessing: tokenize.max_length (" + std::to_string(d.max_length) +
        ") is longer than the model's " + std::to_string(config.max_position_embeddings) +
        " positions (max_position_embeddings, model.architecture.max_seq_length); lower "
        "max_length or give the model more positions");
  }
  lm.model = Llama(config);
  if (gguf) {
    ENTRENAR_RETURN_IF_ERROR(
        LoadLlamaWeights(lm.model, gguf->weights, "model.source: " + files.weights));
  } else if (files.weights.empty()) {
    InitNew(lm.model);
  } else {
    ENTRENAR_ASSIGN_OR_RETURN(const formats::Safetensors st, ReadWeights(files.weights));
    ENTRENAR_RETURN_IF_ERROR(LoadLlamaWeights(lm.model, st, "model.source: " + files.weights));
  }
  for (const auto& p : lm.model->parameters()) lm.total_parameters += p.numel();
  ENTRENAR_RETURN_IF_ERROR(ApplyFreeze(*lm.model, "", m.model.freeze));
  if (m.lora.enabled) {
    lm.lora = adapter ? adapter->lora : m.lora;
    const manifest::LoraConfig& lora = lm.lora;
    if (lora.quantize_base) ENTRENAR_RETURN_IF_ERROR(lm.model->QuantizeBase(lora));
    ENTRENAR_ASSIGN_OR_RETURN(lm.lora_modules, lm.model->ApplyLora(lora));
  }
  if (adapter) {
    const std::string file = adapter->dir + "/adapter_model.safetensors";
    ENTRENAR_ASSIGN_OR_RETURN(const formats::Safetensors st, formats::ReadSafetensorsFile(file));
    ENTRENAR_RETURN_IF_ERROR(LoadAdapterWeights(lm.model, st, "model.source: " + file));
  }
  return lm;
}

std::pair<torch::Tensor, torch::Tensor> LmTensors(const std::vector<TextExample>& examples,
                                                  std::int64_t width) {
  const bool packed = std::any_of(examples.begin(), examples.end(),
                                  [](const TextExample& e) { return !e.segment.empty(); });
  if (width == 0) {
    for (const TextExample& e : examples)
      width = std::max(width, static_cast<std::int64_t>(e.ids.size()));
  }
  width = std::max<std::int64_t>(width, 1);
  const auto n = static_cast<std::int64_t>(examples.size());
  // Packed rows carry each token's segment as a second channel: [n, 2, width].
  torch::Tensor x = packed ? torch::full({n, 2, width}, -1, torch::kLong)
                           : torch::full({n, width}, -1, torch::kLong);
  torch::Tensor y = torch::full({n, width}, -100, torch::kLong);
  torch::Tensor ids = packed ? x.select(1, 0) : x;
  auto xa = ids.accessor<std::int64_t, 2>();
  auto ya = y.accessor<std::int64_t, 2>();
  for (std::int64_t r = 0; r < n; ++r) {
    const TextExample& e = examples[static_cast<std::size_t>(r)];
    const auto len = std::min<std::int64_t>(width, static_cast<std::int64_t>(e.ids.size()));
    for (std::int64_t t = 0; t < len; ++t) {
      xa[r][t] = e.ids[static_cast<std::size_t>(t)];
      if (packed && !e.segment.empty()) x[r][1][t] = e.segment[static_cast<std::size_t>(t)];
      // Position t predicts token t+1.
      if (t + 1 < len && e.target[static_cast<std::size_t>(t + 1)])
        ya[r][t] = e.ids[static_cast<std::size_t>(t + 1)];
    }
  }
  return {x, y};
}

torch::Tensor LmForward(Llama& model, const torch::Tensor& x) {
  const torch::Tensor ids_all = x.dim() == 3 ? x.select(1, 0) : x;
  const std::int64_t t =
      std::max<std::int64_t>((ids_all >= 0).sum(1).max().item<std::int64_t>(), 1);
  const torch::Tensor ids = ids_all.slice(1, 0, t).clamp_min(0);
  // Right padding under causal attention: no real token attends to a pad, so no mask is needed.
  if (x.dim() == 2) return model->forward(ids);
  // Packed rows: positions restart at each segment, and attention stays inside it.
  const torch::Tensor segment = x.select(1, 1).slice(1, 0, t);
  const torch::Tensor index = torch::arange(t, segment.options()).expand_as(segment);
  const torch::Tensor start = torch::ones_like(segment, torch::kBool);
  start.slice(1, 1).copy_(segment.slice(1, 1) != segment.slice(1, 0, t - 1));
  const torch::Tensor first =
      std::get<0>(torch::cummax(torch::where(start, index, torch::zeros_like(index)), 1));
  const torch::Tensor positions = index - first;
  const torch::Tensor later =
      torch::ones({t, t}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).triu(1);
  const torch::Tensor blocked = (segment.unsqueeze(2) != segment.unsqueeze(1)) | later.unsqueeze(0);
  return model->forward_packed(ids, positions, blocked.unsqueeze(1));
}

torch::Tensor LmLoss(const torch::Tensor& logits, const torch::Tensor& y) {
  const torch::Tensor target = y.slice(1, 0, logits.size(1)).reshape({-1});
  return torch::nn::functional::cross_entropy(
      logits.reshape({-1, logits.size(-1)}).to(torch::kFloat), target,
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
}

std::map<std::string, double> LmEvaluate(Llama& model, const torch::Tensor& x,
                                         const torch::Tensor& y, std::int64_t batch,
                                         const Precision& prec, const std::string& prefix) {
  std::map<std::string, double> out;
  if (x.size(0) == 0) return out;
  torch::NoGradGuard no_grad;
  model->eval();
  double loss_sum = 0;
  std::int64_t tokens = 0, correct = 0;
  for (std::int64_t i = 0; i < x.size(0); i += batch) {
    const std::int64_t end = std::min(x.size(0), i + batch);
    const torch::Tensor xb = x.slice(0, i, end).to(prec.device);
    torch::Tensor logits;
    {
      AutocastScope autocast(prec);
      logits = LmForward(model, xb).to(torch::kFloat);
    }
    const torch::Tensor yb = y.slice(0, i, end).slice(1, 0, logits.size(1)).to(prec.device);
    const torch::Tensor counted = yb != -100;
    const torch::Tensor flat = logits.reshape({-1, logits.size(-1)});
    loss_sum += torch::nn::functional::cross_entropy(
                    flat, yb.reshape({-1}),
                    torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(
                        torch::kSum))
                    .item<double>();
    tokens += counted.sum().item<std::int64_t>();
    correct += ((logits.argmax(-1) == yb) & counted).sum().item<std::int64_t>();
  }
  model->train();
  if (tokens == 0) return out;
  const double loss = loss_sum / static_cast<double>(tokens);
  out[prefix + "loss"] = loss;
  out[prefix + "perplexity"] = std::exp(loss);
  out[prefix + "accuracy"] = static_cast<double>(correct) / static_cast<double>(tokens);
  return out;
}

std::vector<std::int32_t> Generate(Llama& model, std::vector<std::int32_t> prompt,
                                   std::int64_t max_tokens, double temperature, std::int32_t eos,
                                   const Precision& prec, std::mt19937_64& rng) {
  torch::NoGradGuard no_grad;
  model->eval();
  std::vector<std::int32_t> out;
  const std::int64_t limit = model->config().max_position_embeddings;
  LlamaImpl::KvCache cache;
  // The prompt once, then each new token against the cached keys and values.
  std::vector<std::int32_t> next_input = std::move(prompt);
  for (std::int64_t i = 0; i < max_tokens && !next_input.empty(); ++i) {
    if (cache.length + static_cast<std::int64_t>(next_input.size()) > limit) break;
    const torch::Tensor ids =
        torch::tensor(std::vector<std::int64_t>(next_input.begin(), next_input.end()), torch::kLong)
            .view({1, -1})
            .to(prec.device);
    torch::Tensor logits;
    {
      AutocastScope autocast(prec);
      logits = model->forward_cached(ids, cache)[0][-1].to(torch::kCPU, torch::kDouble);
    }
    std::int32_t next = 0;
    if (temperature <= 0) {
      next = static_cast<std::int32_t>(logits.argmax().item<std::int64_t>());
    } else {
      const torch::Tensor p = torch::softmax(logits / temperature, 0).contiguous();
      const double* pp = p.data_ptr<double>();
      double u = std::uniform_real_distribution<double>(0, 1)(rng);
      next = static_cast<std::int32_t>(p.numel() - 1);
      for (std::int64_t k = 0; k < p.numel(); ++k) {
        if ((u -= pp[k]) <= 0) {
          next = static_cast<std::int32_t>(k);
          break;
        }
      }
    }
    out.push_back(next);
    if (next == eos) break;
    next_input = {next};
  }
  model->train();
  return out;
}

formats::Safetensors LmCheckpointWeights(const LmModel& lm) {
  if (lm.lora_modules.empty()) return LlamaWeights(lm.model);
  formats::Safetensors st = AdapterWeights(lm.model);
  return st;
}

Status LoadLmCheckpoint(LmModel& lm, const formats::Safetensors& st, const std::string& file) {
  if (lm.lora_modules.empty()) return LoadLlamaWeights(lm.model, st, file);
  return LoadAdapterWeights(lm.model, st, file);
}

Result<std::vector<std::string>> SaveLm(const LmModel& lm, const Manifest& m, const TextData& d,
                                        const std::string& dir) {
  std::vector<std::string> written;
  auto write = [&](const std::string& name, const std::string& bytes) -> Status {
    ENTRENAR_RETURN_IF_ERROR(WriteFileAtomic(dir + "/" + name, bytes));
    written.push_back(name);
    return OkStatus();
  };
  auto write_st = [&](const std::string& name, formats::Safetensors st) -> Status {
    st.metadata["format"] = "pt";
    st.metadata["entrenar.name"] = m.name;
    st.metadata["entrenar.version"] = m.version;
    ENTRENAR_RETURN_IF_ERROR(formats::WriteSafetensorsFile(dir + "/" + name, st));
    written.push_back(name);
    return OkStatus();
  };
  ENTRENAR_RETURN_IF_ERROR(write("config.json", ConfigJson(lm.model->config())));
  ENTRENAR_ASSIGN_OR_RETURN(const std::string tokenizer, ReadWholeFile(d.tokenizer));
  const bool sentencepiece = fs::path(d.tokenizer).extension() == ".model";
  ENTRENAR_RETURN_IF_ERROR(write(sentencepiece ? "tokenizer.model" : "tokenizer.json", tokenizer));
  if (m.output.model.format == "gguf") {
    ENTRENAR_ASSIGN_OR_RETURN(const formats::Gguf g,
                              LlamaGguf(lm.model, d.tokenizer, m.name, GgufType(m)));
    ENTRENAR_RETURN_IF_ERROR(formats::WriteGgufFile(dir + "/model.gguf", g));
    written.push_back("model.gguf");
  }
  if (lm.lora_modules.empty()) {
    ENTRENAR_RETURN_IF_ERROR(write_st("model.safetensors", LlamaWeights(lm.model)));
    return written;
  }
  ENTRENAR_RETURN_IF_ERROR(write_st("adapter_model.safetensors", AdapterWeights(lm.model)));
  ENTRENAR_RETURN_IF_ERROR(
      write("adapter_config.json", AdapterConfigJson(lm.lora, lm.lora_modules, lm.base)));
  if (m.output.model.merge_lora)
    ENTRENAR_RETURN_IF_ERROR(write_st("model.safetensors", MergedWeights(lm.model)));
  return written;
}

}  // namespace entrenar::engine
