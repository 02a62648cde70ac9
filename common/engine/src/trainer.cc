// The training loop on LibTorch. LibTorch types stay in this file; nothing torch leaves it.
#include "entrenar/engine/trainer.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <numeric>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"
#include "entrenar/engine/callbacks.h"
#include "entrenar/engine/dataset.h"
#include "entrenar/engine/loss_scale.h"
#include "entrenar/engine/metrics.h"
#include "entrenar/engine/schedule.h"
#include "entrenar/engine/shape.h"
#include "entrenar/engine/text_data.h"
#include "entrenar/expr/monitor.h"
#include "entrenar/expr/value.h"
#include "entrenar/formats/safetensors.h"
#include "entrenar/plan/budget.h"
#include "entrenar/plan/support.h"
#include "entrenar/run/checkpoint_state.h"
#include "entrenar/run/layout.h"
#include "entrenar/text/tokenizer.h"

#include "fake_quant.h"
#include "llama.h"
#include "lm.h"
#include "loader.h"
#include "model.h"
#include "monitor_sink.h"
#include "precision.h"

namespace entrenar::engine {
namespace {

using manifest::Manifest;
using Clock = std::chrono::steady_clock;

// ---- the run ----
using plan::Budget;
using plan::ComputeBudget;

struct Run {
  Run(const Manifest& manifest, const TrainOptions& opts, EventSink& events, PreparedData prepared)
      : m(manifest), options(opts), sink(events), data(std::move(prepared)) {}

  const Manifest& m;
  const TrainOptions& options;
  EventSink& sink;
  PreparedData data;
  TextData text_data;                      // a language model's data
  torch::nn::Sequential model{nullptr};    // a sequential model, or
  std::optional<LmModel> lm;               // a transformer
  std::shared_ptr<torch::nn::Module> net;  // whichever it is
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  torch::Tensor train_x, train_y, val_x, val_y, test_x, test_y;
  std::int64_t step = 0, epoch = 0, total_steps = 0, samples = 0;
  std::int64_t tokens = 0;  // a language model's input tokens so far (padding left out)
  Clock::time_point start = Clock::now();
  TrainSummary summary;
  std::vector<torch::Tensor> best_state;
  std::int64_t stale_validations = 0;
  std::optional<double> early_best;
  std::int64_t start_epoch = 1, start_batch = 0;  // where a resumed run picks up
  std::optional<std::int64_t> saved_total_steps;  // the resumed checkpoint's run length
  // Where training would continue after the last step: the final checkpoint records it (a run
  // that ends mid-epoch continues that epoch when resumed with a longer budget).
  std::int64_t continue_epoch = 1, continue_batch = 0;
  PlateauTracker plateau;
  std::vector<double> group_lr;  // each optimizer group's base learning rate
  bool checkpoint_due = false;   // save_every fell on an epoch's last step: save after validation
  Precision prec;
  torch::ScalarType input_dtype = torch::kFloat;  // float32 for embedding ids
  LossScaler scaler = LossScaler::Dynamic();
  bool fold_run = false;             // a cross-validation fold: no checkpoints, no saved model
  std::int64_t validations = 0;      // done so far, for validation_end callbacks
  bool callback_checkpoint = false;  // a checkpoint callback asked for one
  std::map<std::size_t, double> callback_best;  // save_best checkpoint callbacks' best values
  std::map<std::string, double> last_values;    // the last step's metrics, for custom callbacks
  // quantize (SPEC §7): activation quantizers by sequential module index or LLaMA projection.
  std::map<std::size_t, ActivationQuantizer> act_quant;
  bool act_observing = false;  // calibrating: record activations instead of quantizing them

  // Writes checkpoints/step-N atomically (a temporary directory, then a rename) and keeps the
  // newest keep_last. `next_epoch`/`next_batch` say where training continues.
  Status SaveCheckpoint(std::int64_t next_epoch, std::int64_t next_batch) {
    namespace fs = std::filesystem;
    if (fold_run) return OkStatus();
    const std::string root = options.run_dir + "/checkpoints";
    const std::string final_dir = root + "/step-" + std::to_string(step);
    const std::string tmp = root + "/.step-" + std::to_string(step) + ".tmp";
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) return DataLoss("cannot create " + tmp + ": " + ec.message());
    ENTRENAR_RETURN_IF_ERROR(
        formats::WriteSafetensorsFile(tmp + "/model.safetensors", NetWeights()));
    if (!best_state.empty()) {
      std::vector<torch::Tensor> now = State();
      Restore(best_state);
      ENTRENAR_RETURN_IF_ERROR(
          formats::WriteSafetensorsFile(tmp + "/best.safetensors", NetWeights()));
      Restore(now);
    }
    torch::serialize::OutputArchive archive;
    optimizer->save(archive);
    archive.save_to(tmp + "/optimizer.pt");
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    torch::Tensor rng;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      rng = gen.get_state();
    }
    formats::Safetensors rng_file;
    formats::Tensor t;
    t.name = "rng.cpu";
    t.dtype = formats::DType::kU8;
    t.shape = {rng.numel()};
    t.bytes.assign(reinterpret_cast<const char*>(rng.data_ptr<std::uint8_t>()),
                   static_cast<std::size_t>(rng.numel()));
    rng_file.tensors.push_back(std::move(t));
    ENTRENAR_RETURN_IF_ERROR(formats::WriteSafetensorsFile(tmp + "/rng.safetensors", rng_file));
    ENTRENAR_RETURN_IF_ERROR(
        WriteFileAtomic(run::Layout::CheckpointState(tmp),
                        run::EncodeCheckpointState(CheckpointNow(next_epoch, next_batch))));
    fs::remove_all(final_dir, ec);
    fs::rename(tmp, final_dir, ec);
    if (ec) return DataLoss("cannot rename " + tmp + " to " + final_dir + ": " + ec.message());
    Emit(Event::Kind::kCheckpoint, {}, final_dir);
    // Keep the newest keep_last.
    std::vector<std::pair<std::int64_t, fs::path>> all;
    for (const auto& e : fs::directory_iterator(root, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("step-", 0) == 0) all.emplace_back(std::atoll(name.c_str() + 5), e.path());
    }
    std::sort(all.begin(), all.end());
    const auto keep = static_cast<std::size_t>(m.training.checkpoint.keep_last);
    for (std::size_t i = 0; i + keep < all.size(); ++i) fs::remove_all(all[i].second, ec);
    return OkStatus();
  }

  std::string BudgetReached() const {
    const std::string steps = std::to_string(total_steps) + " steps";
    if (step < total_steps) {
      return "training ended at step " + std::to_string(step) + " of " + steps;
    }
    if (m.training.max_steps) return "the budget of " + steps + " was reached";
    return "the budget of " + std::to_string(manifest::EffectiveEpochs(m.training)) + " epochs (" +
           steps + ") was reached";
  }

  // A resumed run whose budget differs from its checkpoint's continues to the new budget; the
  // schedule is laid over the new length from the step it resumes at (docs/user-guide.md).
  void NoteBudgetChange(std::int64_t saved) {
    const double then = LearningRateAt(m.scheduler, m.optimizer.lr, step, saved);
    const double now = LearningRateAt(m.scheduler, m.optimizer.lr, step, total_steps);
    Log("the budget changed since the checkpoint: " + std::to_string(saved) + " steps then, " +
        std::to_string(total_steps) + " now; training continues to step " +
        std::to_string(total_steps) + " with the " + m.scheduler.name + " schedule laid over " +
        std::to_string(total_steps) + " steps (learning rate at step " + std::to_string(step) +
        ": " + expr::FormatDouble(now) + ", was " + expr::FormatDouble(then) + ")");
  }

  // Records (and logs) why the run ends; the first reason stands.
  void End(const std::string& reason, const std::string& message) {
    Log(message);
    if (!summary.end_reason.empty()) return;
    summary.end_reason = reason;
    summary.end_message = message;
  }

  // Where training stands, for a checkpoint written now.
  run::CheckpointState CheckpointNow(std::int64_t next_epoch, std::int64_t next_batch) const {
    run::CheckpointState c;
    c.step = step;
    c.next_epoch = next_epoch;
    c.next_batch = next_batch;
    c.samples = samples;
    c.seed = options.seed;
    c.total_steps = m.training.duration ? 0 : total_steps;
    c.stale_validations = stale_validations;
    c.early_best = early_best;
    c.best_metric = summary.best_metric;
    c.best_value = summary.best_value;
    c.best_step = summary.best_step;
    c.plateau_scale = plateau.scale;
    c.plateau_bad = plateau.bad;
    c.plateau_best = plateau.best;
    if (prec.scale_loss) {
      c.loss_scale = run::CheckpointState::LossScale{scaler.scale(), scaler.clean_steps(),
                                                     scaler.skipped_steps()};
    }
    return c;
  }

  void RestoreState(const run::CheckpointState& c) {
    step = c.step;
    start_epoch = continue_epoch = c.next_epoch;
    start_batch = continue_batch = c.next_batch;
    samples = c.samples;
    saved_total_steps = c.total_steps;
    stale_validations = c.stale_validations;
    early_best = c.early_best;
    summary.best_metric = c.best_metric;
    summary.best_value = c.best_value;
    summary.best_step = c.best_step;
    plateau.scale = c.plateau_scale;
    plateau.bad = c.plateau_bad;
    plateau.best = c.plateau_best;
    if (c.loss_scale)
      scaler.Restore(c.loss_scale->scale, c.loss_scale->clean_steps, c.loss_scale->skipped_steps);
  }

