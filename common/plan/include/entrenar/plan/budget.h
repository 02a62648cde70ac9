#pragma once

#include <cstdint>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::plan {

// How long a run is: batches per epoch (the loader's), optimizer steps per epoch (the last
// accumulation window of an epoch may be short), epochs and total steps. A time budget
// (training.duration) has "as many epochs as fit" and the schedule's T_max as its steps.
struct Budget {
  std::int64_t batches = 0, steps_per_epoch = 0, epochs = 0, total_steps = 0;
  bool operator==(const Budget&) const = default;
};

// The budget of `m` for `rows` training rows (the whole training split: each rank of a
// data-parallel run trains on RankRows of them). InvalidArgument when a rank's rows do not fill
// one batch with drop_last.
Result<Budget> ComputeBudget(const manifest::Manifest& m, std::int64_t rows);

// The ranks of a data-parallel run: training.distributed.world_size, else 1.
std::int64_t WorldSize(const manifest::Manifest& m);

// The rows each of `world_size` ranks trains on per epoch out of `rows`: every rank the same
// number, ceil(rows / world_size), as PyTorch's DistributedSampler (drop_last false) deals them.
std::int64_t RankRows(std::int64_t rows, std::int64_t world_size);

// The rows rank `rank` of `world_size` trains on in one epoch, from the epoch's permutation
// `order` of all rows, as DistributedSampler deals them: `order` padded with its own first rows
// to a multiple of world_size, then every world_size-th row starting at `rank`. The ranks'
// batches b together hold the rows of one batch of world_size x batch_size.
std::vector<std::int64_t> RankShard(const std::vector<std::int64_t>& order, std::int64_t rank,
                                    std::int64_t world_size);

}  // namespace entrenar::plan
