// Cross-field rules of SPEC §14: everything a single key's type and range cannot say.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <set>

#include "entrenar/base/strings.h"
#include "entrenar/expr/condition.h"
#include "entrenar/expr/value.h"
#include "entrenar/manifest/load.h"

#include "pipeline.h"

namespace entrenar::manifest {
namespace {

class Checker {
 public:
  Checker(const Manifest& m, std::vector<Diagnostic>* diags) : m_(m), diags_(diags) {}

  void Error(const std::string& path, std::string message, std::vector<std::string> hints = {}) {
    Add(Severity::kError, path, std::move(message), std::move(hints));
  }
  // An error about `path` (a key that is missing) shown at the key that asks for it.
  void ErrorAt(const std::string& path, const std::string& at, std::string message,
               std::vector<std::string> hints = {}) {
    std::erase_if(hints, [](const std::string& h) { return h.empty(); });
    diags_->push_back({Severity::kError, path, m_.LocationOf(m_.IsSet(path) ? path : at),
                       std::move(message), std::move(hints)});
  }
  void Warn(const std::string& path, std::string message, std::vector<std::string> hints = {}) {
    Add(Severity::kWarning, path, std::move(message), std::move(hints));
  }
  // An error when the section is enabled; a warning (the value is ignored) when it is not.
  void Check(bool enabled, const std::string& section, const std::string& path, bool ok,
             std::string message) {
    if (ok) return;
    if (enabled) {
      Error(path, std::move(message));
    } else {
      Warn(path, message + " (ignored while " + section + ".enabled is false)");
    }
  }
  const Manifest& m() const { return m_; }

 private:
  void Add(Severity s, const std::string& path, std::string message,
           std::vector<std::string> hints) {
    std::erase_if(hints, [](const std::string& h) { return h.empty(); });
    diags_->push_back({s, path, m_.LocationOf(path), std::move(message), std::move(hints)});
  }