  // Restores the generator's state from rng.safetensors.
  Status RestoreRng(const std::string& dir) {
    ENTRENAR_ASSIGN_OR_RETURN(formats::Safetensors rng_file,
                              formats::ReadSafetensorsFile(dir + "/rng.safetensors"));
    const formats::Tensor* rng = rng_file.Find("rng.cpu");
    if (!rng) return DataLoss(dir + "/rng.safetensors has no rng.cpu");
    torch::Tensor rng_state =
        torch::empty({static_cast<std::int64_t>(rng->bytes.size())}, torch::kUInt8);
    std::memcpy(rng_state.data_ptr<std::uint8_t>(), rng->bytes.data(), rng->bytes.size());
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    try {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng_state);
    } catch (const c10::Error&) {
      return DataLoss(dir + "/rng.safetensors does not hold a generator state");
    }
    return OkStatus();
  }

  // Continues from checkpoint `dir` exactly. A damaged or partial checkpoint is kDataLoss.
  Status Resume(const std::string& dir) {
    ENTRENAR_ASSIGN_OR_RETURN(const std::string text,
                              ReadWholeFile(run::Layout::CheckpointState(dir)));
    ENTRENAR_ASSIGN_OR_RETURN(const run::CheckpointState state,
                              run::DecodeCheckpointState(text, run::Layout::CheckpointState(dir)));
    ENTRENAR_ASSIGN_OR_RETURN(formats::Safetensors weights,
                              formats::ReadSafetensorsFile(dir + "/model.safetensors"));
    ENTRENAR_RETURN_IF_ERROR(LoadNetWeights(weights, dir + "/model.safetensors"));
    Result<formats::Safetensors> best = formats::ReadSafetensorsFile(dir + "/best.safetensors");
    if (best.ok()) {
      std::vector<torch::Tensor> now = State();
      ENTRENAR_RETURN_IF_ERROR(LoadNetWeights(*best, dir + "/best.safetensors"));
      best_state = State();
      Restore(now);
    }
    try {
      torch::serialize::InputArchive archive;
      archive.load_from(dir + "/optimizer.pt");
      optimizer->load(archive);
    } catch (const c10::Error& e) {
      return DataLoss(dir +
                      "/optimizer.pt is damaged or of another run: " + e.what_without_backtrace());
    }
    ENTRENAR_RETURN_IF_ERROR(RestoreRng(dir));
    RestoreState(state);
    Log("resumed from " + dir + " at step " + std::to_string(step));
    return OkStatus();
  }

  bool Classification() const { return data.task == Task::kClassification; }

  // A checkpoint's weights: a sequential model's, or a transformer's (its adapters with LoRA).
  formats::Safetensors NetWeights() { return lm ? LmCheckpointWeights(*lm) : Weights(model); }
  Status LoadNetWeights(const formats::Safetensors& st, const std::string& file) {
    return lm ? LoadLmCheckpoint(*lm, st, file) : LoadWeights(model, st, file);
  }
  torch::Tensor TrainLoss(const torch::Tensor& xb, const torch::Tensor& yb) {
    if (lm) return LmLoss(LmForward(lm->model, xb), yb);
    return Loss(SeqForward(xb).to(torch::kFloat), yb);
  }

  // ---- quantization (SPEC §7) ----------------------------------------------------------------

  // The weights quantization rounds: matrices and kernels (2 or more dimensions) under their
  // saved names, less quantize.exclude.
  std::vector<std::pair<std::string, torch::Tensor>> QuantTargets() {
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (auto& p : net->named_parameters()) {
      const std::string name = (lm ? "" : "layers.") + p.key();
      if (p.value().dim() >= 2 && p.value().numel() > 0 && !Excluded(m, name)) {
        out.emplace_back(name, p.value());
      }
    }
    return out;
  }

  // The sequential model's forward, with activation quantizers before their modules.
  torch::Tensor SeqForward(const torch::Tensor& x) {
    if (act_quant.empty()) return model->forward(x);
    torch::Tensor h = x;
    std::size_t i = 0;
    for (auto& module : *model) {
      const auto q = act_quant.find(i++);
      if (q != act_quant.end()) {
        if (act_observing) {
          q->second.Observe(h);
        } else {
          h = q->second.Apply(h);
        }
      }
      h = module.forward(h);
    }
    return h;
  }

  // Activation quantizers on the inputs of the layers whose weights are quantized: linear and
  // convolution modules, or a transformer's projections; 8-bit, per tensor.
  void AddActivationQuantizers() {
    QuantSpec spec = WeightSpec(m);
    spec.bits = 8;
    spec.granularity = "per_tensor";
    const bool dynamic = m.quantize.scheme == "dynamic";
    if (lm) {
      const std::size_t layers = lm->model->layers().size();
      for (std::size_t l = 0; l < layers; ++l) {
        for (int p = 0; p < LlamaImpl::kCount; ++p) {
          const std::string name =
              "model.layers." + std::to_string(l) + "." + LlamaImpl::kProjections[p] + ".weight";
          if (!Excluded(m, name))
            act_quant.emplace(l * LlamaImpl::kCount + p, ActivationQuantizer(spec, dynamic));
        }
      }
      lm->model->set_input_hook([this](std::size_t i, const torch::Tensor& x) {
        const auto q = act_quant.find(i);
        if (q == act_quant.end()) return x;
        if (!act_observing) return q->second.Apply(x);
        q->second.Observe(x);
        return x;
      });
      return;
    }
    std::size_t i = 0;
    for (auto& module : *model) {
      const bool weighted = module.ptr()->as<torch::nn::Linear>() ||
                            module.ptr()->as<torch::nn::Conv1d>() ||
                            module.ptr()->as<torch::nn::Conv2d>();
      if (weighted && !Excluded(m, "layers." + std::to_string(i) + ".weight")) {
        act_quant.emplace(i, ActivationQuantizer(spec, dynamic));
      }
      ++i;
    }
  }

  // Every quantized weight fits the granularity (rows split into groups), checked before
  // training rather than after it.
  Status CheckQuantizable() {
    const QuantSpec spec = WeightSpec(m);
    for (const auto& [name, w] : QuantTargets()) {
      const Status s = CheckGroups(w, spec);
      if (!s.ok()) return Status(s.code(), s.message() + " (" + name + ")");
    }
    return OkStatus();
  }

  // Post-training quantization of the trained model: weights rounded to quantize.bits in place,
  // activation ranges calibrated on calibration.samples validation rows (training rows without
  // validation), then the validation metrics before and after.
  Status QuantizeModel() {
    const QuantSpec spec = WeightSpec(m);
    summary.quantized_before = Evaluate(val_x, val_y, "val_", nullptr);
    {
      torch::NoGradGuard no_grad;
      for (auto& [name, w] : QuantTargets()) {
        Result<torch::Tensor> q = FakeQuantize(w, spec);
        if (!q.ok()) return Status(q.status().code(), q.status().message() + " (" + name + ")");
        w.copy_(*q);
      }
    }
    AddActivationQuantizers();
    if (m.quantize.scheme != "dynamic") {
      const torch::Tensor& x = val_x.size(0) > 0 ? val_x : train_x;
      const std::int64_t n = std::min<std::int64_t>(m.quantize.calibration.samples, x.size(0));
      torch::NoGradGuard no_grad;
      net->eval();
      act_observing = true;
      for (std::int64_t i = 0; i < n; i += m.data.loader.batch_size) {
        const torch::Tensor xb =
            x.slice(0, i, std::min(n, i + m.data.loader.batch_size)).to(prec.device);
        AutocastScope autocast(prec);
        if (lm) {
          LmForward(lm->model, xb);
        } else {
          SeqForward(xb);
        }
      }
      act_observing = false;
      for (auto& [i, q] : act_quant) q.Freeze();
      net->train();
    }
    summary.quantized_after = Evaluate(val_x, val_y, "val_", nullptr);
    std::string line = "quantize: " + std::to_string(m.quantize.bits) + "-bit " +
                       m.quantize.scheme + " " + m.quantize.granularity + " weights (" +
                       spec.method + "), 8-bit activations:";
    auto fmt = [](double v) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.4g", v);
      return std::string(buf);
    };
    for (const char* k : {"val_loss", "val_accuracy", "val_perplexity", "val_r2"}) {
      if (summary.quantized_before.count(k) && summary.quantized_after.count(k)) {
        line += std::string(" ") + k + " " + fmt(summary.quantized_before.at(k)) + " -> " +
                fmt(summary.quantized_after.at(k));
      }
    }
    Log(line);
    return OkStatus();
  }

  // Quantization-aware training: while alive, the quantized weights hold their fake-quantized
  // values, so forward and backward see the quantized model; on destruction the float weights
  // come back, and the optimizer applies the gradients to them (the straight-through estimate).
  class QatScope {
   public:
    explicit QatScope(Run& run) {
      if (!run.m.quantize.enabled || !run.m.quantize.qat.enabled) return;
      const QuantSpec spec = WeightSpec(run.m);
      torch::NoGradGuard no_grad;
      for (auto& [name, w] : run.QuantTargets()) {
        Result<torch::Tensor> q = FakeQuantize(w, spec);
        if (!q.ok()) continue;  // a group_size mismatch is reported by QuantizeModel
        saved_.emplace_back(w, w.clone());
        w.copy_(*q);
      }
    }
    ~QatScope() {
      torch::NoGradGuard no_grad;
      for (auto& [w, original] : saved_) w.copy_(original);
    }
    QatScope(const QatScope&) = delete;
    QatScope& operator=(const QatScope&) = delete;

   private:
    std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;
  };

  void Emit(Event::Kind kind, std::map<std::string, double> values = {}, std::string text = "") {
    Event e;
    e.kind = kind;
    e.step = step;
    e.epoch = epoch;
    e.values = std::move(values);
    e.text = std::move(text);
    sink.OnEvent(e);
  }
  void Log(std::string text) { Emit(Event::Kind::kLog, {}, std::move(text)); }

  bool Binary() const { return m.training.loss == "bce"; }
  bool Wants(const std::string& metric) const {
    const auto& wanted = m.training.validation.metrics;
    return wanted && std::find(wanted->begin(), wanted->end(), metric) != wanted->end();
  }

  // The model's float32 outputs for `x` (on the CPU) in evaluation mode, a chunk at a time.
  torch::Tensor Forward(const torch::Tensor& x) {
    const std::int64_t chunk = std::max<std::int64_t>(m.data.loader.batch_size, 4096);
    std::vector<torch::Tensor> parts;
    for (std::int64_t i = 0; i < x.size(0); i += chunk) {
      const torch::Tensor xb = x.slice(0, i, std::min(x.size(0), i + chunk)).to(prec.device);
      AutocastScope autocast(prec);
      parts.push_back(SeqForward(xb).to(torch::kCPU, torch::kFloat));
    }
    return parts.size() == 1 ? parts[0] : torch::cat(parts);
  }

  torch::Tensor Loss(const torch::Tensor& out, const torch::Tensor& y) const {
    namespace F = torch::nn::functional;
    if (Binary()) return F::binary_cross_entropy_with_logits(out.squeeze(1), y);
    if (Classification()) return F::cross_entropy(out, y.to(torch::kLong));
    const torch::Tensor pred = out.squeeze(1);
    if (m.training.loss == "l1") return F::l1_loss(pred, y);
    if (m.training.loss == "huber") return F::huber_loss(pred, y);
    return F::mse_loss(pred, y);
  }

  // Class probabilities, one row per sample.
  torch::Tensor Probabilities(const torch::Tensor& logits) const {
    if (!Binary()) return torch::softmax(logits, 1);
    const torch::Tensor p1 = torch::sigmoid(logits);
    return torch::cat({1 - p1, p1}, 1);
  }

  // Loss and metrics of `x`/`y` in evaluation mode, prefixed `prefix` (val_, test_). The
  // confusion matrix, when asked for, goes to `confusion`.
  std::map<std::string, double> Evaluate(const torch::Tensor& x, const torch::Tensor& y,
                                         const std::string& prefix,
                                         std::vector<std::vector<std::int64_t>>* confusion) {
    if (lm) return LmEvaluate(lm->model, x, y, m.data.loader.batch_size, prec, prefix);
    std::map<std::string, double> out;
    if (x.size(0) == 0) return out;
    torch::NoGradGuard no_grad;
    model->eval();
    const torch::Tensor logits = Forward(x);
    out[prefix + "loss"] = Loss(logits, y).item<double>();
    if (Classification()) {
      const torch::Tensor probs = Probabilities(logits).contiguous();
      const torch::Tensor pred = probs.argmax(1).contiguous();
      const torch::Tensor truth = y.to(torch::kLong).contiguous();
      std::vector<std::int64_t> p(pred.data_ptr<std::int64_t>(),
                                  pred.data_ptr<std::int64_t>() + pred.numel());
      std::vector<std::int64_t> t(truth.data_ptr<std::int64_t>(),
                                  truth.data_ptr<std::int64_t>() + truth.numel());
      const auto classes = static_cast<std::int64_t>(data.classes.size());
      for (const auto& [k, v] : ClassificationMetrics(p, t, classes)) out[prefix + k] = v;
      if (Wants("auc_roc")) {
        const std::vector<float> pr(probs.data_ptr<float>(),
                                    probs.data_ptr<float>() + probs.numel());
        if (auto auc = AucRoc(pr, t, classes)) out[prefix + "auc_roc"] = *auc;
      }
      if (confusion && Wants("confusion_matrix")) *confusion = ConfusionMatrix(p, t, classes);
    } else {
      const torch::Tensor pred = logits.squeeze(1).to(torch::kDouble).contiguous();
      const torch::Tensor truth = y.to(torch::kDouble).contiguous();
      std::vector<double> p(pred.data_ptr<double>(), pred.data_ptr<double>() + pred.numel());
      std::vector<double> t(truth.data_ptr<double>(), truth.data_ptr<double>() + truth.numel());
      for (const auto& [k, v] : RegressionMetrics(p, t)) out[prefix + k] = v;
    }
    model->train();
    return out;
  }

  // What training changes: the trainable parameters and the buffers (frozen weights, a
  // transformer's base under LoRA included, never change).
  std::vector<torch::Tensor> State() {
    std::vector<torch::Tensor> s;
    for (const auto& p : net->parameters()) {
      if (p.requires_grad()) s.push_back(p.detach().clone());
    }
    for (const auto& b : net->buffers()) s.push_back(b.detach().clone());
    return s;
  }
  void Restore(const std::vector<torch::Tensor>& s) {
    torch::NoGradGuard no_grad;
    std::size_t i = 0;
    for (auto& p : net->parameters()) {
      if (p.requires_grad()) p.copy_(s[i++]);
    }
    for (auto& b : net->buffers()) b.copy_(s[i++]);
  }

  static bool Better(double value, double best, const std::string& mode, double delta) {
    return mode == "max" ? value > best + delta : value < best - delta;
  }

  // Validation, best-weights tracking and early stopping. Returns true to stop training.
  bool Validate() {
    if (val_x.size(0) == 0) return false;
    std::map<std::string, double> v;
    {
      QatScope qat(*this);  // a QAT run is validated as the quantized model it trains
      v = Evaluate(val_x, val_y, "val_", &summary.val_confusion);
    }
    summary.val = v;
    Emit(Event::Kind::kValidation, v);
    RunCallbacks(Trigger::kValidationEnd, ++validations);
    // A metric may be named with or without its prefix: `accuracy` is `val_accuracy`.
    auto lookup = [&](const std::string& name) -> std::optional<double> {
      if (v.count(name)) return v.at(name);
      if (v.count("val_" + name)) return v.at("val_" + name);
      return std::nullopt;
    };
    if (m.scheduler.name == "plateau" && lookup(m.scheduler.metric) &&
        plateau.Observe(m.scheduler, *lookup(m.scheduler.metric))) {
      Log("plateau: " + m.scheduler.metric + " stopped improving; learning rate scale now " +
          std::to_string(plateau.scale));
    }
    const auto& cp = m.training.checkpoint;
    if (cp.save_best.value_or(true) && lookup(cp.metric)) {
      const double value = *lookup(cp.metric);
      if (!summary.best_value || Better(value, *summary.best_value, cp.mode, 0)) {
        summary.best_value = value;
        summary.best_step = step;
        summary.best_metric = cp.metric;
        best_state = State();
      }
    }
    const auto& es = m.training.early_stopping;
    if (es.enabled && lookup(es.metric)) {
      const double value = *lookup(es.metric);
      if (!early_best || Better(value, *early_best, es.mode, es.min_delta)) {
        early_best = value;
        stale_validations = 0;
      } else if (++stale_validations >= es.patience) {
        End("early_stopping", "early stopping: " + es.metric + " has not improved for " +
                                  std::to_string(es.patience) + " validations (step " +
                                  std::to_string(step) + ")");
        summary.early_stopped = true;
        return true;
      }
    }
    return false;
  }

  // Divides the gradients by the loss scale and updates the scaler. Returns false (skip the
  // step) when a gradient overflowed.
  bool UnscaleGradients() {
    const double inverse = 1.0 / scaler.scale();
    bool overflow = false;
    for (auto& p : net->parameters()) {
      if (!p.grad().defined()) continue;
      p.mutable_grad().mul_(inverse);
      overflow = overflow || !torch::isfinite(p.grad()).all().item<bool>();
    }
    if (scaler.Update(overflow)) return true;
    Log("step " + std::to_string(step + 1) +
        " skipped: a gradient overflowed float16; loss scale now " +
        std::to_string(scaler.scale()));
    return false;
  }

  // ---- callbacks (SPEC §9); none run in cross-validation folds -------------------------------

  // gradient_monitor, due at this step: the global gradient norm before clipping, per layer
  // with `per_layer`, and with `log_histogram` 20-bin histograms appended to gradients.jsonl.
  void GradientCallbacks(std::int64_t at, bool last_of_epoch, std::map<std::string, double>* out) {
    for (const manifest::CallbackConfig& cb : m.callbacks) {
      if (fold_run || cb.type != "gradient_monitor" || !StepDue(cb, at, last_of_epoch)) continue;
      torch::NoGradGuard no_grad;
      double total = 0;
      nlohmann::ordered_json histograms = nlohmann::ordered_json::object();
      for (const auto& p : net->named_parameters()) {
        if (!p.value().grad().defined()) continue;
        const torch::Tensor g = p.value().grad().detach().to(torch::kCPU, torch::kFloat);
        const double norm = g.norm().item<double>();
        total += norm * norm;
        if (cb.config.per_layer.value_or(false)) (*out)["grad_norm/" + p.key()] = norm;
        if (!cb.config.log_histogram.value_or(false)) continue;
        const double lo = g.min().item<double>(), hi = g.max().item<double>();
        const torch::Tensor counts = torch::histc(g, 20, lo, hi).to(torch::kLong).contiguous();
        histograms[p.key()] = {{"min", lo},
                               {"max", hi},
                               {"counts", std::vector<std::int64_t>(
                                              counts.data_ptr<std::int64_t>(),
                                              counts.data_ptr<std::int64_t>() + counts.numel())}};
      }
      (*out)["grad_norm"] = std::sqrt(total);
      if (!histograms.empty()) {
        std::ofstream(options.run_dir + "/gradients.jsonl", std::ios::app)
            << nlohmann::ordered_json{{"step", at}, {"histograms", histograms}}.dump() << "\n";
      }
    }
  }

  // lr_monitor, due at this step: each optimizer group's learning rate.
  void LearningRateCallbacks(std::int64_t at, bool last_of_epoch,
                             std::map<std::string, double>* out) {
    for (const manifest::CallbackConfig& cb : m.callbacks) {
      if (fold_run || cb.type != "lr_monitor" || !StepDue(cb, at, last_of_epoch)) continue;
      auto& groups = optimizer->param_groups();
      for (std::size_t g = 0; g < groups.size(); ++g) {
        (*out)["learning_rate_group_" + std::to_string(g)] = groups[g].options().get_lr();
      }
    }
  }

  // Step-bound callbacks run at their step, or with epoch_end at the epoch's last step.
  bool StepDue(const manifest::CallbackConfig& cb, std::int64_t at, bool last_of_epoch) const {
    return CallbackDue(cb, Trigger::kStep, at) ||
           (last_of_epoch && CallbackDue(cb, Trigger::kEpochEnd, epoch));
  }

  // checkpoint, sample_predictions and custom callbacks due at the `count`-th `t`.
  void RunCallbacks(Trigger t, std::int64_t count) {
    for (std::size_t i = 0; i < m.callbacks.size(); ++i) {
      const manifest::CallbackConfig& cb = m.callbacks[i];
      if (fold_run || !CallbackDue(cb, t, count)) continue;
      if (cb.type == "checkpoint" && t != Trigger::kTrainEnd) CheckpointCallback(i, cb);
      if (cb.type == "sample_predictions") SamplePredictions(cb, t);
      if (cb.type == "custom") CustomCallback(i, cb, t);
    }
  }

  // Asks for a checkpoint at the next step boundary; with save_best only when `metric` (from
  // the last validation) improved on the best this callback saw.
  void CheckpointCallback(std::size_t i, const manifest::CallbackConfig& cb) {
    if (!cb.config.save_best.value_or(false)) {
      callback_checkpoint = true;
      return;
    }
    const std::string metric = cb.config.metric.value_or(m.training.checkpoint.metric);
    const std::string name = summary.val.count(metric) ? metric : "val_" + metric;
    if (!summary.val.count(name)) return;
    const double value = summary.val.at(name);
    const std::string mode = cb.config.mode.value_or(expr::LowerIsBetter(name) ? "min" : "max");
    if (callback_best.count(i) && !Better(value, callback_best[i], mode, 0)) return;
    callback_best[i] = value;
    callback_checkpoint = true;
    Log("callbacks[" + std::to_string(i) + "]: " + name + " improved to " + std::to_string(value) +
        ", checkpointing");
  }

  // One line of samples.jsonl: the step, the trigger, the split and its samples (text that ends
  // inside a UTF-8 character, as a generation may, gets replacement characters).
  void AppendSamples(Trigger t, bool val, const nlohmann::ordered_json& rows) {
    std::ofstream(options.run_dir + "/samples.jsonl", std::ios::app)
        << nlohmann::ordered_json{{"step", step},
                                  {"epoch", epoch},
                                  {"trigger", TriggerName(t)},
                                  {"split", val ? "val" : "test"},
                                  {"samples", rows}}
               .dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
        << "\n";
  }

  // The first num_samples validation rows (test rows without validation) with their target and
  // prediction, appended to samples.jsonl.
  void SamplePredictions(const manifest::CallbackConfig& cb, Trigger t) {
    if (lm) return SampleText(cb, t);
    const bool val = val_x.size(0) > 0;
    const torch::Tensor& x = val ? val_x : test_x;
    const torch::Tensor& y = val ? val_y : test_y;
    const std::int64_t n = std::min<std::int64_t>(cb.config.num_samples.value_or(10), x.size(0));
    if (n <= 0) return;
    torch::NoGradGuard no_grad;
    model->eval();
    const torch::Tensor logits = Forward(x.slice(0, 0, n));
    model->train();
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    std::int64_t right = 0;
    for (std::int64_t r = 0; r < n; ++r) {
      nlohmann::ordered_json s = {{"row", r}};
      if (Classification()) {
        const torch::Tensor p = Probabilities(logits.slice(0, r, r + 1))[0];
        const auto pred = p.argmax().item<std::int64_t>();
        const auto truth = static_cast<std::int64_t>(y[r].item<double>());
        s["target"] = data.classes[static_cast<std::size_t>(truth)];
        s["prediction"] = data.classes[static_cast<std::size_t>(pred)];
        s["confidence"] = p[pred].item<double>();
        right += pred == truth;
      } else {
        s["target"] = y[r].item<double>();
        s["prediction"] = logits[r][0].item<double>();
      }
      rows.push_back(s);
    }
    AppendSamples(t, val, rows);
    Log("sample predictions at step " + std::to_string(step) + ": " +
        (Classification() ? std::to_string(right) + "/" + std::to_string(n) + " right"
                          : std::to_string(n) + " rows") +
        " (samples.jsonl)");
  }

  // A language model's sample_predictions: the first num_samples validation examples (test
  // without validation) continued by up to max_tokens tokens, greedily or at `temperature`, with
  // their reference answers, appended to samples.jsonl.
  void SampleText(const manifest::CallbackConfig& cb, Trigger t) {
    const bool val = !text_data.val.empty();
    const std::vector<TextExample>& from = val ? text_data.val : text_data.test;
    const auto n = std::min<std::size_t>(
        static_cast<std::size_t>(cb.config.num_samples.value_or(3)), from.size());
    if (n == 0) return;
    Result<std::unique_ptr<text::Tokenizer>> tok = text::LoadTokenizer(text_data.tokenizer);
    if (!tok.ok()) return Log("sample predictions: " + tok.status().message());
    std::mt19937_64 rng(options.seed + static_cast<std::uint64_t>(step));
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (std::size_t r = 0; r < n; ++r) {
      const TextExample& e = from[r];
      // The prompt: tokens before the first counted one (half the example for plain text).
      std::size_t cut = 0;
      while (cut < e.target.size() && !e.target[cut]) ++cut;
      if (!text_data.instruction || cut == 0 || cut == e.target.size())
        cut = (e.ids.size() + 1) / 2;
      const std::vector<std::int32_t> prompt(e.ids.begin(), e.ids.begin() + cut);
      std::vector<std::int32_t> reference(e.ids.begin() + cut, e.ids.end());
      std::vector<std::int32_t> generated =
          Generate(lm->model, prompt, cb.config.max_tokens.value_or(64),
                   cb.config.temperature.value_or(0), text_data.eos_id, prec, rng);
      for (auto* ids : {&reference, &generated}) {
        if (!ids->empty() && ids->back() == text_data.eos_id) ids->pop_back();
      }
      rows.push_back({{"row", r},
                      {"prompt", (*tok)->Decode(prompt)},
                      {"reference", (*tok)->Decode(reference)},
                      {"generated", (*tok)->Decode(generated)}});
    }
    AppendSamples(t, val, rows);
    Log("sample predictions at step " + std::to_string(step) + ": " + std::to_string(n) +
        " generations (samples.jsonl)");
  }

  // Runs a custom callback's command with the run's state; a failure is an alert.
  void CustomCallback(std::size_t i, const manifest::CallbackConfig& cb, Trigger t) {
    const std::string name = "callbacks[" + std::to_string(i) + "]";
    auto alert = [&](const std::string& why) {
      Event e;
      e.kind = Event::Kind::kAlert;
      e.step = step;
      e.epoch = epoch;
      e.text =
          name + " (" + Join(cb.command.value_or(std::vector<std::string>{}), " ") + "): " + why;
      e.fields = {{"condition", name}, {"action", "warn"}};
      sink.OnEvent(e);
    };
    if (!options.allow_custom_callbacks) return alert("custom callbacks are disabled here");
    nlohmann::ordered_json state = {{"callback", i},
                                    {"trigger", TriggerName(t)},
                                    {"step", step},
                                    {"epoch", epoch},
                                    {"run_dir", options.run_dir},
                                    {"metrics", last_values},
                                    {"validation", summary.val}};
    const std::map<std::string, std::string> env = {
        {"ENTRENAR_RUN_DIR", options.run_dir},
        {"ENTRENAR_STEP", std::to_string(step)},
        {"ENTRENAR_EPOCH", std::to_string(epoch)},
        {"ENTRENAR_TRIGGER", std::string(TriggerName(t))},
        {"ENTRENAR_CALLBACK", std::to_string(i)}};
    const auto timeout = std::chrono::milliseconds(
        static_cast<std::int64_t>(1000 * (cb.timeout ? cb.timeout->seconds : 60.0)));
    const CommandResult r = RunCommand(*cb.command, state.dump() + "\n", env, timeout,
                                       options.run_dir + "/logs/callbacks.log", options.base_dir);
    if (!r.error.empty()) return alert(r.error);
    if (r.timed_out) return alert("timed out after " + (cb.timeout ? cb.timeout->text : "60s"));
    if (r.exit_code != 0) {
      alert(r.exit_code < 0 ? "killed by a signal"
                            : "exited with " + std::to_string(r.exit_code) +
                                  " (its output is in logs/callbacks.log)");
    }
  }

  LoaderOptions MakeLoaderOptions() const {
    LoaderOptions o;
    o.batch_size = m.data.loader.batch_size;
    o.num_workers = m.data.loader.num_workers;
    o.prefetch_factor = m.data.loader.prefetch_factor;
    o.pin_memory = m.data.loader.pin_memory && prec.device.is_cuda();
    o.device = prec.device;
    return o;
  }

  // The rows of one epoch in the order the loader deals them: shuffled with seed + epoch, so a
  // resumed run sees the same order.
  std::vector<std::int64_t> EpochOrder(std::int64_t n) const {
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    if (m.data.loader.shuffle) {
      std::mt19937_64 rng(options.seed + static_cast<std::uint64_t>(epoch));
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    }
    return order;
  }

  // The micro-batches of one optimizer step (gradient accumulation).
  struct Window {
    std::int64_t size = 1;  // micro-batches in it (fewer at an epoch's end)
    std::int64_t micro = 0;
    double loss = 0;
    std::int64_t samples = 0;
  };

  // Forward and backward of one micro-batch; its gradients add to the window's.
  void MicroStep(const torch::Tensor& xb, const torch::Tensor& yb, Window* w) {
    torch::Tensor loss;
    {
      QatScope qat(*this);
      {
        AutocastScope autocast(prec);
        loss = TrainLoss(xb, yb);
      }
      const double factor = (prec.scale_loss ? scaler.scale() : 1.0) / static_cast<double>(w->size);
      if (factor == 1.0) {
        loss.backward();
      } else {
        (loss * factor).backward();
      }
    }
    w->loss += loss.item<double>();
    w->samples += xb.size(0);
    if (lm) tokens += ((xb.dim() == 3 ? xb.select(1, 0) : xb) >= 0).sum().item<std::int64_t>();
    ++w->micro;
  }

  // Clipping, the learning rate, the optimizer step and the step's metric event. `b` is the
  // window's last batch of `batches`.
  Status OptimizerStep(const Window& w, std::int64_t b, std::int64_t batches) {
    const bool take_step = !prec.scale_loss || UnscaleGradients();
    const bool last_of_epoch = b + 1 == batches;
    std::map<std::string, double> callback_values;
    GradientCallbacks(step + 1, last_of_epoch, &callback_values);
    if (m.training.gradient.clip_value) {
      torch::nn::utils::clip_grad_value_(net->parameters(), *m.training.gradient.clip_value);
    }
    double grad_norm = 0;
    if (m.training.gradient.clip_norm) {
      grad_norm =
          torch::nn::utils::clip_grad_norm_(net->parameters(), *m.training.gradient.clip_norm);
    }
    const double lr =
        LearningRateAt(m.scheduler, m.optimizer.lr, step, total_steps) * plateau.scale;
    for (std::size_t g = 0; g < group_lr.size(); ++g) {
      optimizer->param_groups()[g].options().set_lr(
          LearningRateAt(m.scheduler, group_lr[g], step, total_steps) * plateau.scale);
    }
    LearningRateCallbacks(step + 1, last_of_epoch, &callback_values);
    if (take_step) optimizer->step();
    ZeroGrad(*optimizer);
    ++step;
    continue_epoch = last_of_epoch ? epoch + 1 : epoch;
    continue_batch = last_of_epoch ? 0 : b + 1;
    samples += w.samples;
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    std::map<std::string, double> values = {
        {"train_loss", w.loss / static_cast<double>(w.size)},
        {"learning_rate", lr},
        {"samples_per_second", secs > 0 ? samples / secs : 0},
        {"total_steps", m.training.duration ? 0.0 : static_cast<double>(total_steps)}};
    if (m.training.gradient.clip_norm) values["grad_norm"] = grad_norm;
    if (lm) values["tokens_per_second"] = secs > 0 ? static_cast<double>(tokens) / secs : 0;
    if (prec.scale_loss) values["loss_scale"] = scaler.scale();
    values.insert(callback_values.begin(), callback_values.end());
    if (!std::isfinite(w.loss)) {
      return InvalidArgument("the training loss became " + std::to_string(w.loss) + " at step " +
                             std::to_string(step) + "; lower optimizer.lr");
    }
    last_values = values;
    last_values.erase("total_steps");
    Emit(Event::Kind::kMetric, values);
    RunCallbacks(Trigger::kStep, step);
    return OkStatus();
  }

  // After a step that ended at batch `b`: whether the run is done (validation every N steps,
  // the budget, the time budget, a stop), and the checkpoints that fall due.
  Result<bool> AfterStep(std::int64_t b, std::int64_t batches) {
    const bool last_of_epoch = b + 1 == batches;
    const std::optional<std::int64_t> every = m.training.validation.every;
    bool done = false;
    if (every && step % *every == 0 && Validate()) done = true;
    if (!m.training.duration && step >= total_steps) done = true;
    if (m.training.duration && std::chrono::duration<double>(Clock::now() - start).count() >=
                                   m.training.duration->seconds) {
      End("duration", "the time budget of " + m.training.duration->text + " was spent after step " +
                          std::to_string(step));
      done = true;
    }
    const Verdict verdict = sink.TakeVerdict();
    if ((options.stop && options.stop->load()) || verdict.halt) {
      summary.stopped = true;
      if (verdict.halt) {
        End("alert", "halted by an alert after step " + std::to_string(step));
      } else {
        End("stopped", "stopped on request after step " + std::to_string(step));
      }
      // Saved now: a resumed run continues with the next batch (validation included).
      if (!last_of_epoch) {
        ENTRENAR_RETURN_IF_ERROR(SaveCheckpoint(epoch, b + 1));
      } else {
        checkpoint_due = true;
      }
      return true;
    }
    const bool due = step % m.training.checkpoint.save_every == 0 ||
                     std::exchange(callback_checkpoint, false) || verdict.checkpoint;
    if (due && !done) {
      if (last_of_epoch) {
        checkpoint_due = true;  // after this epoch's validation
      } else {
        ENTRENAR_RETURN_IF_ERROR(SaveCheckpoint(epoch, b + 1));
      }
    }
    return done;
  }

  // The end of an epoch: its validation, callbacks and a checkpoint that fell due. Returns
  // whether the run is done.
  Result<bool> EndEpoch(bool done) {
    if (!summary.stopped || checkpoint_due) {
      if (!m.training.validation.every && Validate()) done = true;
    }
    summary.epochs = epoch;
    RunCallbacks(Trigger::kEpochEnd, epoch);
    if (std::exchange(callback_checkpoint, false)) checkpoint_due = true;
    if (checkpoint_due && !(done && !summary.stopped)) {
      ENTRENAR_RETURN_IF_ERROR(SaveCheckpoint(epoch + 1, 0));
      checkpoint_due = false;
    }
    return done;
  }

  // One epoch's batches, from where a resumed run left off. Returns whether the run is done.
  Result<bool> RunEpoch(const Budget& budget, const LoaderOptions& loader_options) {
    const std::int64_t n = train_x.size(0);
    const std::int64_t first_batch = epoch == start_epoch ? start_batch : 0;
    BatchLoader loader(train_x, train_y, torch::tensor(EpochOrder(n), torch::kLong), first_batch,
                       budget.batches, loader_options);
    const std::int64_t accum = m.training.gradient.accumulation_steps;
    Window w;
    bool done = false;
    for (std::int64_t b = first_batch; b < budget.batches && !done; ++b) {
      const auto [xb, yb] = loader.Next();
      // The window's last micro-batches may be fewer than `accum` at an epoch's end.
      w.size = std::min(accum, budget.batches - (b - w.micro));
      MicroStep(xb, yb, &w);
      if (w.micro < w.size) continue;
      ENTRENAR_RETURN_IF_ERROR(OptimizerStep(w, b, budget.batches));
      w = Window();
      ENTRENAR_ASSIGN_OR_RETURN(done, AfterStep(b, budget.batches));
    }
    return EndEpoch(done);
  }

  Status Loop() {
    const std::int64_t n = train_x.size(0);
    ENTRENAR_ASSIGN_OR_RETURN(const Budget budget, ComputeBudget(m, n));
    total_steps = budget.total_steps;
    Log("training " + std::to_string(n) + " samples, " + std::to_string(budget.steps_per_epoch) +
        " steps per epoch, " + std::to_string(total_steps) + " steps");
    if (saved_total_steps.value_or(0) > 0 && *saved_total_steps != total_steps)
      NoteBudgetChange(*saved_total_steps);
    net->train();
    const LoaderOptions loader_options = MakeLoaderOptions();
    bool done = false;
    for (epoch = start_epoch; epoch <= budget.epochs && !done && step < total_steps; ++epoch) {
      ENTRENAR_ASSIGN_OR_RETURN(done, RunEpoch(budget, loader_options));
    }
    const std::optional<std::int64_t> every = m.training.validation.every;
    if (every && step % *every != 0 && !summary.stopped) Validate();
    return OkStatus();
  }

  Status Save() {
    if (lm) {
      ENTRENAR_ASSIGN_OR_RETURN(summary.model_files, SaveLm(*lm, m, text_data, options.run_dir));
      return OkStatus();
    }
    summary.model_files = {m.output.model.format == "pt" ? "model.pt" : "model.safetensors"};
    formats::Safetensors st = Weights(model);
    nlohmann::ordered_json pre = {{"target", data.target},
                                  {"task", Classification() ? "classification" : "regression"},
                                  {"features", data.features},
                                  {"classes", data.classes}};
    pre["fills"] = nlohmann::ordered_json::array();
    for (const FillValue& f : data.fills) {
      pre["fills"].push_back({{"column", f.column}, {"strategy", f.strategy}, {"value", f.value}});
    }
    pre["encodings"] = nlohmann::ordered_json::array();
    for (const Encoding& e : data.encodings) {
      pre["encodings"].push_back(
          {{"column", e.column}, {"method", e.method}, {"categories", e.categories}});
    }
    pre["scaling"] = nlohmann::ordered_json::array();
    for (const ColumnScale& s : data.scaling) {
      pre["scaling"].push_back(
          {{"column", s.column}, {"method", s.method}, {"shift", s.shift}, {"scale", s.scale}});
    }
    st.metadata["format"] = "pt";
    st.metadata["entrenar.preprocessing"] = pre.dump();
    st.metadata["entrenar.name"] = m.name;
    st.metadata["entrenar.version"] = m.version;
    if (m.output.model.format == "pt")
      return WritePt(model, st.metadata, options.run_dir + "/model.pt");
    return formats::WriteSafetensorsFile(options.run_dir + "/model.safetensors", st);
  }
};

