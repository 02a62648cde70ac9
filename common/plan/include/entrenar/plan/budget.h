#pragma once

#include <cstdint>

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

// The budget of `m` for `rows` training rows. InvalidArgument when the rows do not fill one
// batch with drop_last.
Result<Budget> ComputeBudget(const manifest::Manifest& m, std::int64_t rows);

}  // namespace entrenar::plan
