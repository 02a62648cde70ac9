#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace entrenar::run {

// Where each file of a run directory lies (DESIGN.md, "Run directory"). The one owner of the
// layout: the worker writes it, entrenard and the CLI look into it through these names.
// A plain value type.
struct Layout {
  explicit Layout(std::string dir) : root(std::move(dir)) {}

  std::string root;
  std::string Job() const { return root + "/job.yaml"; }  // the manifest entrenard ran
  std::string Events() const { return root + "/events.jsonl"; }
  std::string Summary() const { return root + "/summary.json"; }
  // The run's inputs as it started: its resolved manifest with the sha256 of every local file it
  // reads (a lock file; `--resume` checks the files against it).
  std::string Lock() const { return root + "/lock.yaml"; }
  std::string Logs() const { return root + "/logs"; }
  std::string WorkerLog() const { return root + "/logs/worker.log"; }
  // What callbacks write (SPEC §9): sample_predictions, gradient_monitor's histograms, the
  // output of custom callbacks; and cross-validation's folds.
  std::string Samples() const { return root + "/samples.jsonl"; }
  std::string SamplesSheet() const { return root + "/samples.svg"; }  // image data's latest
  std::string Gradients() const { return root + "/gradients.jsonl"; }
  std::string CallbacksLog() const { return root + "/logs/callbacks.log"; }
  std::string CrossValidation() const { return root + "/cross_validation.json"; }
  // output.model.save_optimizer / save_scheduler: the final training state beside the model.
  std::string Optimizer() const { return root + "/optimizer.pt"; }
  std::string Scheduler() const { return root + "/scheduler.json"; }
  std::string Checkpoints() const { return root + "/checkpoints"; }
  std::string Checkpoint(std::int64_t step) const {
    return Checkpoints() + "/" + CheckpointName(step);
  }
  // The file whose presence makes a checkpoint directory complete (written last).
  static std::string CheckpointState(const std::string& checkpoint_dir) {
    return checkpoint_dir + "/state.json";
  }

  // "step-N".
  static std::string CheckpointName(std::int64_t step);
  // N of "step-N" (digits only, no sign, no leading junk); nullopt for anything else.
  static std::optional<std::int64_t> ParseCheckpointName(std::string_view name);
  // The run directory a checkpoint directory belongs to ("RUN/checkpoints/step-N", with or
  // without a trailing slash).
  static std::string RunOfCheckpoint(const std::string& checkpoint_dir);
};

}  // namespace entrenar::run