torch::Tensor ToTensor(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  if (rows == 0) return torch::empty({0, cols});
  return torch::tensor(v).reshape({rows, cols});
}

// The model's output per sample must be one value per class (one for regression and bce).
Status CheckOutput(const Manifest& m, const PreparedData& d, const Shape& out) {
  const bool classification = d.task == Task::kClassification;
  const bool binary = m.training.loss == "bce";
  if (binary && d.classes.size() != 2) {
    return InvalidArgument("training.loss: bce is binary cross-entropy, but the target `" +
                           d.target + "` has " + std::to_string(d.classes.size()) +
                           " classes; use cross_entropy");
  }
  const std::int64_t want =
      classification && !binary ? static_cast<std::int64_t>(d.classes.size()) : 1;
  if (out.size() != 1 || out[0] != want) {
    const std::string needs = binary ? "bce needs 1 (the logit of class `" + d.classes[1] + "`)"
                              : classification ? "the data has " + std::to_string(want) + " classes"
                                               : std::string("a regression target needs 1");
    return InvalidArgument("model.architecture.layers: the model outputs " + FormatShape(out) +
                           " values per sample but " + needs +
                           (out.size() == 1 ? "" : "; end with flatten and a linear layer"));
  }
  return OkStatus();
}

// An embedding first layer looks features up as ids: each must be an integer in range.
Status CheckIds(const Manifest& m, const PreparedData& d) {
  const auto& layers = m.model.architecture->layers;
  if (layers.empty() || !layers[0].embedding) return OkStatus();
  const std::int64_t n = layers[0].embedding->num_embeddings;
  const std::int64_t f = d.NumFeatures();
  for (const auto& [name, split] : {std::pair<const char*, const Split*>{"training", &d.train},
                                    {"validation", &d.val},
                                    {"test", &d.test}}) {
    for (std::size_t i = 0; i < split->x.size(); ++i) {
      const float v = split->x[i];
      if (v >= 0 && v < static_cast<float>(n) && std::floor(v) == v) continue;
      return InvalidArgument(
          "model.architecture.layers[0] (embedding): feature `" +
          d.features[i % static_cast<std::size_t>(f)] + "` holds " + expr::FormatDouble(v) +
          " in row " + std::to_string(i / static_cast<std::size_t>(f) + 1) + " of the " + name +
          " split; an embedding needs integer ids from 0 to " + std::to_string(n - 1) +
          " (raise num_embeddings, or do not normalize the id columns)");
    }
  }
  return OkStatus();
}

