// What a run learns from each validation: the best weights (training.checkpoint.save_best),
// early stopping and the plateau schedule. Internal to the engine (includes LibTorch).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "entrenar/engine/schedule.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/manifest/manifest.h"
#include "entrenar/run/checkpoint_state.h"

namespace entrenar::engine {

// What training changes: the trainable parameters and the buffers (frozen weights, a
// transformer's base under LoRA included, never change).
std::vector<torch::Tensor> Snapshot(torch::nn::Module& net);
void RestoreSnapshot(torch::nn::Module& net, const std::vector<torch::Tensor>& s);

// Whether `value` improves on `best` by more than `delta` (`mode` max or min).
bool Improves(double value, double best, const std::string& mode, double delta);

// `name` or `val_` + `name` in validation `v`: a metric may be named with or without its
// prefix (`accuracy` is `val_accuracy`).
std::optional<double> Lookup(const std::map<std::string, double>& v, const std::string& name);

// A plain object owned by the training loop.
class ValidationWatch {
 public:
  explicit ValidationWatch(const manifest::Manifest& m) : m_(m) {}

  struct Outcome {
    std::string plateau;  // the plateau schedule lowered the learning rate: the log line
    std::string stop;     // early stopping: why
  };
  // Records validation `v` at `step`; the best weights are a snapshot of `net`.
  Outcome Observe(const std::map<std::string, double>& v, std::int64_t step,
                  torch::nn::Module& net);

  double lr_scale() const { return plateau_.scale; }
  const std::vector<torch::Tensor>& best_weights() const { return best_; }
  void set_best_weights(std::vector<torch::Tensor> best) { best_ = std::move(best); }

  // The best value, its metric and step, for the summary.
  void Report(TrainSummary& summary) const;
  // Its part of a checkpoint's state, written and read back.
  void Save(run::CheckpointState& c) const;
  void Restore(const run::CheckpointState& c);

 private:
  const manifest::Manifest& m_;
  std::vector<torch::Tensor> best_;  // the best weights' snapshot; empty before one
  std::string best_metric_;
  std::optional<double> best_value_;
  std::int64_t best_step_ = 0;
  std::int64_t stale_ = 0;  // validations since early stopping's metric improved
  std::optional<double> early_best_;
  PlateauTracker plateau_;
};

}  // namespace entrenar::engine
