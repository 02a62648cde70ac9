#pragma once

#include <string>

namespace entrenar::manifest {

// The names a metric goes by in a manifest (alerts, monitoring.terminal): `loss` is the training
// loss, `lr` the learning rate and `throughput` the samples per second. Returns the key a step's
// metric row carries for `name`: `train_loss`, `learning_rate`, `samples_per_second`, or `name`.
inline std::string StepMetricKey(const std::string& name) {
  if (name == "loss") return "train_loss";
  if (name == "lr") return "learning_rate";
  if (name == "throughput") return "samples_per_second";
  return name;
}

}  // namespace entrenar::manifest
