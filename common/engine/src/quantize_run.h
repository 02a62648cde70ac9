// Quantization in a run (SPEC §7): which weights are rounded, the check before training,
// quantization-aware training's scope, and post-training quantization with calibrated
// activations. Internal to the engine (includes LibTorch).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/manifest/manifest.h"

#include "precision.h"
#include "run_context.h"
#include "task_model.h"

namespace entrenar::engine {

// The weights quantization rounds: matrices and kernels (2 or more dimensions) under their
// saved names, less quantize.exclude.
std::vector<std::pair<std::string, torch::Tensor>> QuantTargets(const manifest::Manifest& m,
                                                                TaskModel& task);

// Every quantized weight fits the granularity (rows split into groups), checked before
// training rather than after it.
Status CheckQuantizable(const manifest::Manifest& m, TaskModel& task);

// Post-training quantization of the trained model: weights rounded to quantize.bits in place,
// activation ranges calibrated on calibration.samples validation rows (training rows without
// validation), the validation metrics before and after in `summary`, and a log line of them.
Status QuantizeTrained(const manifest::Manifest& m, TaskModel& task, const Precision& prec,
                       TrainSummary& summary, Reporter& out);

// Quantization-aware training: while alive, the quantized weights hold their fake-quantized
// values, so forward and backward see the quantized model; on destruction the float weights
// come back, and the optimizer applies the gradients to them (the straight-through estimate).
// Does nothing unless quantize.qat is enabled.
class QatScope {
 public:
  QatScope(const manifest::Manifest& m, TaskModel& task);
  ~QatScope();
  QatScope(const QatScope&) = delete;
  QatScope& operator=(const QatScope&) = delete;

 private:
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;  // (weight, its float value)
};

}  // namespace entrenar::engine
