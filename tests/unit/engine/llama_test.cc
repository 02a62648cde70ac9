#include "llama.h"

#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/text/tokenizer.h"

#include "lm.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::engine {
namespace {

const std::string kTiny = R"({
  "model_type": "llama", "vocab_size": 50, "hidden_size": 32, "intermediate_size": 48,
  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "max_position_embeddings": 64, "rope_theta": 500000.0, "rms_norm_eps": 1e-5,
  "rope_scaling": {"type": "linear", "factor": 2.0}, "tie_word_embeddings": false})";

Llama TinyModel(const std::string& config = kTiny) {
  torch::manual_seed(3);
  Llama model(*ParseLlamaConfig(config));
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.normal_(0, 0.3);  // norms too: not all ones
  return model;
}

TEST_CASE("config.json is read with its defaults and checked", "[unit][engine]") {
  Result<LlamaConfig> c = ParseLlamaConfig(kTiny);
  REQUIRE(c.ok());
  CHECK(c->HeadDim() == 8);
  CHECK(c->num_key_value_heads == 2);
  CHECK(c->rope_scaling_factor == 2.0);
  CHECK(ParseLlamaConfig(R"({"vocab_size": 10, "hidden_size": 8})").status().message() ==
        "config.json: `intermediate_size` is missing");
  CHECK(ParseLlamaConfig(R"({"model_type": "gpt2"})").status().code() ==
        StatusCode::kUnimplemented);
  CHECK(ParseLlamaConfig(R"({"vocab_size": 10, "hidden_size": 12, "intermediate_size": 8,
    "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 3})")
            .status()
            .code() == StatusCode::kInvalidArgument);
  CHECK(ParseLlamaConfig(R"({"vocab_size": 10, "hidden_size": 8, "intermediate_size": 8,
    "num_hidden_layers": 1, "num_attention_heads": 2, "rope_scaling": {"type": "yarn"}})")
            .status()
            .code() == StatusCode::kUnimplemented);
}

TEST_CASE("parameters carry the Hugging Face names", "[unit][engine]") {
  Llama model = TinyModel();
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back(p.key());
  for (const char* want :
       {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight",
        "model.layers.1.self_attn.k_proj.weight", "model.layers.1.mlp.down_proj.weight",
        "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
        "model.norm.weight", "lm_head.weight"}) {
    CHECK(std::find(names.begin(), names.end(), want) != names.end());
  }
  CHECK(names.size() == 1 + 2 * 9 + 1 + 1);
  // k_proj is num_key_value_heads × head_dim wide (grouped-query attention).
  CHECK(model->named_parameters()["model.layers.0.self_attn.k_proj.weight"].sizes() ==
        torch::IntArrayRef{16, 32});
  nlohmann::json tied = nlohmann::json::parse(kTiny);
  tied["tie_word_embeddings"] = true;
  Llama t = TinyModel(tied.dump());
  CHECK(t->named_parameters().find("lm_head.weight") == nullptr);
}