// The model of `m` for data `d`: shapes checked, weights from model.source, freezing and
// optimizer groups applied.
struct ModelParts {
  torch::nn::Sequential model;
  std::vector<Group> groups;
  std::vector<Shape> shapes;
};

Result<ModelParts> SetUpModel(const Manifest& m, const PreparedData& d,
                              const TrainOptions& options) {
  const Shape input = {d.NumFeatures()};
  ModelParts parts;
  ENTRENAR_ASSIGN_OR_RETURN(parts.shapes, InferShapes(*m.model.architecture, input));
  ENTRENAR_RETURN_IF_ERROR(CheckOutput(m, d, parts.shapes.back()));
  ENTRENAR_RETURN_IF_ERROR(CheckIds(m, d));
  parts.model = BuildModel(m, input, parts.shapes);
  if (m.model.source) {
    const std::string file = ResolvePath(options.base_dir, *m.model.source);
    ENTRENAR_ASSIGN_OR_RETURN(const formats::Safetensors st, formats::ReadSafetensorsFile(file));
    ENTRENAR_RETURN_IF_ERROR(LoadWeights(parts.model, st, "model.source: " + file));
  }
  ENTRENAR_RETURN_IF_ERROR(ApplyFreeze(parts.model, m.model.freeze));
  ENTRENAR_ASSIGN_OR_RETURN(parts.groups, MakeGroups(parts.model, m.optimizer));
  return parts;
}