  const Manifest& m_;
  std::vector<Diagnostic>* diags_;
};

// Numbers in messages: 10 significant digits, so 0.7 + 0.2 reads 0.9, not 0.8999999999999999.
std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

void CheckRoot(Checker& c) {
  const Manifest& m = c.m();
  if (m.IsSet("entrenar") && m.entrenar != "1.0") {
    c.Error("entrenar",
            "unsupported specification version \"" + m.entrenar +
                "\"; this entrenar reads version \"1.0\"",
            {"write entrenar: \"1.0\""});
  }
}

void CheckData(Checker& c) {
  const DataConfig& d = c.m().data;
  const Manifest& m = c.m();
  const bool explicit_files = m.IsSet("data.train") || m.IsSet("data.val") || m.IsSet("data.test");
  if (d.split && explicit_files) {
    const std::string other = m.IsSet("data.train") ? "data.train"
                              : m.IsSet("data.val") ? "data.val"
                                                    : "data.test";
    c.Error("data.split", "`data.split` and `" + other + "` are mutually exclusive",
            {"split one `source` by ratio, or name the train/val/test files, not both"});
  }
  if (d.source && d.train) {
    c.Error("data.train", "`data.source` and `data.train` both name the training data",
            {"keep one of them"});
  }
  if (d.split) {
    const SplitConfig& s = *d.split;
    const double sum = s.train + s.val + s.test;
    if (std::fabs(sum - 1.0) > 1e-6) {
      c.Error("data.split",
              "split ratios must sum to 1, found " + Num(s.train) + " + " + Num(s.val) + " + " +
                  Num(s.test) + " = " + Num(sum),
              {"an omitted `val` or `test` is 0, and an omitted `train` takes the rest"});
    }
  }
  if (d.loader.pin_memory && c.m().model.device == "cpu") {
    c.Warn("data.loader.pin_memory", "pin_memory only helps when training on a GPU");
  }
  for (std::size_t i = 0; i < d.preprocessing.size(); ++i) {
    const auto& step = d.preprocessing[i];
    const std::string path = "data.preprocessing[" + std::to_string(i) + "]";
    if (step.fillna && step.fillna->strategy == "constant" && !step.fillna->value) {
      c.Error(path + ".fillna.value", "the `constant` strategy needs a `value`");
    }
    if (step.fillna && step.fillna->strategy != "constant" && step.fillna->value) {
      c.Warn(path + ".fillna.value", "`value` is only used by the `constant` strategy");
    }
  }
  // data.image applies to image data; a table's extension says the data is not that.
  const std::optional<std::string>& first = d.source ? d.source : d.train;
  const std::string ext = first ? ToLower(std::filesystem::path(*first).extension().string()) : "";
  const bool table =
      !d.image.column &&
      (d.format == "auto" ? ext == ".csv" || ext == ".tsv" || ext == ".json" || ext == ".jsonl" ||
                                ext == ".ndjson" || ext == ".parquet"
                          : d.format != "images" && d.format != "idx" && d.format != "cifar");
  if (table && d.image.color != "auto") {
    c.Warn("data.image.color",
           "has no effect here; it applies to image data (a folder of class "
           "folders, idx or CIFAR files, or data.image.column)");
  }
  if (table && d.image.on_error != "fail") {
    c.Warn("data.image.on_error",
           "has no effect here; it applies to image data (a folder of "
           "class folders, idx or CIFAR files, or data.image.column)");
  }
  for (std::size_t i = 0; i < d.augmentation.size(); ++i) {
    const auto& step = d.augmentation[i];
    const std::string path = "data.augmentation[" + std::to_string(i) + "]";
    if (step.normalize && step.normalize->mean.size() != step.normalize->std.size()) {
      c.Error(path + ".normalize", "`mean` has " + std::to_string(step.normalize->mean.size()) +
                                       " channels but `std` has " +
                                       std::to_string(step.normalize->std.size()));
    }
    for (const auto& [name, size] :
         {std::pair{"random_crop", step.random_crop ? &step.random_crop->size : nullptr},
          {"resize", step.resize ? &step.resize->size : nullptr},
          {"center_crop", step.center_crop ? &step.center_crop->size : nullptr}}) {
      if (size && size->size() > 2) {
        c.Error(path + "." + name + ".size", "expected [height, width] or [side], found " +
                                                 std::to_string(size->size()) + " numbers");
      }
    }
    if (step.random_resized_crop) {
      const auto& r = *step.random_resized_crop;
      if (r.size.size() > 2) {
        c.Error(path + ".random_resized_crop.size", "expected [height, width] or [side], found " +
                                                        std::to_string(r.size.size()) + " numbers");
      }
      for (const auto& [key, range] : {std::pair{"scale", &r.scale}, {"ratio", &r.ratio}}) {
        if (range->size() != 2 || (*range)[0] > (*range)[1]) {
          c.Error(path + ".random_resized_crop." + key, "expected [min, max] with min <= max");
        }
      }
    }
    // Image steps after normalize (text steps, which SPEC §2.2 lists after it, do not count).
    const auto image_step = [](const AugmentStep& a) {
      return a.resize || a.center_crop || a.random_crop || a.random_resized_crop ||
             a.horizontal_flip || a.vertical_flip || a.rotation || a.color_jitter;
    };
    if (step.normalize && std::any_of(d.augmentation.begin() + static_cast<long>(i) + 1,
                                      d.augmentation.end(), image_step)) {
      c.Error(path + ".normalize",
              "normalize works on pixels scaled to [0, 1] and must come after the other image "
              "steps",
              {"move it to the end of data.augmentation"});
    }
  }
}

// Entries are sizes >= 1, except one that may be -1 (inferred).
void CheckReshape(Checker& c, const std::string& path, const std::vector<std::int64_t>& shape) {
  int inferred = 0;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1 && ++inferred == 2) {
      c.Error(path + "[" + std::to_string(i) + "]", "only one size may be -1 (inferred)");
    } else if (shape[i] == 0 || shape[i] < -1) {
      c.Error(path + "[" + std::to_string(i) + "]",
              "expected a size >= 1 or -1, found " + std::to_string(shape[i]));
    }
  }
}

// A transformer's sizes on a sequential model would be ignored: refused, as `layers` on a
// transformer is.
void CheckTransformerKeysAbsent(Checker& c, const ArchitectureConfig& a) {
  const std::pair<const char*, bool> keys[] = {
      {"hidden_size", a.hidden_size.has_value()},
      {"num_layers", a.num_layers.has_value()},
      {"num_heads", a.num_heads.has_value()},
      {"num_kv_heads", a.num_kv_heads.has_value()},
      {"intermediate_size", a.intermediate_size.has_value()},
      {"vocab_size", a.vocab_size.has_value()},
      {"max_seq_length", a.max_seq_length.has_value()},
      {"rms_norm_eps", a.rms_norm_eps.has_value()},
      {"rope_theta", a.rope_theta.has_value()},
      {"use_bias", a.use_bias.has_value()},
      {"tie_word_embeddings", a.tie_word_embeddings.has_value()}};
  for (const auto& [key, given] : keys) {
    if (!given) continue;
    c.Error(std::string("model.architecture.") + key,
            "`" + std::string(key) + "` belongs to a transformer, not to `type: sequential`",
            {"a sequential model is described by its layers (a linear layer's `bias`, for one)"});
  }
}

