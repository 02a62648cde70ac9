#include "validation_watch.h"

namespace entrenar::engine {

std::vector<torch::Tensor> Snapshot(torch::nn::Module& net) {
  std::vector<torch::Tensor> s;
  for (const auto& p : net.parameters()) {
    if (p.requires_grad()) s.push_back(p.detach().clone());
  }
  for (const auto& b : net.buffers()) s.push_back(b.detach().clone());
  return s;
}

void RestoreSnapshot(torch::nn::Module& net, const std::vector<torch::Tensor>& s) {
  torch::NoGradGuard no_grad;
  std::size_t i = 0;
  for (auto& p : net.parameters()) {
    if (p.requires_grad()) p.copy_(s[i++]);
  }
  for (auto& b : net.buffers()) b.copy_(s[i++]);
}

bool Improves(double value, double best, const std::string& mode, double delta) {
  return mode == "max" ? value > best + delta : value < best - delta;
}

std::optional<double> Lookup(const std::map<std::string, double>& v, const std::string& name) {
  if (v.count(name)) return v.at(name);
  if (v.count("val_" + name)) return v.at("val_" + name);
  return std::nullopt;
}

ValidationWatch::Outcome ValidationWatch::Observe(const std::map<std::string, double>& v,
                                                  std::int64_t step, torch::nn::Module& net) {
  Outcome out;
  const std::optional<double> plateau_value = Lookup(v, m_.scheduler.metric);
  if (m_.scheduler.name == "plateau" && plateau_value &&
      plateau_.Observe(m_.scheduler, *plateau_value)) {
    out.plateau = "plateau: " + m_.scheduler.metric +
                  " stopped improving; learning rate scale now " + std::to_string(plateau_.scale);
  }
  const auto& cp = m_.training.checkpoint;
  const std::optional<double> best = Lookup(v, cp.metric);
  if (cp.save_best.value_or(true) && best &&
      (!best_value_ || Improves(*best, *best_value_, cp.mode, 0))) {
    best_value_ = *best;
    best_step_ = step;
    best_metric_ = cp.metric;
    best_ = Snapshot(net);
  }
  const auto& es = m_.training.early_stopping;
  const std::optional<double> watched = Lookup(v, es.metric);
  if (!es.enabled || !watched) return out;
  if (!early_best_ || Improves(*watched, *early_best_, es.mode, es.min_delta)) {
    early_best_ = *watched;
    stale_ = 0;
  } else if (++stale_ >= es.patience) {
    out.stop = "early stopping: " + es.metric + " has not improved for " +
               std::to_string(es.patience) + " validations (step " + std::to_string(step) + ")";
  }
  return out;
}

void ValidationWatch::Report(TrainSummary& summary) const {
  summary.best_metric = best_metric_;
  summary.best_value = best_value_;
  summary.best_step = best_step_;
}

void ValidationWatch::Save(run::CheckpointState& c) const {
  c.stale_validations = stale_;
  c.early_best = early_best_;
  c.best_metric = best_metric_;
  c.best_value = best_value_;
  c.best_step = best_step_;
  c.plateau_scale = plateau_.scale;
  c.plateau_bad = plateau_.bad;
  c.plateau_best = plateau_.best;
}

void ValidationWatch::Restore(const run::CheckpointState& c) {
  stale_ = c.stale_validations;
  early_best_ = c.early_best;
  best_metric_ = c.best_metric;
  best_value_ = c.best_value;
  best_step_ = c.best_step;
  plateau_.scale = c.plateau_scale;
  plateau_.bad = c.plateau_bad;
  plateau_.best = c.plateau_best;
}

}  // namespace entrenar::engine