// --dry-run of a transformer: sequences, trainable (adapter) and total parameters, memory.
Result<DryRun> PlanText(const Manifest& m, const TrainOptions& options) {
  ENTRENAR_ASSIGN_OR_RETURN(const Precision prec, ResolvePrecision(m));
  ENTRENAR_ASSIGN_OR_RETURN(const TextData d, PrepareText(m, options.base_dir, options.seed));
  ENTRENAR_ASSIGN_OR_RETURN(const LmModel lm, BuildLm(m, d, options.base_dir));
  const auto rows = static_cast<std::int64_t>(d.train.size());
  ENTRENAR_ASSIGN_OR_RETURN(const Budget budget, ComputeBudget(m, rows));
  DryRun plan;
  plan.train_rows = rows;
  plan.val_rows = static_cast<std::int64_t>(d.val.size());
  plan.test_rows = static_cast<std::int64_t>(d.test.size());
  plan.task =
      d.instruction ? "causal language model, loss on the answers" : "causal language model";
  for (const auto& p : lm.model->parameters()) {
    if (p.requires_grad()) plan.trainable_parameters += p.numel();
  }
  // Adapters are new parameters on top of the base model's.
  std::int64_t adapters = 0;
  for (const auto& p : lm.model->named_parameters()) {
    if (p.key().find(".lora_") != std::string::npos) adapters += p.value().numel();
  }
  plan.frozen_parameters = lm.total_parameters + adapters - plan.trainable_parameters;
  plan.steps_per_epoch = budget.steps_per_epoch;
  plan.epochs = budget.epochs;
  plan.total_steps = budget.total_steps;
  const LlamaConfig& c = lm.model->config();
  plan.notes.push_back("model:        llama, " + std::to_string(c.num_hidden_layers) +
                       " layers, hidden " + std::to_string(c.hidden_size) + ", vocab " +
                       std::to_string(c.vocab_size) +
                       (lm.base.empty() ? ", new weights" : ", from " + lm.base));
  if (!lm.lora_modules.empty()) {
    plan.notes.push_back("lora:         rank " + std::to_string(lm.lora.rank) + " on " +
                         std::to_string(lm.lora_modules.size()) + " projections" +
                         (m.lora.quantize_base ? ", base " + m.lora.quant_type + " 4-bit" : ""));
  }
  // Trainable weights with gradients and two Adam moments in the parameter dtype; frozen ones
  // once (4-bit projections at their stored size); activations of one batch roughly
  // 16 · hidden values per token and layer, plus the logits.
  const auto bytes = static_cast<std::int64_t>(torch::elementSize(prec.param_dtype));
  std::int64_t frozen_bytes = 0;
  for (const auto& p : lm.model->parameters()) {
    if (!p.requires_grad()) frozen_bytes += p.numel() * bytes;
  }
  if (m.lora.enabled && m.lora.quantize_base)
    frozen_bytes += static_cast<std::int64_t>(lm.model->ProjectionBytes());
  const std::int64_t batch_tokens = m.data.loader.batch_size * d.max_length;
  plan.estimated_memory_bytes =
      plan.trainable_parameters * bytes * 4 + frozen_bytes +
      batch_tokens * (16 * c.hidden_size * c.num_hidden_layers + 2 * c.vocab_size) * bytes;
  plan.device = DeviceName(prec.device);
  plan.threads = torch::get_num_threads();
  return plan;
}