// model.format describes model.source.
void CheckModelFormat(Checker& c) {
  const Manifest& m = c.m();
  if (!m.model.source && m.model.format) {
    c.Warn("model.format",
           "`format` says how model.source is stored, and there is no model.source");
  }
}

// Walks a sequential model's layers, tracking the feature width where it is known.
void CheckLayers(Checker& c) {
  const auto& arch = c.m().model.architecture;
  if (!arch) return;
  if (arch->type == "sequential") {
    if (arch->layers.empty()) {
      c.Error("model.architecture.layers", "a sequential model needs at least one layer");
    }
    CheckTransformerKeysAbsent(c, *arch);
    // What the previous layers give, where it is known without the data: the last dimension
    // (`width`, read by linear and layernorm) and the channels (dimension 0 of a sample with
    // spatial dimensions, read by conv and batchnorm).
    struct Known {
      std::optional<std::int64_t> value;
      std::string from;
    } width, channels;
    bool spatial = false;
    for (std::size_t i = 0; i < arch->layers.size(); ++i) {
      const Layer& l = arch->layers[i];
      const std::string path = "model.architecture.layers[" + std::to_string(i) + "]";
      const std::string here = "layers[" + std::to_string(i) + "]";
      auto expect = [&](const Known& k, const std::string& key, std::int64_t got) {
        if (k.value && *k.value != got) {
          c.Error(path + "." + key,
                  key.substr(key.find('.') + 1) + " is " + std::to_string(got) +
                      " but the previous layer (" + k.from + ") gives " + std::to_string(*k.value),
                  {"set it to " + std::to_string(*k.value)});
        }
      };
      auto set = [&](Known& k, std::optional<std::int64_t> v, const std::string& what) {
        k.value = v && *v > 0 ? v : std::nullopt;
        k.from = here + ", " + what;
      };
      if (l.linear) {
        expect(width, "linear.in_features", l.linear->in_features);
        set(width, l.linear->out_features, "out_features");
        channels = width;
        spatial = false;
      } else if (l.conv1d || l.conv2d) {
        const ConvLayer& conv = l.conv1d ? *l.conv1d : *l.conv2d;
        expect(channels, std::string(l.conv1d ? "conv1d" : "conv2d") + ".in_channels",
               conv.in_channels);
        set(channels, conv.out_channels, "out_channels");
        width = {};
        spatial = true;
      } else if (l.batchnorm) {
        expect(spatial ? channels : width, "batchnorm.num_features", l.batchnorm->num_features);
      } else if (l.layernorm) {
        expect(width, "layernorm.normalized_shape", l.layernorm->normalized_shape);
      } else if (l.embedding) {
        set(width, l.embedding->embedding_dim, "embedding_dim");
        channels = {};
        spatial = true;
      } else if (l.flatten) {
        width = channels = {};  // the flattened width depends on the input's spatial size
        spatial = false;
      } else if (l.reshape) {
        const auto& shape = l.reshape->shape;
        CheckReshape(c, path + ".reshape.shape", shape);
        if (shape.empty()) continue;
        set(width, shape.back(), "reshape");
        set(channels, shape.front(), "reshape");
        spatial = shape.size() > 1;
      } else if (l.max_pool1d || l.max_pool2d || l.avg_pool1d || l.avg_pool2d) {
        width = {};
      }
    }
  } else {
    for (const char* key : {"hidden_size", "num_layers", "num_heads", "vocab_size"}) {
      const std::string path = std::string("model.architecture.") + key;
      const auto& a = *arch;
      const bool given = (std::string(key) == "hidden_size" && a.hidden_size) ||
                         (std::string(key) == "num_layers" && a.num_layers) ||
                         (std::string(key) == "num_heads" && a.num_heads) ||
                         (std::string(key) == "vocab_size" && a.vocab_size);
      if (!given && !c.m().model.source) {
        c.Error(path, std::string("a transformer needs `") + key +
                          "` (or a `model.source` "
                          "whose config.json gives it)");
      }
    }
    if (!arch->layers.empty()) {
      c.Error("model.architecture.layers", "`layers` belongs to `type: sequential`",
              {"a transformer is described by hidden_size, num_layers, num_heads, ..."});
    }
    if (arch->hidden_size && arch->num_heads && *arch->num_heads > 0 &&
        *arch->hidden_size % *arch->num_heads != 0) {
      c.Error("model.architecture.num_heads", "hidden_size " + std::to_string(*arch->hidden_size) +
                                                  " is not divisible by " + "num_heads " +
                                                  std::to_string(*arch->num_heads));
    }
    if (arch->num_heads && arch->num_kv_heads && *arch->num_kv_heads > 0 &&
        *arch->num_heads % *arch->num_kv_heads != 0) {
      c.Error("model.architecture.num_kv_heads", "num_heads " + std::to_string(*arch->num_heads) +
                                                     " is not divisible by " + "num_kv_heads " +
                                                     std::to_string(*arch->num_kv_heads));
    }
  }
}

