// The training loop on LibTorch. LibTorch types stay in this file; nothing torch leaves it.
#include "entrenar/engine/trainer.h"

#include <fnmatch.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <random>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"
#include "entrenar/engine/dataset.h"
#include "entrenar/engine/metrics.h"
#include "entrenar/engine/schedule.h"
#include "entrenar/formats/safetensors.h"

namespace entrenar::engine {
namespace {

using manifest::Manifest;
using Clock = std::chrono::steady_clock;

// ---- model ----
bool IsFinalSoftmax(const manifest::ActivationLayer& a, bool last) {
  return last && (a.type == "softmax" || a.type == "log_softmax");
}

Result<torch::nn::Sequential> BuildModel(const manifest::ArchitectureConfig& arch) {
  torch::nn::Sequential seq;
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    const manifest::Layer& l = arch.layers[i];
    const bool last = i + 1 == arch.layers.size();
    if (l.linear) {
      seq->push_back(
          torch::nn::Linear(torch::nn::LinearOptions(l.linear->in_features, l.linear->out_features)
                                .bias(l.linear->bias)));
    } else if (l.dropout) {
      seq->push_back(torch::nn::Dropout(l.dropout->p));
    } else if (l.flatten) {
      seq->push_back(torch::nn::Flatten(
          torch::nn::FlattenOptions().start_dim(l.flatten->start_dim).end_dim(l.flatten->end_dim)));
    } else if (l.batchnorm) {
      seq->push_back(torch::nn::BatchNorm1d(torch::nn::BatchNorm1dOptions(l.batchnorm->num_features)
                                                .eps(l.batchnorm->eps)
                                                .momentum(l.batchnorm->momentum)));
    } else if (l.layernorm) {
      seq->push_back(torch::nn::LayerNorm(
          torch::nn::LayerNormOptions({l.layernorm->normalized_shape}).eps(l.layernorm->eps)));
    } else if (l.activation) {
      const std::string& t = l.activation->type;
      // A final softmax is applied at inference; training uses the stable log-softmax form.
      if (IsFinalSoftmax(*l.activation, last)) continue;
      if (t == "relu")
        seq->push_back(torch::nn::ReLU());
      else if (t == "gelu")
        seq->push_back(torch::nn::GELU());
      else if (t == "silu")
        seq->push_back(torch::nn::SiLU());
      else if (t == "tanh")
        seq->push_back(torch::nn::Tanh());
      else if (t == "sigmoid")
        seq->push_back(torch::nn::Sigmoid());
      else if (t == "leaky_relu")
        seq->push_back(torch::nn::LeakyReLU(
            torch::nn::LeakyReLUOptions().negative_slope(l.activation->negative_slope)));
      else if (t == "softmax")
        seq->push_back(torch::nn::Softmax(l.activation->dim));
      else if (t == "log_softmax")
        seq->push_back(torch::nn::LogSoftmax(l.activation->dim));
    } else {
      return Unimplemented("not supported yet: model.architecture.layers[" + std::to_string(i) +
                           "]");
    }
  }
  return seq;
}

// The width of the model's output, from its last linear layer.
std::optional<std::int64_t> OutputWidth(const manifest::ArchitectureConfig& arch) {
  for (auto it = arch.layers.rbegin(); it != arch.layers.rend(); ++it) {
    if (it->linear) return it->linear->out_features;
  }
  return std::nullopt;
}

// ---- freezing and parameter groups ----
// A glob matches a parameter by its full name (`layers.0.weight`), its name inside the model
// (`0.weight`), or as a prefix of either (`layers.0` matches both tensors of layer 0).
bool Matches(const std::string& pattern, const std::string& name) {
  const std::string inner = name.substr(name.find('.') + 1);
  for (const std::string& n : {name, inner}) {
    if (fnmatch(pattern.c_str(), n.c_str(), 0) == 0) return true;
    if (n.rfind(pattern + ".", 0) == 0) return true;
  }
  return false;
}

std::vector<std::string> ParameterNames(const torch::nn::Sequential& model) {
  std::vector<std::string> names;
  for (const auto& p : model->named_parameters()) names.push_back("layers." + p.key());
  return names;
}

// model.freeze: matching parameters stop requiring gradients. A pattern matching nothing is an
// error (a typo would silently train everything).
Status ApplyFreeze(torch::nn::Sequential& model, const std::vector<std::string>& patterns) {
  for (const std::string& pattern : patterns) {
    bool any = false;
    for (auto& p : model->named_parameters()) {
      if (Matches(pattern, "layers." + p.key())) {
        p.value().requires_grad_(false);
        any = true;
      }
    }
    if (!any) {
      return InvalidArgument("model.freeze: `" + pattern +
                             "` matches no parameter; parameters are " +
                             JoinQuoted(ParameterNames(model)));
    }
  }
  return OkStatus();
}

// The trainable parameters split into optimizer groups: each of optimizer.param_groups (in
// order; a parameter joins the first group that matches), then the rest with the defaults.
struct Group {
  std::vector<torch::Tensor> params;
  double lr = 0;
  double weight_decay = 0;
};

Result<std::vector<Group>> MakeGroups(const torch::nn::Sequential& model,
                                      const manifest::OptimizerConfig& o) {
  std::vector<Group> groups(o.param_groups.size() + 1);
  groups.back().lr = o.lr;
  groups.back().weight_decay = o.weight_decay;
  for (std::size_t g = 0; g < o.param_groups.size(); ++g) {
    groups[g].lr = o.param_groups[g].lr.value_or(o.lr);
    groups[g].weight_decay = o.param_groups[g].weight_decay.value_or(o.weight_decay);
  }
  for (const auto& p : model->named_parameters()) {
    if (!p.value().requires_grad()) continue;
    std::size_t g = 0;
    while (g < o.param_groups.size() && !Matches(o.param_groups[g].params, "layers." + p.key()))
      ++g;
    groups[g].params.push_back(p.value());
  }
  for (std::size_t g = 0; g < o.param_groups.size(); ++g) {
    if (groups[g].params.empty()) {
      return InvalidArgument(
          "optimizer.param_groups[" + std::to_string(g) + "].params: `" + o.param_groups[g].params +
          "` matches no trainable parameter; parameters are " + JoinQuoted(ParameterNames(model)));
    }
  }
  if (groups.back().params.empty()) groups.pop_back();
  if (groups.empty())
    return InvalidArgument("model.freeze: every parameter is frozen; nothing would train");
  return groups;
}

template <typename Opt, typename Options>
std::unique_ptr<torch::optim::Optimizer> WithGroups(const std::vector<Group>& groups,
                                                    const Options& defaults) {
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (const Group& g : groups) {
    auto options = std::make_unique<Options>(defaults);
    options->lr(g.lr);
    options->weight_decay(g.weight_decay);
    param_groups.emplace_back(g.params, std::move(options));
  }
  return std::make_unique<Opt>(std::move(param_groups), defaults);
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const manifest::OptimizerConfig& o,
                                                       const std::vector<Group>& groups) {
  namespace optim = torch::optim;
  if (o.name == "sgd") {
    return WithGroups<optim::SGD>(groups, optim::SGDOptions(o.lr)
                                              .momentum(o.momentum)
                                              .dampening(o.dampening)
                                              .weight_decay(o.weight_decay)
                                              .nesterov(o.nesterov));
  }
  if (o.name == "adam") {
    return WithGroups<optim::Adam>(groups, optim::AdamOptions(o.lr)
                                               .betas({o.betas[0], o.betas[1]})
                                               .eps(o.eps)
                                               .weight_decay(o.weight_decay)
                                               .amsgrad(o.amsgrad));
  }
  if (o.name == "rmsprop") {
    return WithGroups<optim::RMSprop>(groups, optim::RMSpropOptions(o.lr)
                                                  .alpha(o.alpha)
                                                  .eps(o.eps)
                                                  .weight_decay(o.weight_decay)
                                                  .momentum(o.momentum)
                                                  .centered(o.centered));
  }
  if (o.name == "adagrad") {
    return WithGroups<optim::Adagrad>(
        groups, optim::AdagradOptions(o.lr).weight_decay(o.weight_decay).eps(o.eps));
  }
  return WithGroups<optim::AdamW>(groups, optim::AdamWOptions(o.lr)
                                              .betas({o.betas[0], o.betas[1]})
                                              .eps(o.eps)
                                              .weight_decay(o.weight_decay)
                                              .amsgrad(o.amsgrad));
}

// ---- weights and checkpoints ----
formats::Tensor ToF32(const std::string& name, const torch::Tensor& value) {
  const torch::Tensor t = value.detach().to(torch::kFloat).contiguous();
  std::vector<float> v(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  return formats::MakeF32Tensor(name, t.sizes().vec(), v);
}

// The model's parameters and float buffers as `layers.<name>` tensors.
formats::Safetensors Weights(const torch::nn::Sequential& model) {
  formats::Safetensors st;
  for (const auto& p : model->named_parameters())
    st.tensors.push_back(ToF32("layers." + p.key(), p.value()));
  for (const auto& b : model->named_buffers()) {
    if (b.value().scalar_type() == torch::kFloat)
      st.tensors.push_back(ToF32("layers." + b.key(), b.value()));
  }
  return st;
}

// Copies `layers.<name>` tensors into the model; every float parameter and buffer must be there.
Status LoadWeights(torch::nn::Sequential& model, const formats::Safetensors& st,
                   const std::string& file) {
  torch::NoGradGuard no_grad;
  auto load = [&](const std::string& name, torch::Tensor& target) -> Status {
    const formats::Tensor* t = st.Find("layers." + name);
    if (!t || t->dtype != formats::DType::kF32 || t->shape != target.sizes().vec()) {
      return DataLoss(file + ": tensor layers." + name + " is missing or mis-shaped");
    }
    const std::vector<float> v = formats::F32Values(*t);
    target.copy_(torch::tensor(v).reshape(target.sizes()));
    return OkStatus();
  };
  for (auto& p : model->named_parameters()) ENTRENAR_RETURN_IF_ERROR(load(p.key(), p.value()));
  for (auto& b : model->named_buffers()) {
    if (b.value().scalar_type() == torch::kFloat)
      ENTRENAR_RETURN_IF_ERROR(load(b.key(), b.value()));
  }
  return OkStatus();
}

// ---- the run ----
struct Budget {
  std::int64_t batches = 0, steps_per_epoch = 0, epochs = 0, total_steps = 0;
};

// Batches per epoch, optimizer steps per epoch, epochs and total steps for `rows` training rows.
Result<Budget> ComputeBudget(const Manifest& m, std::int64_t rows) {
  const std::int64_t batch = m.data.loader.batch_size;
  const std::int64_t accum = m.training.gradient.accumulation_steps;
  Budget b;
  b.batches = m.data.loader.drop_last ? rows / batch : (rows + batch - 1) / batch;
  if (b.batches == 0) {
    return InvalidArgument("data.loader.batch_size: the training split (" + std::to_string(rows) +
                           " rows) is smaller than one batch with drop_last");
  }
  b.steps_per_epoch = (b.batches + accum - 1) / accum;
  if (m.training.duration) {
    // Bounded by wall-clock time: as many epochs as fit. Schedules that need the total length
    // get it from T_max.
    const auto& s = m.scheduler;
    const bool needs_total =
        ((s.name == "cosine" || s.name == "cosine_annealing" || s.name == "linear") && !s.T_max) ||
        s.name == "one_cycle" || s.warmup.ratio.has_value();
    if (needs_total) {
      return InvalidArgument("training.duration: the `" + s.name + "` schedule" +
                             (s.warmup.ratio ? " with warmup.ratio" : "") +
                             " needs the run's length in steps, which a time budget does not give; "
                             "set scheduler.T_max (and warmup.steps), or use max_steps");
    }
    b.epochs = std::numeric_limits<std::int64_t>::max() / 4;
    b.total_steps = s.T_max.value_or(std::numeric_limits<std::int64_t>::max() / 4);
    return b;
  }
  b.epochs = m.training.max_steps
                 ? (*m.training.max_steps + b.steps_per_epoch - 1) / b.steps_per_epoch
                 : manifest::EffectiveEpochs(m.training);
  b.total_steps = m.training.max_steps.value_or(b.epochs * b.steps_per_epoch);
  return b;
}

struct Run {
  Run(const Manifest& manifest, const TrainOptions& opts, EventSink& events, PreparedData prepared)
      : m(manifest), options(opts), sink(events), data(std::move(prepared)) {}

  const Manifest& m;
  const TrainOptions& options;
  EventSink& sink;
  PreparedData data;
  torch::nn::Sequential model;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  torch::Tensor train_x, train_y, val_x, val_y, test_x, test_y;
  std::int64_t step = 0, epoch = 0, total_steps = 0, samples = 0;
  Clock::time_point start = Clock::now();
  TrainSummary summary;
  std::vector<torch::Tensor> best_state;
  std::int64_t stale_validations = 0;
  std::optional<double> early_best;
  std::int64_t start_epoch = 1, start_batch = 0;  // where a resumed run picks up
  PlateauTracker plateau;
  std::vector<double> group_lr;  // each optimizer group's base learning rate
  bool checkpoint_due = false;   // save_every fell on an epoch's last step: save after validation

  // Writes checkpoints/step-N atomically (a temporary directory, then a rename) and keeps the
  // newest keep_last. `next_epoch`/`next_batch` say where training continues.
  Status SaveCheckpoint(std::int64_t next_epoch, std::int64_t next_batch) {
    namespace fs = std::filesystem;
    const std::string root = options.run_dir + "/checkpoints";
    const std::string final_dir = root + "/step-" + std::to_string(step);
    const std::string tmp = root + "/.step-" + std::to_string(step) + ".tmp";
    std::error_code ec;
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    if (ec) return DataLoss("cannot create " + tmp + ": " + ec.message());
    ENTRENAR_RETURN_IF_ERROR(
        formats::WriteSafetensorsFile(tmp + "/model.safetensors", Weights(model)));
    if (!best_state.empty()) {
      std::vector<torch::Tensor> now = State();
      Restore(best_state);
      ENTRENAR_RETURN_IF_ERROR(
          formats::WriteSafetensorsFile(tmp + "/best.safetensors", Weights(model)));
      Restore(now);
    }
    torch::serialize::OutputArchive archive;
    optimizer->save(archive);
    archive.save_to(tmp + "/optimizer.pt");
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    torch::Tensor rng;
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      rng = gen.get_state();
    }
    formats::Safetensors rng_file;
    formats::Tensor t;
    t.name = "rng.cpu";
    t.dtype = formats::DType::kU8;
    t.shape = {rng.numel()};
    t.bytes.assign(reinterpret_cast<const char*>(rng.data_ptr<std::uint8_t>()),
                   static_cast<std::size_t>(rng.numel()));
    rng_file.tensors.push_back(std::move(t));
    ENTRENAR_RETURN_IF_ERROR(formats::WriteSafetensorsFile(tmp + "/rng.safetensors", rng_file));
    nlohmann::ordered_json state = {{"step", step},
                                    {"next_epoch", next_epoch},
                                    {"next_batch", next_batch},
                                    {"samples", samples},
                                    {"seed", options.seed},
                                    {"stale_validations", stale_validations},
                                    {"best_step", summary.best_step},
                                    {"best_metric", summary.best_metric}};
    if (summary.best_value) state["best_value"] = *summary.best_value;
    if (early_best) state["early_best"] = *early_best;
    state["plateau_scale"] = plateau.scale;
    state["plateau_bad"] = plateau.bad;
    if (plateau.best) state["plateau_best"] = *plateau.best;
    ENTRENAR_RETURN_IF_ERROR(WriteFileAtomic(tmp + "/state.json", state.dump(2) + "\n"));
    fs::remove_all(final_dir, ec);
    fs::rename(tmp, final_dir, ec);
    if (ec) return DataLoss("cannot rename " + tmp + " to " + final_dir + ": " + ec.message());
    Emit(Event::Kind::kCheckpoint, {}, final_dir);
    // Keep the newest keep_last.
    std::vector<std::pair<std::int64_t, fs::path>> all;
    for (const auto& e : fs::directory_iterator(root, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind("step-", 0) == 0) all.emplace_back(std::atoll(name.c_str() + 5), e.path());
    }
    std::sort(all.begin(), all.end());
    const auto keep = static_cast<std::size_t>(m.training.checkpoint.keep_last);
    for (std::size_t i = 0; i + keep < all.size(); ++i) fs::remove_all(all[i].second, ec);
    return OkStatus();
  }

  Status Resume(const std::string& dir) {
    ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(dir + "/state.json"));
    const nlohmann::json state = nlohmann::json::parse(text, nullptr, false);
    if (state.is_discarded() || !state.contains("step"))
      return DataLoss(dir + "/state.json is damaged");
    ENTRENAR_ASSIGN_OR_RETURN(formats::Safetensors weights,
                              formats::ReadSafetensorsFile(dir + "/model.safetensors"));
    ENTRENAR_RETURN_IF_ERROR(LoadWeights(model, weights, dir + "/model.safetensors"));
    Result<formats::Safetensors> best = formats::ReadSafetensorsFile(dir + "/best.safetensors");
    if (best.ok()) {
      std::vector<torch::Tensor> now = State();
      ENTRENAR_RETURN_IF_ERROR(LoadWeights(model, *best, dir + "/best.safetensors"));
      best_state = State();
      Restore(now);
    }
    torch::serialize::InputArchive archive;
    archive.load_from(dir + "/optimizer.pt");
    optimizer->load(archive);
    ENTRENAR_ASSIGN_OR_RETURN(formats::Safetensors rng_file,
                              formats::ReadSafetensorsFile(dir + "/rng.safetensors"));
    const formats::Tensor* rng = rng_file.Find("rng.cpu");
    if (!rng) return DataLoss(dir + "/rng.safetensors has no rng.cpu");
    torch::Tensor rng_state =
        torch::empty({static_cast<std::int64_t>(rng->bytes.size())}, torch::kUInt8);
    std::memcpy(rng_state.data_ptr<std::uint8_t>(), rng->bytes.data(), rng->bytes.size());
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    {
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng_state);
    }
    step = state["step"].get<std::int64_t>();
    start_epoch = state["next_epoch"].get<std::int64_t>();
    start_batch = state["next_batch"].get<std::int64_t>();
    samples = state["samples"].get<std::int64_t>();
    stale_validations = state["stale_validations"].get<std::int64_t>();
    summary.best_step = state["best_step"].get<std::int64_t>();
    summary.best_metric = state["best_metric"].get<std::string>();
    if (state.contains("best_value")) summary.best_value = state["best_value"].get<double>();
    if (state.contains("early_best")) early_best = state["early_best"].get<double>();
    plateau.scale = state.value("plateau_scale", 1.0);
    plateau.bad = state.value("plateau_bad", std::int64_t{0});
    if (state.contains("plateau_best")) plateau.best = state["plateau_best"].get<double>();
    Log("resumed from " + dir + " at step " + std::to_string(step));
    return OkStatus();
  }

  bool Classification() const { return data.task == Task::kClassification; }

  void Emit(Event::Kind kind, std::map<std::string, double> values = {}, std::string text = "") {
    Event e;
    e.kind = kind;
    e.step = step;
    e.epoch = epoch;
    e.values = std::move(values);
    e.text = std::move(text);
    sink.OnEvent(e);
  }
  void Log(std::string text) { Emit(Event::Kind::kLog, {}, std::move(text)); }

  torch::Tensor Loss(const torch::Tensor& out, const torch::Tensor& y) const {
    if (Classification()) return torch::nn::functional::cross_entropy(out, y.to(torch::kLong));
    const torch::Tensor pred = out.squeeze(1);
    if (m.training.loss == "l1") return torch::nn::functional::l1_loss(pred, y);
    if (m.training.loss == "huber") return torch::nn::functional::huber_loss(pred, y);
    return torch::nn::functional::mse_loss(pred, y);
  }

  // Loss and metrics of `x`/`y` in evaluation mode, prefixed `prefix` (val_, test_).
  std::map<std::string, double> Evaluate(const torch::Tensor& x, const torch::Tensor& y,
                                         const std::string& prefix) {
    std::map<std::string, double> out;
    if (x.size(0) == 0) return out;
    torch::NoGradGuard no_grad;
    model->eval();
    const torch::Tensor logits = model->forward(x);
    out[prefix + "loss"] = Loss(logits, y).item<double>();
    if (Classification()) {
      const torch::Tensor pred = logits.argmax(1).contiguous();
      const torch::Tensor truth = y.to(torch::kLong).contiguous();
      std::vector<std::int64_t> p(pred.data_ptr<std::int64_t>(),
                                  pred.data_ptr<std::int64_t>() + pred.numel());
      std::vector<std::int64_t> t(truth.data_ptr<std::int64_t>(),
                                  truth.data_ptr<std::int64_t>() + truth.numel());
      for (const auto& [k, v] :
           ClassificationMetrics(p, t, static_cast<std::int64_t>(data.classes.size()))) {
        out[prefix + k] = v;
      }
      const auto& wanted = m.training.validation.metrics;
      if (wanted && std::find(wanted->begin(), wanted->end(), "auc_roc") != wanted->end()) {
        const torch::Tensor probs = torch::softmax(logits, 1).contiguous();
        const std::vector<float> pr(probs.data_ptr<float>(),
                                    probs.data_ptr<float>() + probs.numel());
        if (auto auc = AucRoc(pr, t, static_cast<std::int64_t>(data.classes.size()))) {
          out[prefix + "auc_roc"] = *auc;
        }
      }
    } else {
      const torch::Tensor pred = logits.squeeze(1).to(torch::kDouble).contiguous();
      const torch::Tensor truth = y.to(torch::kDouble).contiguous();
      std::vector<double> p(pred.data_ptr<double>(), pred.data_ptr<double>() + pred.numel());
      std::vector<double> t(truth.data_ptr<double>(), truth.data_ptr<double>() + truth.numel());
      for (const auto& [k, v] : RegressionMetrics(p, t)) out[prefix + k] = v;
    }
    model->train();
    return out;
  }

  std::vector<torch::Tensor> State() {
    std::vector<torch::Tensor> s;
    for (const auto& p : model->named_parameters()) s.push_back(p.value().detach().clone());
    for (const auto& b : model->named_buffers()) s.push_back(b.value().detach().clone());
    return s;
  }
  void Restore(const std::vector<torch::Tensor>& s) {
    torch::NoGradGuard no_grad;
    std::size_t i = 0;
    for (auto& p : model->named_parameters()) p.value().copy_(s[i++]);
    for (auto& b : model->named_buffers()) b.value().copy_(s[i++]);
  }

  static bool Better(double value, double best, const std::string& mode, double delta) {
    return mode == "max" ? value > best + delta : value < best - delta;
  }

  // Validation, best-weights tracking and early stopping. Returns true to stop training.
  bool Validate() {
    if (val_x.size(0) == 0) return false;
    const std::map<std::string, double> v = Evaluate(val_x, val_y, "val_");
    summary.val = v;
    Emit(Event::Kind::kValidation, v);
    // A metric may be named with or without its prefix: `accuracy` is `val_accuracy`.
    auto lookup = [&](const std::string& name) -> std::optional<double> {
      if (v.count(name)) return v.at(name);
      if (v.count("val_" + name)) return v.at("val_" + name);
      return std::nullopt;
    };
    if (m.scheduler.name == "plateau" && lookup(m.scheduler.metric) &&
        plateau.Observe(m.scheduler, *lookup(m.scheduler.metric))) {
      Log("plateau: " + m.scheduler.metric + " stopped improving; learning rate scale now " +
          std::to_string(plateau.scale));
    }
    const auto& cp = m.training.checkpoint;
    if (cp.save_best.value_or(true) && lookup(cp.metric)) {
      const double value = *lookup(cp.metric);
      if (!summary.best_value || Better(value, *summary.best_value, cp.mode, 0)) {
        summary.best_value = value;
        summary.best_step = step;
        summary.best_metric = cp.metric;
        best_state = State();
      }
    }
    const auto& es = m.training.early_stopping;
    if (es.enabled && lookup(es.metric)) {
      const double value = *lookup(es.metric);
      if (!early_best || Better(value, *early_best, es.mode, es.min_delta)) {
        early_best = value;
        stale_validations = 0;
      } else if (++stale_validations >= es.patience) {
        Log("early stopping: " + es.metric + " has not improved for " +
            std::to_string(es.patience) + " validations");
        summary.early_stopped = true;
        return true;
      }
    }
    return false;
  }

  Status Loop() {
    const std::int64_t n = train_x.size(0);
    const std::int64_t batch = m.data.loader.batch_size;
    const std::int64_t accum = m.training.gradient.accumulation_steps;
    ENTRENAR_ASSIGN_OR_RETURN(const Budget budget, ComputeBudget(m, n));
    const std::int64_t batches = budget.batches, steps_per_epoch = budget.steps_per_epoch;
    const std::int64_t epochs = budget.epochs;
    total_steps = budget.total_steps;
    const std::optional<std::int64_t> every = m.training.validation.every;
    Log("training " + std::to_string(n) + " samples, " + std::to_string(steps_per_epoch) +
        " steps per epoch, " + std::to_string(total_steps) + " steps");
    model->train();
    bool done = false;
    const std::int64_t save_every = m.training.checkpoint.save_every;
    for (epoch = start_epoch; epoch <= epochs && !done && step < total_steps; ++epoch) {
      std::vector<std::int64_t> order(static_cast<std::size_t>(n));
      for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
      if (m.data.loader.shuffle) {
        // Shuffle seed + epoch, so a resumed run sees the same order.
        std::mt19937_64 rng(options.seed + static_cast<std::uint64_t>(epoch));
        for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
      }
      const torch::Tensor perm = torch::tensor(order, torch::kLong);
      std::int64_t micro = 0;
      double window_loss = 0;
      std::int64_t window_samples = 0;
      const std::int64_t first_batch = epoch == start_epoch ? start_batch : 0;
      for (std::int64_t b = first_batch; b < batches && !done; ++b) {
        const torch::Tensor idx = perm.slice(0, b * batch, std::min(n, (b + 1) * batch));
        const torch::Tensor xb = train_x.index_select(0, idx), yb = train_y.index_select(0, idx);
        // The window's last micro-batches may be fewer than `accum` at an epoch's end.
        const std::int64_t window = std::min(accum, batches - (b - micro));
        const torch::Tensor loss = Loss(model->forward(xb), yb);
        if (window == 1) {
          loss.backward();
        } else {
          (loss / static_cast<double>(window)).backward();
        }
        window_loss += loss.item<double>();
        window_samples += xb.size(0);
        if (++micro < window) continue;
        if (m.training.gradient.clip_value) {
          torch::nn::utils::clip_grad_value_(model->parameters(), *m.training.gradient.clip_value);
        }
        double grad_norm = 0;
        if (m.training.gradient.clip_norm) {
          grad_norm = torch::nn::utils::clip_grad_norm_(model->parameters(),
                                                        *m.training.gradient.clip_norm);
        }
        const double lr =
            LearningRateAt(m.scheduler, m.optimizer.lr, step, total_steps) * plateau.scale;
        for (std::size_t g = 0; g < group_lr.size(); ++g) {
          optimizer->param_groups()[g].options().set_lr(
              LearningRateAt(m.scheduler, group_lr[g], step, total_steps) * plateau.scale);
        }
        optimizer->step();
        optimizer->zero_grad();
        ++step;
        samples += window_samples;
        const double secs = std::chrono::duration<double>(Clock::now() - start).count();
        std::map<std::string, double> values = {
            {"train_loss", window_loss / static_cast<double>(window)},
            {"learning_rate", lr},
            {"samples_per_second", secs > 0 ? samples / secs : 0},
            {"total_steps", m.training.duration ? 0.0 : static_cast<double>(total_steps)}};
        if (m.training.gradient.clip_norm) values["grad_norm"] = grad_norm;
        if (!std::isfinite(window_loss)) {
          return InvalidArgument("the training loss became " + std::to_string(window_loss) +
                                 " at step " + std::to_string(step) + "; lower optimizer.lr");
        }
        Emit(Event::Kind::kMetric, values);
        micro = 0;
        window_loss = 0;
        window_samples = 0;
        if (every && step % *every == 0 && Validate()) done = true;
        if (!m.training.duration && step >= total_steps) done = true;
        if (m.training.duration && std::chrono::duration<double>(Clock::now() - start).count() >=
                                       m.training.duration->seconds) {
          Log("the time budget of " + m.training.duration->text + " is spent after step " +
              std::to_string(step));
          done = true;
        }
        const bool last_of_epoch = b + 1 == batches;
        if (options.stop && options.stop->load()) {
          summary.stopped = true;
          Log("stopped on request after step " + std::to_string(step));
          done = true;
          // Saved now: a resumed run continues with the next batch (validation included).
          if (!last_of_epoch) {
            ENTRENAR_RETURN_IF_ERROR(SaveCheckpoint(epoch, b + 1));
          } else {
            checkpoint_due = true;
          }
        } else if (step % save_every == 0 && !done) {
          if (last_of_epoch) {
            checkpoint_due = true;  // after this epoch's validation
          } else {
            ENTRENAR_RETURN_IF_ERROR(SaveCheckpoint(epoch, b + 1));
          }
        }
      }
      if (!summary.stopped || checkpoint_due) {
        if (!every && Validate()) done = true;
      }
      summary.epochs = epoch;
      if (checkpoint_due && !(done && !summary.stopped)) {
        ENTRENAR_RETURN_IF_ERROR(SaveCheckpoint(epoch + 1, 0));
        checkpoint_due = false;
      }
    }
    if (every && step % *every != 0 && !summary.stopped) Validate();
    return OkStatus();
  }

  Status Save() {
    formats::Safetensors st = Weights(model);
    nlohmann::ordered_json pre = {{"target", data.target},
                                  {"task", Classification() ? "classification" : "regression"},
                                  {"features", data.features},
                                  {"classes", data.classes}};
    pre["fills"] = nlohmann::ordered_json::array();
    for (const FillValue& f : data.fills) {
      pre["fills"].push_back({{"column", f.column}, {"strategy", f.strategy}, {"value", f.value}});
    }
    pre["encodings"] = nlohmann::ordered_json::array();
    for (const Encoding& e : data.encodings) {
      pre["encodings"].push_back(
          {{"column", e.column}, {"method", e.method}, {"categories", e.categories}});
    }
    pre["scaling"] = nlohmann::ordered_json::array();
    for (const ColumnScale& s : data.scaling) {
      pre["scaling"].push_back(
          {{"column", s.column}, {"method", s.method}, {"shift", s.shift}, {"scale", s.scale}});
    }
    st.metadata["format"] = "pt";
    st.metadata["entrenar.preprocessing"] = pre.dump();
    st.metadata["entrenar.name"] = m.name;
    st.metadata["entrenar.version"] = m.version;
    return formats::WriteSafetensorsFile(options.run_dir + "/model.safetensors", st);
  }
};

