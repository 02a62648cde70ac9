// A transformer on rows of token ids: causal language modelling, on plain text or on
// instruction records (the loss on the answers only).
#include <random>

#include "entrenar/expr/value.h"
#include "entrenar/text/tokenizer.h"

#include "llama.h"
#include "lm.h"
#include "task_model.h"

namespace entrenar::engine {
namespace {

using manifest::Manifest;

class LanguageModel : public TaskModel {
 public:
  LanguageModel(const Manifest& m, const Precision& prec, TextData data, LmModel lm)
      : m_(m), prec_(prec), data_(std::move(data)), lm_(std::move(lm)) {
    net_ = lm_.model.ptr();
    const std::int64_t width = data_.padding == "max_length" ? data_.max_length : 0;
    std::tie(splits_.train_x, splits_.train_y) = LmTensors(data_.train, width);
    std::tie(splits_.val_x, splits_.val_y) = LmTensors(data_.val, width);
    std::tie(splits_.test_x, splits_.test_y) = LmTensors(data_.test, width);
  }

  // The log lines of the data, the model and its adapters.
  std::vector<std::string> Describe() const {
    const TextData& d = data_;
    std::int64_t trainable = 0;
    for (const auto& p : lm_.model->parameters()) trainable += p.requires_grad() ? p.numel() : 0;
    const LlamaConfig& c = lm_.model->config();
    std::vector<std::string> lines = {
        "data: " + std::to_string(d.train.size()) + " train, " + std::to_string(d.val.size()) +
            " val, " + std::to_string(d.test.size()) + " test sequences of up to " +
            std::to_string(splits_.train_x.size(1)) + " tokens (" +
            (d.instruction ? "instruction records, loss on the answers" : "plain text") + ")" +
            (d.truncated ? "; " + std::to_string(d.truncated) + " truncated" : "") + "; device " +
            DeviceName(prec_.device),
        "model: " + std::to_string(c.num_hidden_layers) + " layers, hidden " +
            std::to_string(c.hidden_size) + ", " + std::to_string(c.num_attention_heads) + "/" +
            std::to_string(c.num_key_value_heads) + " heads, vocab " +
            std::to_string(c.vocab_size) + "; " + std::to_string(trainable) + " of " +
            std::to_string(lm_.total_parameters) + " parameters train" +
            (lm_.base.empty() ? "; new weights" : "; weights from " + lm_.base)};
    if (!d.augmentation.empty()) {
      std::string steps;
      for (const TextStep& t : d.augmentation) {
        steps += std::string(steps.empty() ? "" : ", ") +
                 (t.kind == TextStep::Kind::kSwap ? "random_swap " : "random_delete ") +
                 expr::FormatDouble(t.probability);
      }
      lines.push_back(
          "augmentation: " + steps + " on the tokens of the training " +
          (d.instruction ? "records' fields (not the template, not the answers)" : "text") +
          ", drawn again each epoch");
    }
    if (!lm_.lora_modules.empty()) {
      lines.push_back("lora: rank " + std::to_string(lm_.lora.rank) + " on " +
                      std::to_string(lm_.lora_modules.size()) + " projections" +
                      (m_.lora.quantize_base
                           ? "; base weights " + m_.lora.quant_type + " 4-bit (" +
                                 std::to_string(lm_.model->ProjectionBytes()) + " bytes, float32 " +
                                 std::to_string(lm_.model->ProjectionBytesFloat32()) + ")"
                           : ""));
    }
    return lines;
  }

  // With text augmentation, each epoch's training examples augmented afresh (AugmentedExamples).
  BatchBuilder TrainingBatches(std::int64_t epoch) const override {
    if (data_.augmentation.empty()) return {};
    return [this, epoch](const torch::Tensor& rows) {
      const torch::Tensor r = rows.to(torch::kLong).contiguous();
      const std::int64_t* at = r.data_ptr<std::int64_t>();
      return LmTensors(AugmentedExamples(data_, {at, at + r.size(0)}, epoch),
                       splits_.train_x.size(-1));
    };
  }

  std::string ParameterPrefix() const override { return ""; }
  std::int64_t Parameters() const override { return lm_.total_parameters; }

  torch::Tensor TrainLoss(const torch::Tensor& xb, const torch::Tensor& yb) override {
    return LmLoss(LmForward(lm_.model, xb), yb);
  }
  bool CountsTokens() const override { return true; }
  std::int64_t Tokens(const torch::Tensor& xb) const override {
    return ((xb.dim() == 3 ? xb.select(1, 0) : xb) >= 0).sum().item<std::int64_t>();
  }