void CheckOptimizer(Checker& c) {
  const Manifest& m = c.m();
  const OptimizerConfig& o = m.optimizer;
  if (o.nesterov && (o.momentum <= 0 || o.dampening != 0)) {
    const bool effective = o.name == "sgd";
    const std::string msg = "nesterov needs momentum > 0 and dampening = 0";
    if (effective) {
      c.Error("optimizer.nesterov", msg, {"set optimizer.momentum, e.g. 0.9"});
    }
  }
  // Keys that only some algorithms read.
  struct Use {
    const char* key;
    std::vector<std::string> by;
  };
  const std::vector<Use> uses = {
      {"betas", {"adam", "adamw", "lamb"}},
      {"amsgrad", {"adam", "adamw"}},
      {"momentum", {"sgd", "rmsprop"}},
      {"nesterov", {"sgd"}},
      {"dampening", {"sgd"}},
      {"alpha", {"rmsprop"}},
      {"centered", {"rmsprop"}},
  };
  // Only values that differ from the default matter: a resolved manifest writes every key.
  const OptimizerConfig defaults;
  auto changed = [&](const std::string& key) {
    if (key == "betas") return o.betas != defaults.betas;
    if (key == "amsgrad") return o.amsgrad != defaults.amsgrad;
    if (key == "momentum") return o.momentum != defaults.momentum;
    if (key == "nesterov") return o.nesterov != defaults.nesterov;
    if (key == "dampening") return o.dampening != defaults.dampening;
    if (key == "alpha") return o.alpha != defaults.alpha;
    return o.centered != defaults.centered;
  };
  for (const Use& u : uses) {
    const std::string path = std::string("optimizer.") + u.key;
    if (changed(u.key) && std::find(u.by.begin(), u.by.end(), o.name) == u.by.end()) {
      c.Warn(path, "`" + std::string(u.key) + "` is not used by " + o.name + " (only by " +
                       Join(u.by, ", ") + ")");
    }
  }
}

// Keys that only some schedules read, set away from their defaults (a resolved manifest writes
// every key) for a schedule that does not: said once each, as for the optimizer's.
void CheckSchedulerKeys(Checker& c, const SchedulerConfig& s) {
  const SchedulerConfig d;
  const std::vector<std::string> cosine = {"cosine", "cosine_annealing", "linear"};
  const std::vector<std::string> plateau = {"plateau"};
  const std::vector<std::string> one_cycle = {"one_cycle"};
  const struct {
    const char* key;
    bool changed;
    std::vector<std::string> by;
  } uses[] = {
      // A time budget's run length is T_max, whatever the schedule (plan/budget.cc).
      {"T_max", s.T_max.has_value() && !c.m().training.duration, cosine},
      {"eta_min", s.eta_min != d.eta_min, cosine},
      {"step_size", s.step_size.has_value(), {"step"}},
      {"gamma", s.gamma != d.gamma, {"step", "exponential"}},
      {"mode", s.mode != d.mode, plateau},
      {"factor", s.factor != d.factor, plateau},
      {"patience", s.patience != d.patience, plateau},
      {"threshold", s.threshold != d.threshold, plateau},
      {"metric", s.metric != d.metric, plateau},
      {"max_lr", s.max_lr.has_value(), one_cycle},
      {"pct_start", s.pct_start != d.pct_start, one_cycle},
      {"anneal_strategy", s.anneal_strategy != d.anneal_strategy, one_cycle},
      {"div_factor", s.div_factor != d.div_factor, one_cycle},
      {"final_div_factor", s.final_div_factor != d.final_div_factor, one_cycle},
  };
  for (const auto& u : uses) {
    if (u.changed && std::find(u.by.begin(), u.by.end(), s.name) == u.by.end()) {
      c.Warn(std::string("scheduler.") + u.key, "`" + std::string(u.key) + "` is not used by " +
                                                    s.name + " (only by " + Join(u.by, ", ") + ")");
    }
  }
}