torch::Tensor ToTensor(const std::vector<float>& v, std::int64_t rows, std::int64_t cols) {
  if (rows == 0) return torch::empty({0, cols});
  return torch::tensor(v).reshape({rows, cols});
}

// The model's input and output widths must fit the data.
Status CheckShapes(const manifest::ArchitectureConfig& arch, const PreparedData& d) {
  const bool classification = d.task == Task::kClassification;
  const std::optional<std::int64_t> width = OutputWidth(arch);
  const std::int64_t want = classification ? static_cast<std::int64_t>(d.classes.size()) : 1;
  if (width && *width != want) {
    return InvalidArgument("model.architecture.layers: the model outputs " +
                           std::to_string(*width) + " values but the " +
                           (classification ? "data has " + std::to_string(want) + " classes"
                                           : std::string("regression target needs 1")));
  }
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    const auto& l = arch.layers[i];
    if (!l.linear) continue;
    if (l.linear->in_features != d.NumFeatures()) {
      return InvalidArgument("model.architecture.layers[" + std::to_string(i) +
                             "].linear.in_features is " + std::to_string(l.linear->in_features) +
                             " but the data has " + std::to_string(d.NumFeatures()) +
                             " feature columns");
    }
    break;
  }
  return OkStatus();
}

Result<DryRun> PlanOrThrow(const Manifest& m, const TrainOptions& options) {
  ENTRENAR_ASSIGN_OR_RETURN(PreparedData d, PrepareData(m, options.base_dir, options.seed));
  ENTRENAR_RETURN_IF_ERROR(CheckShapes(*m.model.architecture, d));
  ENTRENAR_ASSIGN_OR_RETURN(torch::nn::Sequential model, BuildModel(*m.model.architecture));
  ENTRENAR_RETURN_IF_ERROR(ApplyFreeze(model, m.model.freeze));
  ENTRENAR_RETURN_IF_ERROR(MakeGroups(model, m.optimizer).status());
  ENTRENAR_ASSIGN_OR_RETURN(const Budget budget, ComputeBudget(m, d.train.rows));
  DryRun plan;
  plan.train_rows = d.train.rows;
  plan.val_rows = d.val.rows;
  plan.test_rows = d.test.rows;
  plan.features = d.features;
  plan.target = d.target;
  plan.task = d.task == Task::kClassification ? "classification" : "regression";
  plan.classes = d.classes;
  for (const auto& p : model->parameters()) {
    (p.requires_grad() ? plan.trainable_parameters : plan.frozen_parameters) += p.numel();
  }
  plan.steps_per_epoch = budget.steps_per_epoch;
  plan.epochs = budget.epochs;
  plan.total_steps = budget.total_steps;
  // float32 weights + gradients + optimizer state (two moments for the Adam family, one for
  // momentum SGD, RMSprop and Adagrad), plus one batch of inputs and the widest activation.
  const std::string& o = m.optimizer.name;
  const std::int64_t states = (o == "adam" || o == "adamw")               ? 2
                              : (o == "sgd" && m.optimizer.momentum == 0) ? 0
                                                                          : 1;
  std::int64_t widest = d.NumFeatures();
  for (const auto& l : m.model.architecture->layers) {
    if (l.linear) widest = std::max(widest, l.linear->out_features);
  }
  plan.estimated_memory_bytes =
      4 * (plan.trainable_parameters * (2 + states) + plan.frozen_parameters +
           m.data.loader.batch_size * (d.NumFeatures() + 2 * widest));
  plan.device = "cpu";
  plan.threads = torch::get_num_threads();
  return plan;
}

