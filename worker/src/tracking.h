#pragma once

#include <string>

#include "entrenar/manifest/manifest.h"

#include "recorder.h"

namespace entrenar::worker {

// monitoring.tracking: builtin (and trueno-db, its name in the spec) is the run directory and,
// under entrenard, the job's store. tensorboard also writes event files, to RUN/tensorboard or,
// with `uri`, to URI/[PROJECT/]EXPERIMENT (EXPERIMENT defaulting to the run's name). mlflow
// records the run on the server at `uri`: experiment PROJECT (default: the run's name), run
// name EXPERIMENT, the tags, key hyperparameters and every logged metric. Returns false after
// printing why a backend could not be opened.
bool OpenTracking(const manifest::Manifest& m, const std::string& dir, RunRecorder* recorder);

}  // namespace entrenar::worker
