#include "callback_runner.h"

#include <cmath>
#include <fstream>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"
#include "entrenar/expr/monitor.h"
#include "entrenar/run/layout.h"

#include "validation_watch.h"

namespace entrenar::engine {

using nlohmann::ordered_json;

// The 20-bin histogram of gradient `g`, as gradients.jsonl holds it.
static ordered_json Histogram(const torch::Tensor& g) {
  const double lo = g.min().item<double>(), hi = g.max().item<double>();
  const torch::Tensor counts = torch::histc(g, 20, lo, hi).to(torch::kLong).contiguous();
  return {{"min", lo},
          {"max", hi},
          {"counts", std::vector<std::int64_t>(counts.data_ptr<std::int64_t>(),
                                               counts.data_ptr<std::int64_t>() + counts.numel())}};
}

void CallbackRunner::GradientValues(std::int64_t step, bool last_of_epoch, torch::nn::Module& net,
                                    std::map<std::string, double>* values) {
  for (const manifest::CallbackConfig& cb : m_.callbacks) {
    if (!enabled_ || cb.type != "gradient_monitor" || !StepDue(cb, step, last_of_epoch)) continue;
    torch::NoGradGuard no_grad;
    double total = 0;
    ordered_json histograms = ordered_json::object();
    for (const auto& p : net.named_parameters()) {
      if (!p.value().grad().defined()) continue;
      const torch::Tensor g = p.value().grad().detach().to(torch::kCPU, torch::kFloat);
      const double norm = g.norm().item<double>();
      total += norm * norm;
      if (cb.config.per_layer.value_or(false)) (*values)["grad_norm/" + p.key()] = norm;
      if (cb.config.log_histogram.value_or(false)) histograms[p.key()] = Histogram(g);
    }
    (*values)["grad_norm"] = std::sqrt(total);
    if (!histograms.empty()) {
      std::ofstream(run::Layout(options_.run_dir).Gradients(), std::ios::app)
          << ordered_json{{"step", step}, {"histograms", histograms}}.dump() << "\n";
    }
  }
}

void CallbackRunner::LearningRateValues(std::int64_t step, bool last_of_epoch,
                                        torch::optim::Optimizer& optimizer,
                                        std::map<std::string, double>* values) {
  for (const manifest::CallbackConfig& cb : m_.callbacks) {
    if (!enabled_ || cb.type != "lr_monitor" || !StepDue(cb, step, last_of_epoch)) continue;
    auto& groups = optimizer.param_groups();
    for (std::size_t g = 0; g < groups.size(); ++g) {
      (*values)["learning_rate_group_" + std::to_string(g)] = groups[g].options().get_lr();
    }
  }
}

// Step-bound callbacks run at their step, or with epoch_end at the epoch's last step.
bool CallbackRunner::StepDue(const manifest::CallbackConfig& cb, std::int64_t step,
                             bool last_of_epoch) const {
  return CallbackDue(cb, Trigger::kStep, step) ||
         (last_of_epoch && CallbackDue(cb, Trigger::kEpochEnd, at_.epoch));
}

void CallbackRunner::Run(Trigger t, std::int64_t count, TaskModel& task,
                         const std::map<std::string, double>& val) {
  for (std::size_t i = 0; i < m_.callbacks.size(); ++i) {
    const manifest::CallbackConfig& cb = m_.callbacks[i];
    if (!enabled_ || !CallbackDue(cb, t, count)) continue;
    if (cb.type == "checkpoint" && t != Trigger::kTrainEnd) Checkpoint(i, cb, val);
    if (cb.type == "sample_predictions") SamplePredictions(cb, t, task);
    if (cb.type == "custom") Custom(i, cb, t, val);
  }
}

// Asks for a checkpoint at the next step boundary; with save_best only when `metric` (from the
// last validation) improved on the best this callback saw.
void CallbackRunner::Checkpoint(std::size_t i, const manifest::CallbackConfig& cb,
                                const std::map<std::string, double>& val) {
  if (!cb.config.save_best.value_or(false)) {
    checkpoint_requested_ = true;
    return;
  }
  const std::string metric = cb.config.metric.value_or(m_.training.checkpoint.metric);
  const std::string name = val.count(metric) ? metric : "val_" + metric;
  if (!val.count(name)) return;
  const double value = val.at(name);
  const std::string mode = cb.config.mode.value_or(expr::LowerIsBetter(name) ? "min" : "max");
  if (best_.count(i) && !Improves(value, best_[i], mode, 0)) return;
  best_[i] = value;
  checkpoint_requested_ = true;
  out_.Log("callbacks[" + std::to_string(i) + "]: " + name + " improved to " +
           std::to_string(value) + ", checkpointing");
}

// One line of samples.jsonl: the step, the trigger, the split and its samples (text that ends
// inside a UTF-8 character, as a generation may, gets replacement characters).
void CallbackRunner::SamplePredictions(const manifest::CallbackConfig& cb, Trigger t,
                                       TaskModel& task) {
  const Result<Samples> s = task.Sample(cb, options_.seed + static_cast<std::uint64_t>(at_.step));
  if (!s.ok()) return out_.Log("sample predictions: " + s.status().message());
  if (s->rows.empty()) return;
  std::ofstream(run::Layout(options_.run_dir).Samples(), std::ios::app)
      << ordered_json{{"step", at_.step},
                      {"epoch", at_.epoch},
                      {"trigger", TriggerName(t)},
                      {"split", s->val ? "val" : "test"},
                      {"samples", s->rows}}
             .dump(-1, ' ', false, ordered_json::error_handler_t::replace)
      << "\n";
  const bool sheet = !s->sheet.empty() &&
                     WriteFileAtomic(run::Layout(options_.run_dir).SamplesSheet(), s->sheet).ok();
  out_.Log("sample predictions at step " + std::to_string(at_.step) + ": " + s->what +
           (sheet ? " (samples.jsonl, samples.svg)" : " (samples.jsonl)"));
}

// Runs a custom callback's command with the run's state; a failure is an alert.
void CallbackRunner::Custom(std::size_t i, const manifest::CallbackConfig& cb, Trigger t,
                            const std::map<std::string, double>& val) {
  const std::string name = "callbacks[" + std::to_string(i) + "]";
  auto alert = [&](const std::string& why) {
    out_.Warn(name, name + " (" + Join(cb.command.value_or(std::vector<std::string>{}), " ") +
                        "): " + why);
  };
  if (!options_.allow_custom_callbacks) return alert("custom callbacks are disabled here");
  const ordered_json state = {
      {"callback", i},      {"trigger", TriggerName(t)},   {"step", at_.step},
      {"epoch", at_.epoch}, {"run_dir", options_.run_dir}, {"metrics", last_values_},
      {"validation", val}};
  const std::map<std::string, std::string> env = {{"ENTRENAR_RUN_DIR", options_.run_dir},
                                                  {"ENTRENAR_STEP", std::to_string(at_.step)},
                                                  {"ENTRENAR_EPOCH", std::to_string(at_.epoch)},
                                                  {"ENTRENAR_TRIGGER", std::string(TriggerName(t))},
                                                  {"ENTRENAR_CALLBACK", std::to_string(i)}};
  const auto timeout = std::chrono::milliseconds(
      static_cast<std::int64_t>(1000 * (cb.timeout ? cb.timeout->seconds : 60.0)));
  const CommandResult r =
      RunCommand(*cb.command, state.dump() + "\n", env, timeout,
                 run::Layout(options_.run_dir).CallbacksLog(), options_.base_dir);
  if (!r.error.empty()) return alert(r.error);
  if (r.timed_out) return alert("timed out after " + (cb.timeout ? cb.timeout->text : "60s"));
  if (r.exit_code != 0) {
    alert(r.exit_code < 0 ? "killed by a signal"
                          : "exited with " + std::to_string(r.exit_code) +
                                " (its output is in logs/callbacks.log)");
  }
}

}  // namespace entrenar::engine