void CheckScheduler(Checker& c, const std::vector<std::string>& metrics) {
  const Manifest& m = c.m();
  const SchedulerConfig& s = m.scheduler;
  if (s.warmup.steps.value_or(0) > 0 && s.warmup.ratio) {
    c.Error("scheduler.warmup.ratio", "`warmup.steps` and `warmup.ratio` are mutually exclusive");
  }
  if (s.name == "step" && !s.step_size) {
    c.ErrorAt("scheduler.step_size", "scheduler.name", "the `step` scheduler needs `step_size`",
              {"e.g. step_size: 1000 with gamma: 0.1"});
  }
  if (s.name == "one_cycle") {
    if (!s.max_lr) {
      c.ErrorAt("scheduler.max_lr", "scheduler.name", "the `one_cycle` scheduler needs `max_lr`");
    } else if (*s.max_lr < m.optimizer.lr) {
      c.Warn("scheduler.max_lr",
             "max_lr " + Num(*s.max_lr) + " is below optimizer.lr " + Num(m.optimizer.lr));
    }
  }
  if (s.name == "plateau" && std::find(metrics.begin(), metrics.end(), s.metric) == metrics.end()) {
    c.Error(m.IsSet("scheduler.metric") ? "scheduler.metric" : "scheduler.name",
            "the `plateau` scheduler watches `" + s.metric + "`, which this run does not compute",
            {"plateau needs validation data (data.split.val > 0 or data.val) and a metric from: " +
             JoinQuoted(metrics)});
  }
  const bool needs_length =
      ((s.name == "cosine" || s.name == "cosine_annealing" || s.name == "linear") && !s.T_max) ||
      s.name == "one_cycle" || s.warmup.ratio.has_value();
  if (m.training.duration && needs_length) {
    c.Error("training.duration",
            "the `" + s.name + "` schedule" + (s.warmup.ratio ? " with warmup.ratio" : "") +
                " needs the run's length in steps, which a time budget does not give",
            {"set scheduler.T_max (and warmup.steps), or use max_steps"});
  }
  CheckSchedulerKeys(c, s);
  if (s.eta_min >= m.optimizer.lr && (s.name == "cosine" || s.name == "cosine_annealing")) {
    c.Warn("scheduler.eta_min", "eta_min " + Num(s.eta_min) + " is not below optimizer.lr " +
                                    Num(m.optimizer.lr) + ": the schedule does not decay");
  }
}

void CheckMetric(Checker& c, const std::string& path, const std::string& metric,
                 const std::vector<std::string>& metrics, bool enabled) {
  if (!enabled || std::find(metrics.begin(), metrics.end(), metric) != metrics.end()) return;
  std::vector<std::string> hints;
  const std::string dym = DidYouMean(Suggest(metric, metrics));
  hints.push_back(dym.empty() ? "this run computes " + JoinQuoted(metrics) : dym);
  const bool has_validation =
      std::find(metrics.begin(), metrics.end(), "val_loss") != metrics.end();
  if (StartsWith(metric, "val_") && !has_validation) {
    hints.push_back(
        "validation metrics need validation data (data.split.val > 0 or data.val) "
        "and training.validation.metrics");
  }
  c.Error(path, "metric `" + metric + "` is not computed by this run", hints);
}

