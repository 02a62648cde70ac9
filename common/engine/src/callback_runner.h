// The callbacks of a run (SPEC §9) as the training loop meets them; none run in a
// cross-validation fold. Internal to the engine (includes LibTorch).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "entrenar/engine/callbacks.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/manifest/manifest.h"

#include "run_context.h"
#include "task_model.h"

namespace entrenar::engine {

// A plain object owned by the training loop.
class CallbackRunner {
 public:
  CallbackRunner(const manifest::Manifest& m, const TrainOptions& options, Reporter& out,
                 const Progress& at, bool enabled)
      : m_(m), options_(options), out_(out), at_(at), enabled_(enabled) {}

  // gradient_monitor, due at step `step`: the global gradient norm before clipping, per layer
  // with `per_layer`, and with `log_histogram` 20-bin histograms appended to gradients.jsonl.
  void GradientValues(std::int64_t step, bool last_of_epoch, torch::nn::Module& net,
                      std::map<std::string, double>* values);
  // lr_monitor, due at step `step`: each optimizer group's learning rate.
  void LearningRateValues(std::int64_t step, bool last_of_epoch, torch::optim::Optimizer& optimizer,
                          std::map<std::string, double>* values);

  // The checkpoint, sample_predictions and custom callbacks due at the `count`-th `t`; `val`
  // is the last validation.
  void Run(Trigger t, std::int64_t count, TaskModel& task,
           const std::map<std::string, double>& val);

  // The last step's metrics, which custom callbacks are given.
  void set_last_values(std::map<std::string, double> v) { last_values_ = std::move(v); }
  // Whether a checkpoint callback asked for a checkpoint since the last call.
  bool TakeCheckpointRequest() { return std::exchange(checkpoint_requested_, false); }

 private:
  bool StepDue(const manifest::CallbackConfig& cb, std::int64_t step, bool last_of_epoch) const;
  void Checkpoint(std::size_t i, const manifest::CallbackConfig& cb,
                  const std::map<std::string, double>& val);
  void SamplePredictions(const manifest::CallbackConfig& cb, Trigger t, TaskModel& task);
  void Custom(std::size_t i, const manifest::CallbackConfig& cb, Trigger t,
              const std::map<std::string, double>& val);

  const manifest::Manifest& m_;
  const TrainOptions& options_;
  Reporter& out_;
  const Progress& at_;
  bool enabled_;
  bool checkpoint_requested_ = false;
  std::map<std::size_t, double> best_;  // save_best checkpoint callbacks' best values
  std::map<std::string, double> last_values_;
};

}  // namespace entrenar::engine
