// Data-parallel training (training.distributed.strategy: ddp): one process per rank, joined
// through c10d's TCPStore and ProcessGroupGloo, gradients all-reduced in buckets while backward
// runs. Internal to the engine (includes LibTorch).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/engine/trainer.h"

namespace entrenar::engine {

struct GradientBuckets;
struct RankLinks;

// A rank that stopped answering (died, hung, or was stopped) seen from a collective: thrown
// through the loop, returned by Train as kUnavailable.
class RankLost : public std::runtime_error {
 public:
  explicit RankLost(const std::string& what) : std::runtime_error(what) {}
};

// A trainable parameter that got no gradient in a step, with find_unused_parameters off.
class UnusedParameter : public std::runtime_error {
 public:
  explicit UnusedParameter(const std::string& name)
      : std::runtime_error("parameter " + name +
                           " got no gradient in this step's backward; set "
                           "training.distributed.find_unused_parameters: true if the model "
                           "leaves parameters out of some steps, or freeze it (model.freeze)") {}
};

// This process's place in a data-parallel run and its link to the others. Made once per run
// by the training thread, which alone uses it; gradient hooks it adds run on that thread's
// backward. Owns the process group; the hooks it adds to a module hold its bucket state, so
// the module may outlive it (they then do nothing).
class DataParallel {
 public:
  // Joins the run: rank 0 serves the TCPStore at master_addr:master_port, every rank connects
  // and forms a Gloo process group. kUnavailable when the master cannot be reached or a rank
  // does not come within the rendezvous timeout, kAlreadyExists when rank 0's port is taken.
  static Result<std::unique_ptr<DataParallel>> Join(const RankOptions& options);
  ~DataParallel();

  int rank() const { return options_.rank; }
  int size() const { return options_.world_size; }
  bool leader() const { return options_.rank == 0; }

  // Every rank's `fingerprint` (of its manifest and data) must equal rank 0's: kInvalidArgument
  // naming the first rank that differs. Waits for slower ranks up to the collective timeout.
  Status Agree(const std::string& fingerprint, const std::string& what);
  // Rank 0's parameters and buffers, copied to every rank.
  void Broadcast(torch::nn::Module& net);
  // Rank 0's buffers (batch norm's running statistics), copied to every rank, as DDP does before
  // each forward: every rank then validates and trains the same model. Nothing without buffers.
  void BroadcastBuffers(torch::nn::Module& net);
  // Gradient buckets over `net`'s trainable parameters (reverse order, as DDP: the last layers'
  // gradients come first in backward). `find_unused`: a parameter that gets no gradient in a
  // step adds zero (find_unused_parameters); otherwise FinishGradients throws UnusedParameter.
  void Attach(torch::nn::Module& net, bool find_unused);
  // Whether the next backward all-reduces (the last micro-batch of an accumulation window).
  void SetSync(bool sync);
  // After a syncing backward: buckets whose parameters got no gradient are filled in and
  // launched, all are waited for, and every .grad holds the mean over ranks. Throws RankLost
  // when a collective fails or times out, UnusedParameter (before any collective) for a
  // parameter without gradient when find_unused is off.
  void FinishGradients();
  // The element-wise sum over ranks of `values` (a few scalars: losses, counts, flags).
  std::vector<double> Sum(const std::vector<double>& values);
  // Seconds this rank waited for gradient all-reduces since the last call.
  double TakeWaitSeconds();

 private:
  explicit DataParallel(RankOptions options);

  RankOptions options_;
  std::shared_ptr<RankLinks> links_;  // the TCPStore and the process group
  std::shared_ptr<GradientBuckets> buckets_;
  std::vector<std::string> names_;  // the bucketed parameters' names, in slot order
  bool find_unused_ = false;
};

}  // namespace entrenar::engine