  std::map<std::string, double> Evaluate(const torch::Tensor& x, const torch::Tensor& y,
                                         const std::string& prefix, Confusion*) override {
    return LmEvaluate(lm_.model, x, y, m_.data.loader.batch_size, prec_, prefix);
  }

  void Calibrate(const torch::Tensor& xb) override { LmForward(lm_.model, xb); }

  // The projections' inputs; 8-bit, per tensor.
  void AddActivationQuantizers(const Manifest& m, const QuantSpec& spec, bool dynamic) override {
    const std::size_t layers = lm_.model->layers().size();
    for (std::size_t l = 0; l < layers; ++l) {
      for (int p = 0; p < LlamaImpl::kCount; ++p) {
        const std::string name =
            "model.layers." + std::to_string(l) + "." + LlamaImpl::kProjections[p] + ".weight";
        if (!Excluded(m, name))
          hooks_.at.emplace(l * LlamaImpl::kCount + p, ActivationQuantizer(spec, dynamic));
      }
    }
    lm_.model->set_input_hook(
        [&hooks = hooks_](std::size_t i, const torch::Tensor& x) { return hooks(i, x); });
  }

  formats::Safetensors CheckpointWeights() override { return LmCheckpointWeights(lm_); }
  Status LoadCheckpointWeights(const formats::Safetensors& st, const std::string& file) override {
    return LoadLmCheckpoint(lm_, st, file);
  }

  // The first num_samples validation examples (test without validation) continued by up to
  // max_tokens tokens, greedily or at `temperature`, with their reference answers.
  Result<Samples> Sample(const manifest::CallbackConfig& cb, std::uint64_t seed) override {
    Samples s;
    s.val = !data_.val.empty();
    const std::vector<TextExample>& from = s.val ? data_.val : data_.test;
    const auto n = std::min<std::size_t>(
        static_cast<std::size_t>(cb.config.num_samples.value_or(3)), from.size());
    if (n == 0) return s;
    ENTRENAR_ASSIGN_OR_RETURN(const std::unique_ptr<text::Tokenizer> tok,
                              text::LoadTokenizer(data_.tokenizer));
    std::mt19937_64 rng(seed);
    for (std::size_t r = 0; r < n; ++r) {
      const TextExample& e = from[r];
      const auto cut = e.ids.begin() + PromptLength(e);
      const std::vector<std::int32_t> prompt(e.ids.begin(), cut);
      std::vector<std::int32_t> reference(cut, e.ids.end());
      std::vector<std::int32_t> generated =
          Generate(lm_.model, prompt, cb.config.max_tokens.value_or(64),
                   cb.config.temperature.value_or(0), data_.eos_id, prec_, rng);
      for (auto* ids : {&reference, &generated}) {
        if (!ids->empty() && ids->back() == data_.eos_id) ids->pop_back();
      }
      s.rows.push_back({{"row", r},
                        {"prompt", tok->Decode(prompt)},
                        {"reference", tok->Decode(reference)},
                        {"generated", tok->Decode(generated)}});
    }
    s.what = std::to_string(n) + " generations";
    return s;
  }

  Result<std::vector<std::string>> Save(const std::string& dir) override {
    return SaveLm(lm_, m_, data_, dir);
  }

 private:
  // The prompt of an example: the tokens before the first counted one (half the example for
  // plain text).
  std::ptrdiff_t PromptLength(const TextExample& e) const {
    std::size_t cut = 0;
    while (cut < e.target.size() && !e.target[cut]) ++cut;
    if (!data_.instruction || cut == 0 || cut == e.target.size()) cut = (e.ids.size() + 1) / 2;
    return static_cast<std::ptrdiff_t>(cut);
  }

  const Manifest& m_;
  const Precision& prec_;
  TextData data_;
  LmModel lm_;
};

}  // namespace

Result<std::unique_ptr<TaskModel>> MakeLanguageModel(const Manifest& m, const TrainOptions& options,
                                                     const Precision& prec, TextData data,
                                                     Reporter& out) {
  ENTRENAR_ASSIGN_OR_RETURN(LmModel lm, BuildLm(m, data, options.base_dir));
  lm.model->to(prec.device, prec.param_dtype);
  auto task = std::make_unique<LanguageModel>(m, prec, std::move(data), std::move(lm));
  for (std::string& line : task->Describe()) out.Log(std::move(line));
  return std::unique_ptr<TaskModel>(std::move(task));
}

}  // namespace entrenar::engine