Result<DryRun> PlanOrThrow(const Manifest& m, const TrainOptions& options) {
  if (plan::FindTokenize(m)) return PlanText(m, options);
  ENTRENAR_ASSIGN_OR_RETURN(const Precision prec, ResolvePrecision(m));
  ENTRENAR_ASSIGN_OR_RETURN(PreparedData d, PrepareData(m, options.base_dir, options.seed));
  ENTRENAR_ASSIGN_OR_RETURN(ModelParts parts, SetUpModel(m, d, options));
  ENTRENAR_ASSIGN_OR_RETURN(const Budget budget, ComputeBudget(m, d.train.rows));
  DryRun plan;
  plan.train_rows = d.train.rows;
  plan.val_rows = d.val.rows;
  plan.test_rows = d.test.rows;
  plan.features = d.features;
  plan.target = d.target;
  plan.task = d.task == Task::kClassification ? "classification" : "regression";
  plan.classes = d.classes;
  for (const auto& p : parts.model->parameters()) {
    (p.requires_grad() ? plan.trainable_parameters : plan.frozen_parameters) += p.numel();
  }
  plan.steps_per_epoch = budget.steps_per_epoch;
  plan.epochs = budget.epochs;
  plan.total_steps = budget.total_steps;
  // Weights + gradients + optimizer state (two moments for the Adam family and LAMB, one for
  // momentum SGD, RMSprop and Adagrad), plus one batch of inputs and the two widest activations.
  const std::string& o = m.optimizer.name;
  const std::int64_t states = (o == "adam" || o == "adamw" || o == "lamb") ? 2
                              : (o == "sgd" && m.optimizer.momentum == 0)  ? 0
                                                                           : 1;
  std::int64_t widest = d.NumFeatures();
  for (const Shape& s : parts.shapes) {
    widest =
        std::max(widest, std::accumulate(s.begin(), s.end(), std::int64_t{1}, std::multiplies<>()));
  }
  const std::int64_t bytes = static_cast<std::int64_t>(torch::elementSize(prec.param_dtype));
  plan.estimated_memory_bytes =
      bytes * (plan.trainable_parameters * (2 + states) + plan.frozen_parameters +
               m.data.loader.batch_size * (d.NumFeatures() + 2 * widest));
  plan.device = DeviceName(prec.device);
  plan.threads = torch::get_num_threads();
  return plan;
}

