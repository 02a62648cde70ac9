#include "tracking.h"

#include <cstdio>
#include <iostream>
#include <map>

#include "entrenar/manifest/load.h"
#include "entrenar/monitor/mlflow.h"
#include "entrenar/monitor/tensorboard.h"

namespace entrenar::worker {
namespace {

// A number as MLflow shows a param: shortest round-trip text.
std::string ParamNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

// The hyperparameters an MLflow run lists (the whole resolved config is in the run directory).
std::map<std::string, std::string> TrackingParams(const manifest::Manifest& m,
                                                  const std::string& dir) {
  std::map<std::string, std::string> p = {
      {"name", m.name},
      {"seed", std::to_string(m.seed.value_or(0))},
      {"optimizer.name", m.optimizer.name},
      {"optimizer.lr", ParamNumber(m.optimizer.lr)},
      {"optimizer.weight_decay", ParamNumber(m.optimizer.weight_decay)},
      {"scheduler.name", m.scheduler.name},
      {"data.loader.batch_size", std::to_string(m.data.loader.batch_size)},
      {"training.epochs", std::to_string(manifest::EffectiveEpochs(m.training))},
      {"entrenar.run_dir", dir},
  };
  if (!m.version.empty()) p["version"] = m.version;
  if (m.training.max_steps) p["training.max_steps"] = std::to_string(*m.training.max_steps);
  if (m.model.architecture) p["model.architecture.type"] = m.model.architecture->type;
  return p;
}

}  // namespace

bool OpenTracking(const manifest::Manifest& m, const std::string& dir, RunRecorder* recorder) {
  const manifest::TrackingConfig& t = m.monitoring.tracking;
  if (!t.enabled) return true;
  if (t.backend == "mlflow") {
    monitor::MlflowOptions o;
    o.uri = t.uri.value_or("");
    o.experiment = t.project.value_or(m.name);
    o.run_name = t.experiment.value_or(m.name);
    o.tags = t.tags;
    o.params = TrackingParams(m, dir);
    o.warn = [](const std::string& text) { std::cerr << "warning: " + text + "\n"; };
    Result<std::unique_ptr<monitor::MlflowTracker>> tracker =
        monitor::MlflowTracker::Start(std::move(o));
    if (!tracker.ok()) {
      std::cerr << "error: monitoring.tracking.uri: " << tracker.status().message() << "\n";
      return false;
    }
    recorder->SetMlflow(std::move(*tracker));
    return true;
  }
  if (t.backend != "tensorboard") return true;
  std::string logdir = dir + "/tensorboard";
  if (t.uri) {
    logdir = t.uri->rfind("file://", 0) == 0 ? t.uri->substr(7) : *t.uri;
    if (t.project) logdir += "/" + *t.project;
    logdir += "/" + t.experiment.value_or(m.name);
  }
  Result<std::unique_ptr<monitor::TensorBoardTracker>> tracker =
      monitor::TensorBoardTracker::Open(logdir);
  if (!tracker.ok()) {
    std::cerr << "error: " << (t.uri ? "monitoring.tracking.uri" : "monitoring.tracking") << ": "
              << tracker.status().message() << "\n";
    return false;
  }
  std::cerr << "tensorboard: " << (*tracker)->path() << " (tensorboard --logdir " << logdir
            << ")\n";
  recorder->SetTracker(std::move(*tracker));
  return true;
}

}  // namespace entrenar::worker
