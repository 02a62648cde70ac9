#include "quantize_run.h"

#include <cstdio>

#include "fake_quant.h"

namespace entrenar::engine {
namespace {

// Records the activation ranges: calibration.samples rows of validation (or training) data.
void CalibrateActivations(const manifest::Manifest& m, TaskModel& task, const Precision& prec) {
  const Splits& s = task.splits();
  const InputBuilder inputs = task.TrainingInputs();
  // Image data keeps training images undecoded (train_x holds row numbers): at most 1024 of them
  // decoded for calibration.
  const std::int64_t decoded = std::min<std::int64_t>(
      {s.train_x.size(0), m.quantize.calibration.samples, std::int64_t{1024}});
  const torch::Tensor x = s.val_x.size(0) > 0 ? s.val_x
                          : inputs            ? inputs(s.train_x.slice(0, 0, decoded))
                                              : s.train_x;
  const std::int64_t n = std::min<std::int64_t>(m.quantize.calibration.samples, x.size(0));
  const std::int64_t batch = m.data.loader.batch_size;
  torch::NoGradGuard no_grad;
  task.net().eval();
  task.activation_hooks().observing = true;
  for (std::int64_t i = 0; i < n; i += batch) {
    const torch::Tensor xb = x.slice(0, i, std::min(n, i + batch)).to(prec.device);
    AutocastScope autocast(prec);
    task.Calibrate(xb);
  }
  task.activation_hooks().observing = false;
  task.activation_hooks().Freeze();
  task.net().train();
}

std::string Metrics(const TrainSummary& s) {
  std::string line;
  for (const char* k : {"val_loss", "val_accuracy", "val_perplexity", "val_r2"}) {
    if (!s.quantized_before.count(k) || !s.quantized_after.count(k)) continue;
    char buf[64];
    std::snprintf(buf, sizeof(buf), " %s %.4g -> %.4g", k, s.quantized_before.at(k),
                  s.quantized_after.at(k));
    line += buf;
  }
  return line;
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> QuantTargets(const manifest::Manifest& m,
                                                                TaskModel& task) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  const std::string prefix = task.ParameterPrefix();
  for (auto& p : task.net().named_parameters()) {
    const std::string name = prefix + p.key();
    if (p.value().dim() >= 2 && p.value().numel() > 0 && !Excluded(m, name)) {
      out.emplace_back(name, p.value());
    }
  }
  return out;
}

Status CheckQuantizable(const manifest::Manifest& m, TaskModel& task) {
  const QuantSpec spec = WeightSpec(m);
  for (const auto& [name, w] : QuantTargets(m, task)) {
    const Status s = CheckGroups(w, spec);
    if (!s.ok()) return Status(s.code(), s.message() + " (" + name + ")");
  }
  return OkStatus();
}

Status QuantizeTrained(const manifest::Manifest& m, TaskModel& task, const Precision& prec,
                       TrainSummary& summary, Reporter& out) {
  const QuantSpec spec = WeightSpec(m);
  const Splits& s = task.splits();
  summary.quantized_before = task.Evaluate(s.val_x, s.val_y, "val_", nullptr);
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, w] : QuantTargets(m, task)) {
      Result<torch::Tensor> q = FakeQuantize(w, spec);
      if (!q.ok()) return Status(q.status().code(), q.status().message() + " (" + name + ")");
      w.copy_(*q);
    }
  }
  QuantSpec activations = spec;
  activations.bits = 8;
  activations.granularity = "per_tensor";
  const bool dynamic = m.quantize.scheme == "dynamic";
  task.AddActivationQuantizers(m, activations, dynamic);
  if (!dynamic) CalibrateActivations(m, task, prec);
  summary.quantized_after = task.Evaluate(s.val_x, s.val_y, "val_", nullptr);
  out.Log("quantize: " + std::to_string(m.quantize.bits) + "-bit " + m.quantize.scheme + " " +
          m.quantize.granularity + " weights (" + spec.method +
          "), 8-bit activations:" + Metrics(summary));
  return OkStatus();
}

QatScope::QatScope(const manifest::Manifest& m, TaskModel& task) {
  if (!m.quantize.enabled || !m.quantize.qat.enabled) return;
  const QuantSpec spec = WeightSpec(m);
  torch::NoGradGuard no_grad;
  for (auto& [name, w] : QuantTargets(m, task)) {
    Result<torch::Tensor> q = FakeQuantize(w, spec);
    if (!q.ok()) continue;  // a group_size mismatch is reported by QuantizeTrained
    saved_.emplace_back(w, w.clone());
    w.copy_(*q);
  }
}

QatScope::~QatScope() {
  torch::NoGradGuard no_grad;
  for (auto& [w, original] : saved_) w.copy_(original);
}

}  // namespace entrenar::engine
