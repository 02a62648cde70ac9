// Cross-validation (training.validation.cross_validation): k folds trained in turn, their
// validation metrics with mean and standard deviation, kept in the run directory
// (cross_validation.json) so a resumed run reports them too. Internal to the engine; no LibTorch.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/engine/dataset.h"
#include "entrenar/engine/events.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

struct FoldResults {
  std::vector<std::map<std::string, double>> folds;  // each fold's last validation
  std::map<std::string, double> mean, std;
  bool stopped = false;  // a stop request ended a fold
};

// Trains one fold on its data, its events going to `sink`.
using TrainFold = std::function<Result<TrainSummary>(PreparedData, EventSink&)>;

// The folds of `m`, trained by `train` (a fold's log lines reach `sink` prefixed "fold i/k: ").
Result<FoldResults> CrossValidate(const manifest::Manifest& m, const TrainOptions& options,
                                  EventSink& sink, const TrainFold& train);

// The validation event of the folds' means and standard deviations (`<metric>_mean`, `_std`).
Event FoldsEvent(const FoldResults& r);

}  // namespace entrenar::engine