void CheckTraining(Checker& c, const std::vector<std::string>& metrics) {
  const Manifest& m = c.m();
  const TrainingConfig& t = m.training;
  std::vector<std::string> given;
  if (t.epochs) given.emplace_back("training.epochs");
  if (t.max_steps) given.emplace_back("training.max_steps");
  if (t.duration) given.emplace_back("training.duration");
  if (given.size() > 1) {
    c.Error(given[1], "`" + given[0] + "` and `" + given[1] + "` are mutually exclusive",
            {"a run is bounded by epochs, max_steps or duration: keep one"});
  }
  // save_best left unset means "when the metric is computed"; asked for, it must be.
  CheckMetric(c, "training.checkpoint.metric", t.checkpoint.metric, metrics,
              t.checkpoint.save_best.value_or(false));
  CheckMetric(c, "training.early_stopping.metric", t.early_stopping.metric, metrics,
              t.early_stopping.enabled);
  if (t.validation.every && t.validation.every_epoch.value_or(false)) {
    c.Error("training.validation.every", "`every` and `every_epoch: true` are mutually exclusive");
  }
  if (!t.validation.every && !t.validation.every_epoch.value_or(true) && t.early_stopping.enabled) {
    c.Warn("training.early_stopping",
           "early stopping watches validations, and with every_epoch: false the run is validated "
           "once, at its end: it never stops early",
           {"validate every N steps instead: training.validation.every: 100"});
  }
  const auto& mp = t.mixed_precision;
  // LibTorch has no float16 matrix multiply on the CPU: the engine refuses float16 there.
  auto half = [](const std::string& dtype) {
    return dtype == "float16" || dtype == "fp16" || dtype == "half";
  };
  const std::string half_key = half(m.model.dtype)            ? "model.dtype"
                               : mp.enabled && half(mp.dtype) ? "training.mixed_precision.dtype"
                                                              : "";
  if (!half_key.empty() && m.model.device == "cpu") {
    c.Error(half_key,
            "float16 needs a CUDA device (LibTorch has no float16 matrix multiply on the CPU)",
            {"on the CPU use bfloat16"});
  } else if (!half_key.empty() && m.model.device == "auto") {
    c.Warn(half_key, "float16 needs a CUDA device: where there is none, training refuses it",
           {"bfloat16 trains on the CPU too"});
  }
  if (mp.enabled && mp.dtype == "bfloat16" && m.IsSet("training.mixed_precision.loss_scale")) {
    c.Warn("training.mixed_precision.loss_scale",
           "bfloat16 has float32's range, so its losses are not scaled: loss_scale applies to "
           "float16 only");
  }
  if (t.effective_batch_size) {
    const std::int64_t product = m.data.loader.batch_size * t.gradient.accumulation_steps;
    if (*t.effective_batch_size != product) {
      c.Error(
          "training.effective_batch_size",
          "effective_batch_size is " + std::to_string(*t.effective_batch_size) +
              " but batch_size x accumulation_steps = " + std::to_string(product),
          {"compute it: \"{{ data.loader.batch_size * training.gradient.accumulation_steps }}\""});
    }
  }
  if (t.checkpoint.save_every > 0 && t.max_steps && t.checkpoint.save_every > *t.max_steps &&
      m.IsSet("training.checkpoint.save_every")) {
    c.Warn("training.checkpoint.save_every",
           "save_every " + std::to_string(t.checkpoint.save_every) + " is beyond max_steps " +
               std::to_string(*t.max_steps) + ": only the final checkpoint is written");
  }
}

void CheckLora(Checker& c) {
  const Manifest& m = c.m();
  const LoraConfig& l = m.lora;
  const bool on = l.enabled;
  c.Check(on, "lora", "lora.rank", l.rank >= 1,
          "expected an integer >= 1, found " + std::to_string(l.rank));
  c.Check(on, "lora", "lora.alpha", l.alpha > 0, "expected a number > 0, found " + Num(l.alpha));
  c.Check(on, "lora", "lora.dropout", l.dropout >= 0 && l.dropout < 1,
          "expected a number in [0, 1), found " + Num(l.dropout));
  const bool bits_ok = l.quantize_bits == 2 || l.quantize_bits == 4 || l.quantize_bits == 8;
  c.Check(on, "lora", "lora.quantize_bits", bits_ok,
          "expected 2, 4 or 8 bits, found " + std::to_string(l.quantize_bits));
  if (!on) {
    if (l.quantize_base) {
      c.Error("lora.quantize_base", "`quantize_base` (QLoRA) needs LoRA",
              {"set lora.enabled: true"});
    }
    return;
  }
  if (l.target_modules.empty() && !l.target_modules_pattern) {
    c.Error("lora.target_modules", "LoRA needs `target_modules` or `target_modules_pattern`",
            {"e.g. target_modules: [q_proj, v_proj]"});
  }
  if (!m.model.source && !m.model.architecture) {
    c.Error("lora.enabled",
            "LoRA adapts a model, but neither `model.source` nor "
            "`model.architecture` is given",
            {"set model.source to the base model"});
  }
  if (l.quantize_base && bits_ok && l.quantize_bits != 4) {
    c.Error(
        "lora.quantize_bits",
        "QLoRA's " + l.quant_type + " data type is 4-bit, found " + std::to_string(l.quantize_bits),
        {"set quantize_bits: 4"});
  }
  if (!l.quantize_base && l.double_quantize) {
    c.Warn("lora.double_quantize", "`lora.double_quantize` is only used with quantize_base: true");
  }
}

void CheckQuantize(Checker& c) {
  const Manifest& m = c.m();
  const QuantizeConfig& q = m.quantize;
  const bool on = q.enabled;
  c.Check(on, "quantize", "quantize.bits", q.bits == 2 || q.bits == 4 || q.bits == 8,
          "expected 2, 4 or 8 bits, found " + std::to_string(q.bits));
  c.Check(on, "quantize", "quantize.group_size", !q.group_size || *q.group_size >= 1,
          "expected an integer >= 1, found " + std::to_string(q.group_size.value_or(0)));
  if (!on) return;
  if (q.granularity == "per_group" && !q.group_size) {
    c.Error("quantize.group_size", "`per_group` granularity needs `group_size`",
            {"e.g. group_size: 128"});
  }
  if (q.granularity != "per_group" && m.IsSet("quantize.group_size")) {
    c.Warn("quantize.group_size", "group_size is only used with granularity: per_group");
  }
}