Result<TrainSummary> TrainOrThrow(const Manifest& m, const TrainOptions& options, EventSink& sink) {
  ENTRENAR_ASSIGN_OR_RETURN(PreparedData data, PrepareData(m, options.base_dir, options.seed));
  Run run(m, options, sink, std::move(data));
  const PreparedData& d = run.data;
  const auto& arch = *m.model.architecture;
  ENTRENAR_RETURN_IF_ERROR(CheckShapes(arch, d));
  torch::manual_seed(options.seed);
  ENTRENAR_ASSIGN_OR_RETURN(run.model, BuildModel(arch));
  ENTRENAR_RETURN_IF_ERROR(ApplyFreeze(run.model, m.model.freeze));
  ENTRENAR_ASSIGN_OR_RETURN(const std::vector<Group> groups, MakeGroups(run.model, m.optimizer));
  for (const Group& g : groups) run.group_lr.push_back(g.lr);
  run.optimizer = MakeOptimizer(m.optimizer, groups);
  const std::int64_t f = d.NumFeatures();
  run.train_x = ToTensor(d.train.x, d.train.rows, f);
  run.train_y = torch::tensor(d.train.y);
  run.val_x = ToTensor(d.val.x, d.val.rows, f);
  run.val_y = d.val.rows ? torch::tensor(d.val.y) : torch::empty({0});
  run.test_x = ToTensor(d.test.x, d.test.rows, f);
  run.test_y = d.test.rows ? torch::tensor(d.test.y) : torch::empty({0});
  for (const auto& p : run.model->parameters()) run.summary.parameters += p.numel();
  run.Log("data: " + std::to_string(d.train.rows) + " train, " + std::to_string(d.val.rows) +
          " val, " + std::to_string(d.test.rows) + " test rows; " + std::to_string(f) +
          " features; " +
          (run.Classification() ? std::to_string(d.classes.size()) + " classes" : "regression"));
  run.Emit(Event::Kind::kState, {}, "running");
  if (!options.resume_from.empty()) ENTRENAR_RETURN_IF_ERROR(run.Resume(options.resume_from));
  ENTRENAR_RETURN_IF_ERROR(run.Loop());
  // The final checkpoint (a stopped run saved its own where it stopped).
  if (!run.summary.stopped) ENTRENAR_RETURN_IF_ERROR(run.SaveCheckpoint(run.epoch, 0));
  if (!run.best_state.empty()) run.Restore(run.best_state);
  run.summary.test = run.Evaluate(run.test_x, run.test_y, "test_");
  if (!run.summary.test.empty()) run.Emit(Event::Kind::kValidation, run.summary.test, "test");
  ENTRENAR_RETURN_IF_ERROR(run.Save());
  run.summary.steps = run.step;
  run.summary.wall_seconds = std::chrono::duration<double>(Clock::now() - run.start).count();
  run.summary.samples_per_second = run.summary.wall_seconds > 0
                                       ? static_cast<double>(run.samples) / run.summary.wall_seconds
                                       : 0;
  run.Emit(Event::Kind::kState, {}, run.summary.stopped ? "stopped" : "succeeded");
  return run.summary;
}

}  // namespace