TEST_CASE("the decoder's logits equal a PyTorch reference written from modeling_llama",
          "[unit][engine]") {
  testing::TempDir dir;
  for (const bool tie : {false, true}) {
    nlohmann::json config = nlohmann::json::parse(kTiny);
    config["tie_word_embeddings"] = tie;
    Llama model = TinyModel(config.dump());
    std::ofstream(dir.path + "/config.json") << config.dump();
    REQUIRE(
        formats::WriteSafetensorsFile(dir.path + "/model.safetensors", LlamaWeights(model)).ok());
    const std::vector<std::vector<std::int64_t>> ids = {{1, 7, 3, 49, 0, 12, 5, 8, 8, 30},
                                                        {4, 4, 2, 9, 31, 17, 6, 1, 44, 2}};
    std::ofstream(dir.path + "/ids.json") << nlohmann::json(ids).dump();
    const auto r = testing::RunProcess(
        {"/usr/bin/python3", std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/llama_reference.py",
         dir.path, dir.path + "/ids.json"},
        "", 120);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto reference = nlohmann::json::parse(r.out);
    torch::NoGradGuard no_grad;
    const torch::Tensor input =
        torch::tensor({1, 7, 3, 49, 0, 12, 5, 8, 8, 30, 4, 4, 2, 9, 31, 17, 6, 1, 44, 2},
                      torch::kLong)
            .view({2, 10});
    const torch::Tensor logits = model->forward(input);
    REQUIRE(logits.sizes() == torch::IntArrayRef{2, 10, 50});
    double worst = 0;
    for (int b = 0; b < 2; ++b) {
      for (int t = 0; t < 10; ++t) {
        for (int v = 0; v < 50; ++v) {
          worst = std::max(
              worst, std::abs(logits[b][t][v].item<double>() - reference[b][t][v].get<double>()));
        }
      }
    }
    INFO("tied " << tie << ", worst difference " << worst);
    CHECK(worst < 1e-4);
    CHECK(logits.abs().max().item<double>() > 0.5);  // not a degenerate comparison
  }
}

TEST_CASE("padding is masked, and weights reload by name", "[unit][engine]") {
  Llama model = TinyModel();
  torch::NoGradGuard no_grad;
  const torch::Tensor short_ids = torch::tensor({3, 9, 27}, torch::kLong).view({1, 3});
  const torch::Tensor padded = torch::tensor({3, 9, 27, 0, 0}, torch::kLong).view({1, 5});
  const torch::Tensor mask = torch::tensor({1, 1, 1, 0, 0}, torch::kLong).view({1, 5});
  const torch::Tensor a = model->forward(short_ids);
  const torch::Tensor b = model->forward(padded, mask).slice(1, 0, 3);
  CHECK(torch::allclose(a, b, 1e-5, 1e-5));
  // Causal: a prefix's logits do not depend on what follows.
  const torch::Tensor longer = torch::tensor({3, 9, 27, 11, 12}, torch::kLong).view({1, 5});
  CHECK(torch::allclose(a, model->forward(longer).slice(1, 0, 3), 1e-5, 1e-5));

  Llama fresh(*ParseLlamaConfig(kTiny));
  const formats::Safetensors st = LlamaWeights(model);
  REQUIRE(LoadLlamaWeights(fresh, st, "w.safetensors").ok());
  CHECK(torch::equal(fresh->forward(longer), model->forward(longer)));
  formats::Safetensors partial = st;
  partial.tensors.erase(partial.tensors.begin() + 2);
  partial.tensors.push_back(formats::MakeF32Tensor("model.extra.weight", {1}, {0.f}));
  const Status s = LoadLlamaWeights(fresh, partial, "w.safetensors");
  CHECK(s.message().find("missing " + st.tensors[2].name) != std::string::npos);
  CHECK(s.message().find("unexpected model.extra.weight") != std::string::npos);
}

}  // namespace
}  // namespace entrenar::engine