void CheckMonitoring(Checker& c, const std::vector<std::string>& metrics) {
  const Manifest& m = c.m();
  const MonitoringConfig& mon = m.monitoring;
  if (mon.tracking.enabled && mon.tracking.backend == "wandb") {
    c.Error("monitoring.tracking.backend", "the wandb backend is not supported",
            {"use builtin, mlflow or tensorboard"});
  }
  if (mon.tracking.enabled &&
      (mon.tracking.backend == "builtin" || mon.tracking.backend == "trueno-db")) {
    c.Warn(m.IsSet("monitoring.tracking.backend") ? "monitoring.tracking.backend"
                                                  : "monitoring.tracking.enabled",
           "the " + mon.tracking.backend +
               " store is the run directory's metrics, which every run writes: enabling it adds "
               "nothing",
           {"record elsewhere with backend: tensorboard or mlflow"});
  }
  if (mon.tracking.enabled && mon.tracking.backend == "mlflow" && !mon.tracking.uri) {
    c.Error("monitoring.tracking.uri", "the mlflow backend needs `uri` (the tracking server)");
  }
  // The run's metrics and the system metrics (sampled with monitoring.system).
  std::vector<std::string> known = metrics;
  for (const char* s :
       {"cpu_percent", "memory_mb", "gpu_utilization", "gpu_memory_mb", "gpu_memory", "disk_io"}) {
    known.emplace_back(s);
  }
  auto computed = [&](const std::string& path, const std::string& metric) {
    if (std::find(known.begin(), known.end(), metric) != known.end()) return;
    c.Warn(path, "the progress line shows `" + metric + "`, which this run does not compute",
           {DidYouMean(Suggest(metric, known))});
  };
  for (std::size_t i = 0; i < mon.terminal.metrics.size(); ++i) {
    computed("monitoring.terminal.metrics[" + std::to_string(i) + "]", mon.terminal.metrics[i]);
  }
  for (std::size_t i = 0; i < mon.terminal.charts.size(); ++i) {
    const ChartConfig& chart = mon.terminal.charts[i];
    const std::string path = "monitoring.terminal.charts[" + std::to_string(i) + "]";
    if (chart.type == "sparkline" && !chart.metric) {
      c.Error(path + ".metric", "a sparkline needs the `metric` it draws");
    } else if (chart.type == "sparkline") {
      computed(path + ".metric", *chart.metric);
    }
  }
  for (std::size_t i = 0; i < mon.alerts.size(); ++i) {
    const std::string path = "monitoring.alerts[" + std::to_string(i) + "].condition";
    expr::Outcome<expr::Condition> cond = expr::ParseCondition(mon.alerts[i].condition);
    if (!cond.ok()) continue;  // reported while reading
    for (const std::string& metric : cond.value().metrics) {
      if (std::find(known.begin(), known.end(), metric) != known.end()) {
        if (metric.rfind("gpu", 0) == 0 || metric == "cpu_percent" || metric == "memory_mb" ||
            metric == "disk_io") {
          if (!mon.system.enabled) {
            c.Warn(path, "`" + metric +
                             "` is only recorded when monitoring.system.enabled is "
                             "true");
          }
        }
        continue;
      }
      c.Warn(path, "alert reads `" + metric + "`, which this run does not compute",
             {DidYouMean(Suggest(metric, known))});
    }
  }
}

void CheckCallbacks(Checker& c, const std::vector<std::string>& metrics) {
  const Manifest& m = c.m();
  for (std::size_t i = 0; i < m.callbacks.size(); ++i) {
    const CallbackConfig& cb = m.callbacks[i];
    const std::string path = "callbacks[" + std::to_string(i) + "]";
    if (cb.type == "custom" && !cb.script && !cb.command) {
      c.Error(path, "a custom callback needs `command`",
              {"e.g. command: [python3, hooks/on_step.py]"});
    }
    if (cb.type != "custom") {
      for (const char* k : {"script", "command", "timeout"}) {
        if (m.IsSet(path + "." + k)) {
          c.Error(path + "." + k, std::string("`") + k + "` belongs to `type: custom`");
        }
      }
    }
    struct Use {
      const char* key;
      const char* type;
    };
    for (const Use& u :
         {Use{"save_best", "checkpoint"}, Use{"metric", "checkpoint"}, Use{"mode", "checkpoint"},
          Use{"log_histogram", "gradient_monitor"}, Use{"per_layer", "gradient_monitor"},
          Use{"num_samples", "sample_predictions"}, Use{"max_tokens", "sample_predictions"},
          Use{"temperature", "sample_predictions"}}) {
      const std::string key = path + ".config." + u.key;
      if (m.IsSet(key) && cb.type != u.type) {
        c.Warn(key, std::string("`") + u.key + "` is an option of `" + u.type +
                        "` callbacks, not of `" + cb.type + "`");
      }
    }
    if (cb.type == "checkpoint" && cb.config.metric && cb.config.save_best.value_or(true)) {
      CheckMetric(c, path + ".config.metric", *cb.config.metric, metrics, true);
    }
  }
}

}  // namespace