// Forwards a fold's log lines, prefixed, and nothing else: a fold's steps are not the run's.
class FoldSink : public EventSink {
 public:
  FoldSink(EventSink& out, std::string prefix) : out_(out), prefix_(std::move(prefix)) {}
  void OnEvent(const Event& e) override {
    if (e.kind != Event::Kind::kLog) return;
    Event copy = e;
    copy.text = prefix_ + e.text;
    out_.OnEvent(copy);
  }
  Verdict TakeVerdict() override { return out_.TakeVerdict(); }

 private:
  EventSink& out_;
  std::string prefix_;
};

// Trains one model on prepared data: the run itself, or one cross-validation fold.
// Precision, loss scaling and seeding of a run, before its model is made.
Status PrepareRun(Run& run) {
  const Manifest& m = run.m;
  ENTRENAR_ASSIGN_OR_RETURN(run.prec, ResolvePrecision(m));
  if (m.training.mixed_precision.loss_scale.number) {
    run.scaler = LossScaler::Fixed(*m.training.mixed_precision.loss_scale.number);
  }
  at::globalContext().setDeterministicCuDNN(m.training.deterministic);
  at::globalContext().setBenchmarkCuDNN(m.training.benchmark && !m.training.deterministic);
  torch::manual_seed(run.options.seed);
  return OkStatus();
}

// Moves the model to its device and dtype and makes the optimizer.
Status PlaceModel(Run& run, const std::string& prefix) {
  run.net->to(run.prec.device, run.prec.param_dtype);
  // Optimizer groups hold the parameters themselves, so they are made after the move.
  ENTRENAR_ASSIGN_OR_RETURN(const std::vector<Group> groups,
                            MakeGroups(*run.net, prefix, run.m.optimizer));
  for (const Group& g : groups) run.group_lr.push_back(g.lr);
  run.optimizer = MakeOptimizer(run.m.optimizer, groups);
  for (const auto& p : run.net->parameters()) run.summary.parameters += p.numel();
  run.summary.device = DeviceName(run.prec.device);
  return OkStatus();
}

// A sequential model on feature data.
Status SetUpSequential(Run& run, const TrainOptions& options) {
  const Manifest& m = run.m;
  const PreparedData& d = run.data;
  ENTRENAR_ASSIGN_OR_RETURN(ModelParts parts, SetUpModel(m, d, options));
  run.model = parts.model;
  run.net = run.model.ptr();
  ENTRENAR_RETURN_IF_ERROR(PlaceModel(run, "layers."));
  const auto& layers = m.model.architecture->layers;
  run.input_dtype = layers[0].embedding ? torch::kFloat : run.prec.param_dtype;
  const std::int64_t f = d.NumFeatures();
  run.train_x = ToTensor(d.train.x, d.train.rows, f).to(run.input_dtype);
  run.train_y = torch::tensor(d.train.y);
  run.val_x = ToTensor(d.val.x, d.val.rows, f).to(run.input_dtype);
  run.val_y = d.val.rows ? torch::tensor(d.val.y) : torch::empty({0});
  run.test_x = ToTensor(d.test.x, d.test.rows, f).to(run.input_dtype);
  run.test_y = d.test.rows ? torch::tensor(d.test.y) : torch::empty({0});
  run.summary.classes = d.classes;
  run.Log("data: " + std::to_string(d.train.rows) + " train, " + std::to_string(d.val.rows) +
          " val, " + std::to_string(d.test.rows) + " test rows; " + std::to_string(f) +
          " features; " +
          (run.Classification() ? std::to_string(d.classes.size()) + " classes" : "regression") +
          "; device " + run.summary.device);
  if (m.model.source) run.Log("weights loaded from " + *m.model.source);
  return OkStatus();
}

// A transformer on text data: rows of token ids, padded to max_length or to the longest.
Status SetUpTransformer(Run& run, const TrainOptions& options) {
  const Manifest& m = run.m;
  const TextData& d = run.text_data;
  ENTRENAR_ASSIGN_OR_RETURN(LmModel lm, BuildLm(m, d, options.base_dir));
  run.lm = std::move(lm);
  run.net = run.lm->model.ptr();
  ENTRENAR_RETURN_IF_ERROR(PlaceModel(run, ""));
  run.summary.parameters = run.lm->total_parameters;
  const std::int64_t width = d.padding == "max_length" ? d.max_length : 0;
  std::tie(run.train_x, run.train_y) = LmTensors(d.train, width);
  std::tie(run.val_x, run.val_y) = LmTensors(d.val, width);
  std::tie(run.test_x, run.test_y) = LmTensors(d.test, width);
  std::int64_t trainable = 0;
  for (const auto& p : run.net->parameters()) trainable += p.requires_grad() ? p.numel() : 0;
  const LlamaConfig& c = run.lm->model->config();
  run.Log("data: " + std::to_string(d.train.size()) + " train, " + std::to_string(d.val.size()) +
          " val, " + std::to_string(d.test.size()) + " test sequences of up to " +
          std::to_string(run.train_x.size(1)) + " tokens (" +
          (d.instruction ? "instruction records, loss on the answers" : "plain text") + ")" +
          (d.truncated ? "; " + std::to_string(d.truncated) + " truncated" : "") + "; device " +
          run.summary.device);
  run.Log("model: " + std::to_string(c.num_hidden_layers) + " layers, hidden " +
          std::to_string(c.hidden_size) + ", " + std::to_string(c.num_attention_heads) + "/" +
          std::to_string(c.num_key_value_heads) + " heads, vocab " + std::to_string(c.vocab_size) +
          "; " + std::to_string(trainable) + " of " + std::to_string(run.lm->total_parameters) +
          " parameters train" +
          (run.lm->base.empty() ? "; new weights" : "; weights from " + run.lm->base));
  if (!run.lm->lora_modules.empty()) {
    run.Log("lora: rank " + std::to_string(run.lm->lora.rank) + " on " +
            std::to_string(run.lm->lora_modules.size()) + " projections" +
            (m.lora.quantize_base
                 ? "; base weights " + m.lora.quant_type + " 4-bit (" +
                       std::to_string(run.lm->model->ProjectionBytes()) + " bytes, float32 " +
                       std::to_string(run.lm->model->ProjectionBytesFloat32()) + ")"
                 : ""));
  }
  return OkStatus();
}

// Trains `run`, set up: the run itself, or one cross-validation fold.
Result<TrainSummary> TrainRun(Run& run, bool fold_run) {
  const Manifest& m = run.m;
  const TrainOptions& options = run.options;
  run.fold_run = fold_run;
  if (m.data.loader.pin_memory && !run.prec.device.is_cuda()) {
    run.Log("data.loader.pin_memory has no effect on the CPU");
  }
  if (!fold_run) run.Emit(Event::Kind::kState, {}, "running");
  if (!options.resume_from.empty() && !fold_run) {
    ENTRENAR_RETURN_IF_ERROR(run.Resume(options.resume_from));
  }
  if (m.quantize.enabled) ENTRENAR_RETURN_IF_ERROR(run.CheckQuantizable());
  ENTRENAR_RETURN_IF_ERROR(run.Loop());
  if (run.summary.end_reason.empty()) run.End("budget", run.BudgetReached());
  run.RunCallbacks(Trigger::kTrainEnd, 1);
  if (fold_run) {
    if (!run.best_state.empty()) {
      run.Restore(run.best_state);
      run.summary.val = run.Evaluate(run.val_x, run.val_y, "val_", nullptr);
    }
    return run.summary;
  }
  // The final checkpoint (a stopped run saved its own where it stopped).
  if (!run.summary.stopped)
    ENTRENAR_RETURN_IF_ERROR(run.SaveCheckpoint(run.continue_epoch, run.continue_batch));
  if (!run.best_state.empty()) run.Restore(run.best_state);
  if (m.quantize.enabled) ENTRENAR_RETURN_IF_ERROR(run.QuantizeModel());
  run.summary.test = run.Evaluate(run.test_x, run.test_y, "test_", &run.summary.test_confusion);
  if (!run.summary.test.empty()) run.Emit(Event::Kind::kValidation, run.summary.test, "test");
  ENTRENAR_RETURN_IF_ERROR(run.Save());
  run.summary.steps = run.step;
  run.summary.wall_seconds = std::chrono::duration<double>(Clock::now() - run.start).count();
  run.summary.samples_per_second = run.summary.wall_seconds > 0
                                       ? static_cast<double>(run.samples) / run.summary.wall_seconds
                                       : 0;
  run.Emit(Event::Kind::kState, {}, run.summary.stopped ? "stopped" : "succeeded");
  return run.summary;
}