namespace entrenar::engine {
namespace {

manifest::LoraConfig Lora(std::vector<std::string> targets) {
  manifest::LoraConfig l;
  l.enabled = true;
  l.rank = 4;
  l.alpha = 8;
  l.dropout = 0;
  l.target_modules = std::move(targets);
  return l;
}

TEST_CASE("LoRA starts from the base model exactly and trains only the adapters",
          "[unit][engine]") {
  Llama model = TinyModel();
  const torch::Tensor ids = torch::tensor({3, 9, 27, 11, 12, 40}, torch::kLong).view({1, 6});
  torch::Tensor before;
  {
    torch::NoGradGuard no_grad;
    before = model->forward(ids);
  }
  std::map<std::string, torch::Tensor> base;
  for (const auto& p : model->named_parameters()) base[p.key()] = p.value().detach().clone();
  Result<std::vector<std::string>> wrapped = model->ApplyLora(Lora({"q_proj", "v_proj"}));
  REQUIRE(wrapped.ok());
  CHECK(*wrapped == std::vector<std::string>{
                        "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.v_proj",
                        "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.v_proj"});
  {
    torch::NoGradGuard no_grad;
    CHECK(torch::equal(model->forward(ids), before));  // B = 0
  }
  std::int64_t trainable = 0;
  for (const auto& p : model->parameters()) trainable += p.requires_grad() ? p.numel() : 0;
  CHECK(trainable == 2 * (4 * (32 + 32) + 4 * (32 + 16)));  // q: 32 -> 32, v: 32 -> 16
  std::vector<torch::Tensor> params;
  std::map<std::string, torch::Tensor> start;
  for (const auto& p : model->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    params.push_back(p.value());
    start[p.key()] = p.value().detach().clone();
  }
  torch::optim::SGD sgd(params, torch::optim::SGDOptions(0.1));
  for (int step = 0; step < 3; ++step) {
    sgd.zero_grad();
    model->forward(ids).logsumexp(-1).mean().backward();
    sgd.step();
  }
  for (const auto& p : model->named_parameters()) {
    INFO(p.key());
    if (base.count(p.key())) {
      CHECK(torch::equal(p.value(), base[p.key()]));  // the base is untouched, tensor by tensor
    } else {
      CHECK_FALSE(torch::equal(p.value(), start.at(p.key())));  // A and B both trained
    }
  }
  torch::NoGradGuard no_grad;
  CHECK_FALSE(torch::allclose(model->forward(ids), before));
}

TEST_CASE("LoRA adapters save in PEFT's layout, reload, and merge", "[unit][engine]") {
  Llama model = TinyModel();
  const manifest::LoraConfig lora = [] {
    manifest::LoraConfig l = Lora({});
    l.target_modules_pattern = "mlp\\.(gate|down)_proj$";
    return l;
  }();
  Result<std::vector<std::string>> wrapped = model->ApplyLora(lora);
  REQUIRE(wrapped.ok());
  CHECK(wrapped->size() == 4);
  {
    torch::NoGradGuard no_grad;
    for (const auto& p : model->named_parameters()) {
      if (p.key().find("lora_B") != std::string::npos) p.value().normal_(0, 0.2);
    }
  }
  model->eval();
  const torch::Tensor ids = torch::tensor({5, 1, 2, 33, 48}, torch::kLong).view({1, 5});
  torch::NoGradGuard no_grad;
  const torch::Tensor adapted = model->forward(ids);
  const formats::Safetensors adapters = AdapterWeights(model);
  REQUIRE(adapters.tensors.size() == 8);
  CHECK(adapters.Find("base_model.model.model.layers.1.mlp.gate_proj.lora_A.weight") != nullptr);
  CHECK(adapters.Find("base_model.model.model.layers.0.mlp.down_proj.lora_B.weight")->shape ==
        std::vector<std::int64_t>{32, 4});
  const auto config = nlohmann::json::parse(AdapterConfigJson(lora, *wrapped, "tiny"));
  CHECK(config["peft_type"] == "LORA");
  CHECK(config["r"] == 4);
  CHECK(config["lora_alpha"] == 8.0);
  CHECK(config["target_modules"] == std::vector<std::string>{"gate_proj", "down_proj"});
  // The base plus the saved adapters reproduce the adapted model.
  Llama again = TinyModel();
  REQUIRE(again->ApplyLora(lora).ok());
  REQUIRE(LoadAdapterWeights(again, adapters, "adapter_model.safetensors").ok());
  again->eval();
  CHECK(torch::equal(again->forward(ids), adapted));
  // Merged weights in a plain model: the same logits within float tolerance.
  const formats::Safetensors merged = MergedWeights(model);
  for (const auto& t : merged.tensors) CHECK(t.name.find("lora") == std::string::npos);
  Llama plain(*ParseLlamaConfig(kTiny));
  REQUIRE(LoadLlamaWeights(plain, merged, "merged").ok());
  CHECK(torch::allclose(plain->forward(ids), adapted, 1e-4, 1e-5));
  // A target that matches nothing names the key.
  Llama none = TinyModel();
  CHECK(none->ApplyLora(Lora({"c_attn"})).status().message().find("lora.target_modules") == 0);
}

}  // namespace
}  // namespace entrenar::engine