std::vector<std::string> ComputedMetrics(const Manifest& m) {
  std::vector<std::string> out = {"loss",  "train_loss", "learning_rate",
                                  "lr",    "throughput", "samples_per_second",
                                  "epoch", "step",       "step_samples_per_second"};
  // The gradient norm is measured for clipping and by a gradient_monitor callback only.
  const bool monitored = std::any_of(m.callbacks.begin(), m.callbacks.end(),
                                     [](const auto& cb) { return cb.type == "gradient_monitor"; });
  if (m.training.gradient.clip_norm || monitored) out.emplace_back("grad_norm");
  const bool explicit_files = m.data.train || m.data.val || m.data.test;
  const bool has_val = m.data.val.has_value() ||
                       (!explicit_files && EffectiveSplit(m.data).val > 0) ||
                       m.training.validation.cross_validation.has_value();
  if (!has_val) return out;
  out.emplace_back("val_loss");
  std::vector<std::string> names =
      m.training.validation.metrics.value_or(std::vector<std::string>{"accuracy"});
  for (const std::string& n : names) {
    if (n == "confusion_matrix" || n == "loss") continue;
    out.push_back("val_" + n);
    out.push_back(n);
  }
  return out;
}

// Keys written away from their defaults inside a section that is not enabled do nothing: said
// once per section, naming them (keys already reported, and `enabled` itself, are left out).
void CheckDisabledSections(const Manifest& m, std::vector<Diagnostic>* diags) {
  const std::pair<const char*, bool> sections[] = {
      {"lora", m.lora.enabled},
      {"quantize", m.quantize.enabled},
      {"quantize.qat", m.quantize.qat.enabled || !m.quantize.enabled},
      {"training.early_stopping", m.training.early_stopping.enabled},
      {"training.mixed_precision", m.training.mixed_precision.enabled},
      {"monitoring.tracking", m.monitoring.tracking.enabled},
      {"monitoring.system", m.monitoring.system.enabled},
      {"output.registry", m.output.registry.enabled}};
  const Manifest defaults;
  std::set<std::string> reported;
  for (const Diagnostic& d : *diags) reported.insert(d.path.substr(0, d.path.find('[')));
  for (const auto& [section, enabled] : sections) {
    if (enabled) continue;
    const std::string prefix = std::string(section) + ".";
    std::set<std::string> ignored;
    for (const auto& [path, at] : m.locations) {
      const std::string key = path.substr(0, path.find('['));
      if (key.rfind(prefix, 0) != 0 || key == prefix + "enabled" || reported.count(key)) continue;
      // A key holding a section of its own (quantize.calibration) is named by its keys.
      const auto next = m.locations.upper_bound(key + ".");
      if (next != m.locations.end() && next->first.rfind(key + ".", 0) == 0) continue;
      if (ValueJson(m, key) != ValueJson(defaults, key)) ignored.insert(key);
    }
    if (ignored.empty()) continue;
    const std::vector<std::string> keys(ignored.begin(), ignored.end());
    diags->push_back({Severity::kWarning,
                      keys.front(),
                      m.LocationOf(keys.front()),
                      JoinQuoted(keys) + (keys.size() == 1 ? " has" : " have") +
                          " no effect while " + section + ".enabled is false",
                      {"set " + std::string(section) + ".enabled: true to use " +
                       (keys.size() == 1 ? "it" : "them")}});
  }
}

void Validate(const Manifest& m, std::vector<Diagnostic>* diags) {
  Checker c(m, diags);
  const std::vector<std::string> metrics = ComputedMetrics(m);
  CheckRoot(c);
  CheckData(c);
  CheckModelFormat(c);
  CheckLayers(c);
  CheckOptimizer(c);
  CheckScheduler(c, metrics);
  CheckTraining(c, metrics);
  CheckLora(c);
  CheckQuantize(c);
  CheckMonitoring(c, metrics);
  CheckCallbacks(c, metrics);
  CheckDisabledSections(m, diags);
}

}  // namespace entrenar::manifest
