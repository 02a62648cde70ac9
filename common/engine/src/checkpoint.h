// A checkpoint directory (checkpoints/step-N, SPEC §6): the model's weights, the best weights,
// the optimizer, the random generator and the run's state (run/checkpoint_state.h). Internal
// to the engine (includes LibTorch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/run/checkpoint_state.h"

#include "task_model.h"

namespace entrenar::engine {

// Writes <run_dir>/checkpoints/step-<state.step> atomically (a temporary directory, then a
// rename) and keeps the newest `keep_last`. `best`, a snapshot of the best weights, is written
// too unless empty. Returns the directory written.
Result<std::string> WriteCheckpoint(const std::string& run_dir, std::int64_t keep_last,
                                    TaskModel& task, const std::vector<torch::Tensor>& best,
                                    torch::optim::Optimizer& optimizer,
                                    const run::CheckpointState& state);

// Writes the optimizer's state (a LibTorch archive, as torch.jit.load reads it) to `file`
// atomically: a temporary name, then a rename. A failed write (a full disk) is kDataLoss naming
// the file, and leaves nothing behind.
Status WriteOptimizerState(torch::optim::Optimizer& optimizer, const std::string& file);

// What a checkpoint gives back besides the weights, optimizer and generator it restores.
struct ReadBack {
  run::CheckpointState state;
  std::vector<torch::Tensor> best;  // a snapshot of the best weights; empty without them
};

// Restores checkpoint `dir` into the task's model, the optimizer and the generator. A damaged
// or partial checkpoint is kDataLoss.
Result<ReadBack> ReadCheckpoint(const std::string& dir, TaskModel& task,
                                torch::optim::Optimizer& optimizer);

}  // namespace entrenar::engine