namespace entrenar::engine {
namespace {

TEST_CASE("QLoRA keeps the base 4-bit, dequantized exactly in forward, and trains adapters",
          "[unit][engine]") {
  for (const char* type : {"nf4", "fp4"}) {
    INFO(type);
    Llama model = TinyModel();
    manifest::LoraConfig lora =
        Lora({"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"});
    lora.quantize_base = true;
    lora.quant_type = type;
    lora.double_quantize = true;
    const std::size_t fp32 = model->ProjectionBytes();
    REQUIRE(model->QuantizeBase(lora).ok());
    CHECK(model->ProjectionBytesFloat32() == fp32);
    CHECK(static_cast<double>(model->ProjectionBytes()) <= 0.3 * static_cast<double>(fp32));
    // A plain model holding the dequantized weights computes the same logits.
    Llama plain = TinyModel();
    {
      torch::NoGradGuard no_grad;
      auto params = plain->named_parameters();
      for (std::size_t i = 0; i < 2; ++i) {
        for (int p = 0; p < LlamaImpl::kCount; ++p) {
          params["model.layers." + std::to_string(i) + "." + LlamaImpl::kProjections[p] + ".weight"]
              .copy_(model->ProjectionWeight(i, p));
        }
      }
    }
    const torch::Tensor ids = torch::tensor({3, 9, 27, 11}, torch::kLong).view({1, 4});
    {
      torch::NoGradGuard no_grad;
      CHECK(torch::allclose(model->forward(ids), plain->forward(ids), 1e-5, 1e-6));
      // ... and differs from the float base by the quantization, not by a mistake.
      const torch::Tensor diff = (model->forward(ids) - TinyModel()->forward(ids)).abs().max();
      CHECK(diff.item<double>() > 0);
      CHECK(diff.item<double>() < 2.0);
    }
    REQUIRE(model->ApplyLora(lora).ok());
    std::vector<torch::Tensor> trainable;
    for (const auto& p : model->parameters()) {
      if (p.requires_grad()) trainable.push_back(p);
    }
    CHECK(trainable.size() == 2 * 7 * 2);
    torch::optim::SGD sgd(trainable, torch::optim::SGDOptions(0.1));
    sgd.zero_grad();
    model->forward(ids).logsumexp(-1).mean().backward();
    sgd.step();
    torch::NoGradGuard no_grad;
    CHECK(torch::equal(model->ProjectionWeight(0, LlamaImpl::kQ),
                       plain->named_parameters()["model.layers.0.self_attn.q_proj.weight"]));
    CHECK_FALSE(torch::allclose(model->forward(ids), plain->forward(ids)));  // adapters moved
    CHECK(MergedWeights(model).Find("model.layers.1.mlp.up_proj.weight")->shape ==
          std::vector<std::int64_t>{48, 32});
  }
  Llama other = TinyModel();
  manifest::LoraConfig eight = Lora({"q_proj"});
  eight.quantize_bits = 8;
  CHECK(other->QuantizeBase(eight).code() == StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace entrenar::engine

namespace entrenar::engine {
namespace {

// A model over the example tokenizer's 657 tokens, rope scaling and grouped-query attention
// included, with LoRA adapters that the export merges.
Llama GgufModel(bool tie, double rope_scaling) {
  nlohmann::json config = nlohmann::json::parse(kTiny);
  config["vocab_size"] = 660;  // three unused ids past the tokenizer's 657
  config["hidden_size"] = 64;  // heads of 16: llama.cpp's CPU attention wants more than 8
  config["intermediate_size"] = 96;
  config["max_position_embeddings"] = 128;
  config["tie_word_embeddings"] = tie;
  config["rope_scaling"] = rope_scaling == 1
                               ? nlohmann::json(nullptr)
                               : nlohmann::json{{"type", "linear"}, {"factor", rope_scaling}};
  Llama model = TinyModel(config.dump());
  {
    torch::NoGradGuard no_grad;  // norm weights near 1, as a trained model's
    for (auto& p : model->named_parameters()) {
      if (p.key().find("norm") != std::string::npos) p.value().normal_(1, 0.1);
    }
  }
  manifest::LoraConfig lora;
  lora.rank = 4;
  lora.alpha = 8;
  lora.dropout = 0;
  lora.target_modules = {"q_proj", "k_proj", "down_proj"};
  REQUIRE(model->ApplyLora(lora).ok());
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    if (p.key().find("lora_B") != std::string::npos) p.value().normal_(0, 0.2);
  }
  return model;
}

// Our logits and llama.cpp's for `ids`, and llama.cpp's tokens for `text`, from `gguf`.
nlohmann::json LlamaCpp(const std::string& gguf, const std::string& text,
                        const std::vector<std::int64_t>& ids) {
  testing::ProcessResult r =
      testing::RunProcess({"/usr/bin/env", "node",
                           std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/llama_cpp_logits.mjs",
                           gguf, text, nlohmann::json(ids).dump()},
                          "", 120);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

TEST_CASE("a GGUF export runs in llama.cpp with our logits and our tokenizer's tokens",
          "[unit][engine]") {
  const std::string source = ENTRENAR_SOURCE_DIR;
  testing::TempDir dir;
  // A SentencePiece model (LLaMA's kind: BPE, byte fallback, identity normalizer) beside the
  // example's byte-level BPE tokenizer.json.
  testing::ProcessResult spm = testing::RunProcess(
      {"/usr/bin/spm_train", "--input=" + source + "/examples/data/instruct.jsonl",
       "--model_prefix=" + dir.path + "/sp", "--vocab_size=500", "--model_type=bpe",
       "--byte_fallback=true", "--character_coverage=1.0", "--minloglevel=2",
       "--normalization_rule_name=identity"});
  REQUIRE(spm.exit_code == 0);
  const std::string text =
      "### Instruction:\nReverse the order of the words.\n\n### Input:\nred green blue\n";
  struct Case {
    std::string tokenizer;
    bool tie;
    double rope_scaling;
  };
  for (const Case& c : {Case{source + "/examples/data/instruct_tokenizer.json", false, 2.0},
                        Case{dir.path + "/sp.model", true, 1.0}}) {
    INFO(c.tokenizer << ", tied " << c.tie << ", rope scaling " << c.rope_scaling);
    const auto tok = text::LoadTokenizer(c.tokenizer);
    REQUIRE(tok.ok());
    const std::vector<std::int32_t> ours = (*tok)->Encode(text);
    REQUIRE(ours.size() >= 16);
    Llama model = GgufModel(c.tie, c.rope_scaling);
    Result<formats::Gguf> g = LlamaGguf(model, c.tokenizer, "tiny", formats::GgmlType::kF32);
    REQUIRE(g.ok());
    const std::string path = dir.path + "/tiny.gguf";
    REQUIRE(formats::WriteGgufFile(path, *g).ok());
    // Our own reader reads the export back whole.
    Result<formats::Gguf> back = formats::ReadGgufFile(path);
    REQUIRE(back.ok());
    REQUIRE(back->tensors.size() == g->tensors.size());
    for (std::size_t i = 0; i < g->tensors.size(); ++i) {
      CHECK(back->tensors[i].name == g->tensors[i].name);
      CHECK(back->tensors[i].data == g->tensors[i].data);
    }
    CHECK(back->Find("general.architecture")->s == "llama");
    const std::vector<std::int64_t> ids(ours.begin(), ours.end());
    const nlohmann::json j = LlamaCpp(path, text, ids);
    // llama.cpp tokenizes with the exported vocabulary exactly as we do.
    CHECK(j["tokens"].get<std::vector<std::int32_t>>() == ours);
    torch::NoGradGuard no_grad;
    model->eval();
    const torch::Tensor logits = model->forward(torch::tensor(ids).view({1, -1}))[0];
    double max_diff = 0, max_abs = 0;
    for (std::size_t t = 0; t < ids.size(); ++t) {
      for (std::int64_t v = 0; v < 660; ++v) {
        const double theirs = j["logits"][t][v].get<double>();
        const double mine = logits[static_cast<std::int64_t>(t)][v].item<double>();
        max_diff = std::max(max_diff, std::abs(theirs - mine));
        max_abs = std::max(max_abs, std::abs(mine));
      }
    }
    INFO("max |logit| " << max_abs << ", max difference " << max_diff);
    CHECK(max_abs > 1);
    CHECK(max_diff < 1e-4 * max_abs);
  }
}

}  // namespace
}  // namespace entrenar::engine

namespace entrenar::engine {
namespace {

TEST_CASE("cached decoding gives the logits of a full forward, chunk by chunk", "[unit][engine]") {
  Llama model = TinyModel();  // grouped-query attention, linear rope scaling
  model->eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor ids =
      torch::tensor(std::vector<std::int64_t>{1, 7, 3, 49, 0, 12, 5, 8, 8, 30, 2, 9}).view({1, -1});
  const torch::Tensor full = model->forward(ids);
  LlamaImpl::KvCache cache;
  std::vector<torch::Tensor> parts;
  for (const auto& [from, to] : {std::pair{0, 5}, {5, 6}, {6, 7}, {7, 10}, {10, 12}}) {
    parts.push_back(model->forward_cached(ids.slice(1, from, to), cache));
  }
  CHECK(cache.length == 12);
  CHECK(cache.k.size() == 2);
  CHECK(cache.k[0].sizes() == torch::IntArrayRef{1, 2, 12, 8});  // key/value heads, not repeated
  const double diff = (torch::cat(parts, 1) - full).abs().max().item<double>();
  CHECK(diff < 1e-5);
  CHECK(full.abs().max().item<double>() > 0.1);
}

}  // namespace
}  // namespace entrenar::engine

namespace entrenar::engine {
namespace {

TEST_CASE("a packed row gives each of its sequences the logits it gets alone", "[unit][engine]") {
  Llama model = TinyModel();
  model->eval();
  torch::NoGradGuard no_grad;
  const std::vector<std::int64_t> a = {1, 7, 3, 49, 0}, b = {12, 5, 8, 8, 30, 2, 9};
  std::vector<std::int64_t> ids = a, segment(a.size(), 0);
  ids.insert(ids.end(), b.begin(), b.end());
  segment.insert(segment.end(), b.size(), 1);
  // One packed row, as LmTensors writes it: ids, then segments, padded to 14 with -1.
  torch::Tensor x = torch::full({1, 2, 14}, -1, torch::kLong);
  x[0][0].slice(0, 0, 12).copy_(torch::tensor(ids));
  x[0][1].slice(0, 0, 12).copy_(torch::tensor(segment));
  const torch::Tensor packed = LmForward(model, x)[0];
  REQUIRE(packed.size(0) == 12);
  const torch::Tensor alone_a = model->forward(torch::tensor(a).view({1, -1}))[0];
  const torch::Tensor alone_b = model->forward(torch::tensor(b).view({1, -1}))[0];
  CHECK((packed.slice(0, 0, 5) - alone_a).abs().max().item<double>() < 1e-5);
  CHECK((packed.slice(0, 5, 12) - alone_b).abs().max().item<double>() < 1e-5);
  // Without the segments (a plain row) the second sequence would see the first.
  const torch::Tensor joined = model->forward(torch::tensor(ids).view({1, -1}))[0];
  CHECK((joined.slice(0, 5, 12) - alone_b).abs().max().item<double>() > 1e-3);
}

}  // namespace
}  // namespace entrenar::engine