std::map<std::string, std::string> Environment() {
  std::map<std::string, std::string> env;
  env["libtorch"] = TORCH_VERSION;
  env["threads"] = std::to_string(torch::get_num_threads());
  env["cuda_available"] = torch::cuda::is_available() ? "true" : "false";
  env["cuda_devices"] = std::to_string(torch::cuda::device_count());
  std::string config = torch::show_config();
  for (const char* blas : {"OpenBLAS", "MKL", "BLIS"}) {
    if (config.find(blas) != std::string::npos) {
      env["blas"] = blas;
      break;
    }
  }
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      env["cpu"] = line.substr(line.find(':') + 2);
      break;
    }
  }
  return env;
}

Result<std::int64_t> CheckpointStep(const std::string& checkpoint_dir) {
  ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(checkpoint_dir + "/state.json"));
  const nlohmann::json state = nlohmann::json::parse(text, nullptr, false);
  if (state.is_discarded() || !state.contains("step") || !state["step"].is_number_integer()) {
    return DataLoss(checkpoint_dir + "/state.json is damaged");
  }
  return state["step"].get<std::int64_t>();
}

Result<DryRun> PlanRun(const Manifest& m, const TrainOptions& options) {
  try {
    return PlanOrThrow(m, options);
  } catch (const c10::Error& e) {
    return Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("planning failed: ") + e.what());
  }
}

Result<TrainSummary> Train(const Manifest& m, const TrainOptions& options, EventSink& sink) {
  try {
    return TrainOrThrow(m, options, sink);
  } catch (const c10::Error& e) {
    return Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("training failed: ") + e.what());
  }
}

}  // namespace entrenar::engine
