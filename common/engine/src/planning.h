// --dry-run (SPEC §11): the data, model, budget and memory of a run, without training it.
// Internal to the engine; no LibTorch.
#pragma once

#include "entrenar/base/status.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// The dry run of `m`: a sequential model's or a transformer's. May throw LibTorch's errors.
Result<DryRun> PlanDryRun(const manifest::Manifest& m, const TrainOptions& options);

}  // namespace entrenar::engine
