#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/engine/events.h"
#include "entrenar/manifest/diagnostic.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// One rank of a data-parallel run (training.distributed): where the ranks meet and how long
// they wait for each other. Set by the worker from the launcher's (or torchrun's, or Slurm's)
// environment.
struct RankOptions {
  int rank = 0, world_size = 1;
  int local_rank = 0;  // its index on this machine: a GPU rank trains on cuda:local_rank
  std::string master_addr = "127.0.0.1";  // rank 0's rendezvous (c10d TCPStore)
  int master_port = 29500;
  int threads = 0;  // LibTorch's intra-op threads for this rank; 0: LibTorch's default
  // Set when the store at master_addr:master_port is served already (torchrun's agent): rank 0
  // then connects to it rather than serving it.
  bool store_served = false;
  // Joining: how long a rank waits for the master and the others. Collectives: how long a rank
  // waits for the others before the run ends (a rank died or hangs; PyTorch's default 30 min
  // also covers rank 0's checkpoints and callbacks, which the others wait for).
  std::chrono::seconds rendezvous_timeout{300}, collective_timeout{1800};
};

struct TrainOptions {
  std::string base_dir;  // relative data paths are resolved against it (the manifest's folder)
  std::string run_dir;   // where model.safetensors and summary.json go; must exist
  std::uint64_t seed = 0;
  // Set (e.g. by SIGINT) to end after the current step, with a checkpoint. Alerts' actions reach
  // the loop through the sink's verdict instead.
  const std::atomic<bool>* stop = nullptr;
  // A checkpoint directory (run_dir/checkpoints/step-N) to continue from exactly: weights,
  // optimizer, RNG, data position, best and early-stopping state.
  std::string resume_from;
  // Custom callbacks run their commands (entrenard turns them off unless its config allows
  // them: they then fire an alert instead).
  bool allow_custom_callbacks = true;
  // Set: this process is one rank of a data-parallel run of world_size ranks (rank 0 alone
  // writes checkpoints, the model and events; the others' sinks may drop them).
  std::optional<RankOptions> ranks;
};

// The optimizer step a checkpoint directory was written at, from its state.json.
// Returns kNotFound or kDataLoss for a missing or damaged checkpoint.
Result<std::int64_t> CheckpointStep(const std::string& checkpoint_dir);

// An alert that fired (monitoring.alerts).
struct AlertRecord {
  std::int64_t step = 0;
  std::string condition, action, message;
};

// The outcome of a run, also written as summary.json.
struct TrainSummary {
  std::int64_t steps = 0;
  std::int64_t epochs = 0;
  double wall_seconds = 0;
  double samples_per_second = 0;
  std::int64_t parameters = 0;
  bool stopped = false;  // ended by `stop`, not by its budget
  bool halted = false;   // stopped by an alert whose action is `halt`
  std::vector<AlertRecord> alerts;
  bool early_stopped = false;
  // Why the run ended: "budget" (its epochs, max_steps), "early_stopping", "duration",
  // "alert" (halted) or "stopped" (on request: cancelled, preempted, SIGINT), and in words.
  std::string end_reason, end_message;
  std::string best_metric;
  std::optional<double> best_value;
  std::int64_t best_step = 0;
  std::map<std::string, double> val;   // the last validation
  std::map<std::string, double> test;  // the test split, evaluated once at the end
  // With `confusion_matrix` among the validation metrics: [true class][predicted class] counts
  // of the last validation and of the test split, classes in index order.
  std::vector<std::string> classes;
  std::vector<std::vector<std::int64_t>> val_confusion, test_confusion;
  // training.validation.cross_validation: each fold's validation metrics (with the best weights
  // when save_best applies), and their mean and population standard deviation.
  std::vector<std::map<std::string, double>> folds;
  std::map<std::string, double> folds_mean, folds_std;
  std::string device;
  // The files the trained model was saved as, in the run directory (model.safetensors; a
  // transformer's config.json, tokenizer.json and, with LoRA, adapter_model.safetensors and
  // adapter_config.json).
  std::vector<std::string> model_files;
  // quantize: the validation metrics of the trained model before and after quantization (the
  // test metrics are the quantized model's).
  std::map<std::string, double> quantized_before, quantized_after;
  // data.image.on_error: skip: the images left out, each with why.
  std::vector<std::string> skipped_images;
};

// What a run would do, computed by loading the data and building the model without training.
struct DryRun {
  std::int64_t train_rows = 0, val_rows = 0, test_rows = 0;
  std::vector<std::string> features;
  std::string target;
  std::string task;  // "classification", "regression" or "causal language model..."
  std::vector<std::string> classes;
  std::int64_t trainable_parameters = 0, frozen_parameters = 0;
  std::int64_t steps_per_epoch = 0, epochs = 0, total_steps = 0;
  std::int64_t estimated_memory_bytes = 0;  // weights, gradients, optimizer state, one batch
  std::string device;
  int threads = 1;
  std::vector<std::string> notes;  // further lines of the plan (a transformer's model, LoRA)
};

// Prepares the data and the model of `m` and reports the plan. Errors as for Train().
Result<DryRun> PlanRun(const manifest::Manifest& m, const TrainOptions& options);

// The validation and test metrics (val_*, test_*) of the model as `m` loads it (model.source,
// a LoRA adapter included), without training. Errors as for Train().
Result<std::map<std::string, double>> EvaluateModel(const manifest::Manifest& m,
                                                    const TrainOptions& options);

// Facts about the engine's build and machine for environment.yaml: LibTorch version, threads,
// BLAS, CPU, CUDA availability.
std::map<std::string, std::string> Environment();

// Trains `m` (already validated and supported) on the CPU, emitting events to `sink`. Returns
// kInvalidArgument/kNotFound for bad data, kUnimplemented for an unsupported data format, and
// kInternal for a LibTorch error; in a data-parallel run kUnavailable when a rank is lost (the
// others end within the collective timeout) and kAlreadyExists when rank 0's port is taken.
// No exception escapes.
Result<TrainSummary> Train(const manifest::Manifest& m, const TrainOptions& options,
                           EventSink& sink);

}  // namespace entrenar::engine