Result<TrainSummary> TrainData(const Manifest& m, const TrainOptions& options, EventSink& sink,
                               PreparedData data, bool fold_run) {
  Run run(m, options, sink, std::move(data));
  ENTRENAR_RETURN_IF_ERROR(PrepareRun(run));
  ENTRENAR_RETURN_IF_ERROR(SetUpSequential(run, options));
  return TrainRun(run, fold_run);
}

Result<TrainSummary> TrainText(const Manifest& m, const TrainOptions& options, EventSink& sink,
                               TextData text) {
  Run run(m, options, sink, PreparedData{});
  run.text_data = std::move(text);
  ENTRENAR_RETURN_IF_ERROR(PrepareRun(run));
  ENTRENAR_RETURN_IF_ERROR(SetUpTransformer(run, options));
  return TrainRun(run, false);
}

// Drops every event (evaluation without a run).
class NullSink : public EventSink {
 public:
  void OnEvent(const Event&) override {}
};

Result<std::map<std::string, double>> EvaluateOrThrow(const Manifest& m,
                                                      const TrainOptions& options) {
  NullSink sink;
  std::unique_ptr<Run> run;
  if (plan::FindTokenize(m)) {
    ENTRENAR_ASSIGN_OR_RETURN(TextData text, PrepareText(m, options.base_dir, options.seed));
    run = std::make_unique<Run>(m, options, sink, PreparedData{});
    run->text_data = std::move(text);
    ENTRENAR_RETURN_IF_ERROR(PrepareRun(*run));
    ENTRENAR_RETURN_IF_ERROR(SetUpTransformer(*run, options));
  } else {
    ENTRENAR_ASSIGN_OR_RETURN(PreparedData data, PrepareData(m, options.base_dir, options.seed));
    run = std::make_unique<Run>(m, options, sink, std::move(data));
    ENTRENAR_RETURN_IF_ERROR(PrepareRun(*run));
    ENTRENAR_RETURN_IF_ERROR(SetUpSequential(*run, options));
  }
  std::map<std::string, double> out = run->Evaluate(run->val_x, run->val_y, "val_", nullptr);
  for (const auto& [k, v] : run->Evaluate(run->test_x, run->test_y, "test_", nullptr)) out[k] = v;
  return out;
}

// Cross-validation results, kept in the run directory so a resumed run reports them too.
struct FoldResults {
  std::vector<std::map<std::string, double>> folds;
  std::map<std::string, double> mean, std;
  bool stopped = false;
};

void Summarize(FoldResults& r) {
  std::map<std::string, std::vector<double>> values;
  for (const auto& fold : r.folds) {
    for (const auto& [k, v] : fold) values[k].push_back(v);
  }
  for (const auto& [k, v] : values) {
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    double var = 0;
    for (double x : v) var += (x - mean) * (x - mean);
    r.mean[k] = mean;
    r.std[k] = std::sqrt(var / static_cast<double>(v.size()));
  }
}

Result<FoldResults> CrossValidate(const Manifest& m, const TrainOptions& options, EventSink& sink) {
  const auto& cv = *m.training.validation.cross_validation;
  const std::string file = options.run_dir + "/cross_validation.json";
  FoldResults r;
  if (!options.resume_from.empty()) {
    const Result<std::string> text = ReadWholeFile(file);
    const nlohmann::json j =
        text.ok() ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json();
    if (j.is_object() && j.contains("folds")) {
      r.folds = j["folds"].get<std::vector<std::map<std::string, double>>>();
      Summarize(r);
      return r;
    }
  }
  for (std::int64_t k = 0; k < cv.folds; ++k) {
    const std::string name = "fold " + std::to_string(k + 1) + "/" + std::to_string(cv.folds);
    ENTRENAR_ASSIGN_OR_RETURN(PreparedData d,
                              PrepareData(m, options.base_dir, options.seed,
                                          Fold{k, cv.folds, cv.stratified, cv.shuffle}));
    FoldSink fold_sink(sink, name + ": ");
    ENTRENAR_ASSIGN_OR_RETURN(TrainSummary s, TrainData(m, options, fold_sink, std::move(d), true));
    std::string line = name + ":";
    for (const auto& [key, v] : s.val) line += " " + key + "=" + expr::FormatDouble(v);
    Event e;
    e.kind = Event::Kind::kLog;
    e.text = line;
    sink.OnEvent(e);
    r.folds.push_back(s.val);
    if (s.stopped) {
      r.stopped = true;
      return r;
    }
  }
  Summarize(r);
  nlohmann::ordered_json j = {{"folds", r.folds}, {"mean", r.mean}, {"std", r.std}};
  ENTRENAR_RETURN_IF_ERROR(WriteFileAtomic(file, j.dump(2) + "\n"));
  return r;
}

Result<TrainSummary> TrainOrThrow(const Manifest& m, const TrainOptions& outer,
                                  EventSink& outer_sink) {
  // Alerts watch every metric of the run; a halt stops it as SIGTERM would, after a checkpoint.
  MonitorSink sink(m, outer_sink);
  const TrainOptions& options = outer;
  FoldResults cv;
  if (m.training.validation.cross_validation) {
    ENTRENAR_ASSIGN_OR_RETURN(cv, CrossValidate(m, options, sink));
    Event e;
    e.kind = Event::Kind::kValidation;
    e.text = "cross_validation";
    for (const auto& [k, v] : cv.mean) e.values[k + "_mean"] = v;
    for (const auto& [k, v] : cv.std) e.values[k + "_std"] = v;
    if (!cv.stopped) sink.OnEvent(e);
  }
  TrainSummary summary;
  if (cv.stopped) {
    summary.stopped = true;
  } else if (plan::FindTokenize(m)) {
    ENTRENAR_ASSIGN_OR_RETURN(TextData text, PrepareText(m, options.base_dir, options.seed));
    ENTRENAR_ASSIGN_OR_RETURN(summary, TrainText(m, options, sink, std::move(text)));
  } else {
    ENTRENAR_ASSIGN_OR_RETURN(PreparedData data, PrepareData(m, options.base_dir, options.seed));
    ENTRENAR_ASSIGN_OR_RETURN(summary, TrainData(m, options, sink, std::move(data), false));
  }
  summary.folds = cv.folds;
  summary.folds_mean = cv.mean;
  summary.folds_std = cv.std;
  summary.halted = sink.halted();
  summary.alerts = sink.fired();
  if (summary.halted && !summary.alerts.empty()) {
    summary.end_reason = "alert";
    summary.end_message = "halted by an alert: " + summary.alerts.back().message + " (step " +
                          std::to_string(summary.alerts.back().step) + ")";
  } else if (cv.stopped) {
    summary.end_reason = "stopped";
    summary.end_message = "stopped on request during cross-validation";
  }
  return summary;
}

}  // namespace

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  env["libtorch"] = TORCH_VERSION;
  env["threads"] = std::to_string(torch::get_num_threads());
  env["cuda_available"] = torch::cuda::is_available() ? "true" : "false";
  env["cuda_devices"] = std::to_string(torch::cuda::device_count());
  std::string config = torch::show_config();
  for (const char* blas : {"OpenBLAS", "MKL", "BLIS"}) {
    if (config.find(blas) != std::string::npos) {
      env["blas"] = blas;
      break;
    }
  }
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      env["cpu"] = line.substr(line.find(':') + 2);
      break;
    }
  }
  return env;
}

Result<std::int64_t> CheckpointStep(const std::string& checkpoint_dir) {
  const std::string file = run::Layout::CheckpointState(checkpoint_dir);
  ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(file));
  ENTRENAR_ASSIGN_OR_RETURN(const run::CheckpointState state,
                            run::DecodeCheckpointState(text, file));
  return state.step;
}

Result<DryRun> PlanRun(const Manifest& m, const TrainOptions& options) {
  try {
    return PlanOrThrow(m, options);
  } catch (const c10::Error& e) {
    return Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("planning failed: ") + e.what());
  }
}

Result<std::map<std::string, double>> EvaluateModel(const Manifest& m,
                                                    const TrainOptions& options) {
  try {
    return EvaluateOrThrow(m, options);
  } catch (const c10::Error& e) {
    return Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("evaluation failed: ") + e.what());
  }
}

Result<TrainSummary> Train(const Manifest& m, const TrainOptions& options, EventSink& sink) {
  try {
    return TrainOrThrow(m, options, sink);
  } catch (const c10::Error& e) {
    return Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("training failed: ") + e.what());
  }
}

}  // namespace entrenar::engine
