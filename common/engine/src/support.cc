// What this engine implements, as manifest key prefixes and values.
#include <algorithm>

#include "entrenar/engine/trainer.h"
#include "entrenar/manifest/load.h"

namespace entrenar::engine {
namespace {

std::vector<std::string> SupportedKeys(const manifest::Manifest& m) {
  std::vector<std::string> keys = {"entrenar",
                                   "name",
                                   "version",
                                   "description",
                                   "seed",
                                   "lock",
                                   "data.source",
                                   "data.format",
                                   "data.target",
                                   "data.split",
                                   "data.train",
                                   "data.val",
                                   "data.test",
                                   "data.loader.batch_size",
                                   "data.loader.shuffle",
                                   "data.loader.drop_last",
                                   "data.loader.seed",
                                   "model.architecture",
                                   "model.device",
                                   "model.dtype",
                                   "optimizer.name",
                                   "optimizer.lr",
                                   "optimizer.weight_decay",
                                   "optimizer.betas",
                                   "optimizer.eps",
                                   "optimizer.amsgrad",
                                   "optimizer.momentum",
                                   "optimizer.nesterov",
                                   "optimizer.dampening",
                                   "optimizer.alpha",
                                   "optimizer.centered",
                                   "optimizer.param_groups",
                                   "model.freeze",
                                   "scheduler",
                                   "training.epochs",
                                   "training.max_steps",
                                   "training.duration",
                                   "training.gradient",
                                   "training.checkpoint",
                                   "training.early_stopping",
                                   "training.validation.every",
                                   "training.validation.every_epoch",
                                   "training.validation.metrics",
                                   "training.deterministic",
                                   "training.benchmark",
                                   "training.effective_batch_size",
                                   "training.loss",
                                   "monitoring.terminal.enabled",
                                   "monitoring.terminal.refresh_rate",
                                   "output.dir",
                                   "output.model.format",
                                   "output.metrics.format"};
  // A section switched off asks nothing of the engine.
  if (!m.training.mixed_precision.enabled) keys.emplace_back("training.mixed_precision");
  if (!m.lora.enabled) keys.emplace_back("lora");
  if (!m.quantize.enabled) keys.emplace_back("quantize");
  if (!m.monitoring.tracking.enabled) keys.emplace_back("monitoring.tracking");
  if (!m.monitoring.system.enabled) keys.emplace_back("monitoring.system");
  if (!m.output.report.enabled) keys.emplace_back("output.report");
  if (!m.output.registry.enabled) keys.emplace_back("output.registry");
  for (std::size_t i = 0; i < m.data.preprocessing.size(); ++i) {
    const auto& s = m.data.preprocessing[i];
    if (!s.tokenize) keys.push_back("data.preprocessing[" + std::to_string(i) + "]");
  }
  return keys;
}

}  // namespace

std::vector<manifest::Diagnostic> CheckSupport(const manifest::Manifest& m) {
  std::vector<manifest::Diagnostic> out = manifest::UnsupportedKeys(m, SupportedKeys(m));
  auto refuse = [&](const std::string& path, const std::string& what, const std::string& hint) {
    out.push_back({manifest::Severity::kError,
                   path,
                   m.LocationOf(path),
                   "not supported yet: " + path + ": " + what,
                   {hint}});
  };
  const auto& arch = m.model.architecture;
  if (!arch) {
    refuse("model", "a model without `architecture` (loading models is not built yet)",
           "describe the model: model.architecture.type: sequential with layers");
  } else if (arch->type != "sequential") {
    refuse("model.architecture.type", arch->type, "this version trains sequential models");
  } else {
    for (std::size_t i = 0; i < arch->layers.size(); ++i) {
      const auto& l = arch->layers[i];
      const std::string path = "model.architecture.layers[" + std::to_string(i) + "]";
      const char* kind = l.conv1d       ? "conv1d"
                         : l.conv2d     ? "conv2d"
                         : l.max_pool1d ? "max_pool1d"
                         : l.max_pool2d ? "max_pool2d"
                         : l.avg_pool1d ? "avg_pool1d"
                         : l.avg_pool2d ? "avg_pool2d"
                         : l.embedding  ? "embedding"
                                        : nullptr;
      if (kind) {
        refuse(path, std::string(kind) + " layers",
               "layers available now: linear, activation, dropout, flatten, batchnorm, layernorm");
      }
    }
  }
  if (m.model.device != "auto" && m.model.device != "cpu") {
    refuse("model.device", m.model.device, "this version trains on the CPU (device: cpu or auto)");
  }
  if (m.model.dtype != "float32") refuse("model.dtype", m.model.dtype, "use float32");
  if (m.optimizer.name == "lamb") refuse("optimizer.name", "lamb", "use adamw or sgd");
  if (m.training.loss == "bce") refuse("training.loss", "bce", "use cross_entropy (the default)");
  for (const std::string& metric :
       m.training.validation.metrics.value_or(std::vector<std::string>{})) {
    if (metric == "confusion_matrix" || metric == "perplexity") {
      refuse("training.validation.metrics", metric,
             "use accuracy, precision, recall, f1, auc_roc, loss, mse, mae, rmse or r2");
    }
  }
  if (m.output.model.format != "safetensors") {
    refuse("output.model.format", m.output.model.format, "use safetensors");
  }
  if (m.IsSet("output.metrics.format") && m.output.metrics.format == "parquet") {
    refuse("output.metrics.format", "parquet",
           "use csv or json (metrics.csv and metrics.jsonl are always written)");
  }
  return out;
}

}  // namespace entrenar::engine
