// --dry-run: what a run would train, on which data, with how many steps and about how much
// memory, without training.
#include "planning.h"

#include <functional>
#include <numeric>

#include "entrenar/plan/budget.h"
#include "entrenar/plan/support.h"

#include "lm.h"
#include "precision.h"
#include "task_model.h"

namespace entrenar::engine {
namespace {

using manifest::Manifest;
using plan::Budget;
using plan::ComputeBudget;

// Trainable weights with gradients and two Adam moments in the parameter dtype; frozen ones
// once (4-bit projections at their stored size); activations of one batch roughly
// 16 · hidden values per token and layer, plus the logits.
std::int64_t LmMemory(const Manifest& m, const LmModel& lm, const TextData& d,
                      const Precision& prec, std::int64_t trainable) {
  const LlamaConfig& c = lm.model->config();
  const auto bytes = static_cast<std::int64_t>(torch::elementSize(prec.param_dtype));
  std::int64_t frozen_bytes = 0;
  for (const auto& p : lm.model->parameters()) {
    if (!p.requires_grad()) frozen_bytes += p.numel() * bytes;
  }
  if (m.lora.enabled && m.lora.quantize_base)
    frozen_bytes += static_cast<std::int64_t>(lm.model->ProjectionBytes());
  const std::int64_t batch_tokens = m.data.loader.batch_size * d.max_length;
  return trainable * bytes * 4 + frozen_bytes +
         batch_tokens * (16 * c.hidden_size * c.num_hidden_layers + 2 * c.vocab_size) * bytes;
}

// --dry-run of a transformer: sequences, trainable (adapter) and total parameters, memory.
Result<DryRun> PlanText(const Manifest& m, const TrainOptions& options) {
  ENTRENAR_ASSIGN_OR_RETURN(const Precision prec, ResolvePrecision(m));
  ENTRENAR_ASSIGN_OR_RETURN(const TextData d, PrepareText(m, options.base_dir, options.seed));
  ENTRENAR_ASSIGN_OR_RETURN(const LmModel lm, BuildLm(m, d, options.base_dir));
  const auto rows = static_cast<std::int64_t>(d.train.size());
  ENTRENAR_ASSIGN_OR_RETURN(const Budget budget, ComputeBudget(m, rows));
  DryRun plan;
  plan.train_rows = rows;
  plan.val_rows = static_cast<std::int64_t>(d.val.size());
  plan.test_rows = static_cast<std::int64_t>(d.test.size());
  plan.task =
      d.instruction ? "causal language model, loss on the answers" : "causal language model";
  for (const auto& p : lm.model->parameters()) {
    if (p.requires_grad()) plan.trainable_parameters += p.numel();
  }
  // Adapters are new parameters on top of the base model's.
  std::int64_t adapters = 0;
  for (const auto& p : lm.model->named_parameters()) {
    if (p.key().find(".lora_") != std::string::npos) adapters += p.value().numel();
  }
  plan.frozen_parameters = lm.total_parameters + adapters - plan.trainable_parameters;
  plan.steps_per_epoch = budget.steps_per_epoch;
  plan.epochs = budget.epochs;
  plan.total_steps = budget.total_steps;
  const LlamaConfig& c = lm.model->config();
  plan.notes.push_back("model:        llama, " + std::to_string(c.num_hidden_layers) +
                       " layers, hidden " + std::to_string(c.hidden_size) + ", vocab " +
                       std::to_string(c.vocab_size) +
                       (lm.base.empty() ? ", new weights" : ", from " + lm.base));
  if (!lm.lora_modules.empty()) {
    plan.notes.push_back("lora:         rank " + std::to_string(lm.lora.rank) + " on " +
                         std::to_string(lm.lora_modules.size()) + " projections" +
                         (m.lora.quantize_base ? ", base " + m.lora.quant_type + " 4-bit" : ""));
  }
  plan.estimated_memory_bytes = LmMemory(m, lm, d, prec, plan.trainable_parameters);
  plan.device = DeviceName(prec.device);
  plan.threads = torch::get_num_threads();
  return plan;
}

Result<DryRun> PlanTabular(const Manifest& m, const TrainOptions& options) {
  ENTRENAR_ASSIGN_OR_RETURN(const Precision prec, ResolvePrecision(m));
  ENTRENAR_ASSIGN_OR_RETURN(PreparedData d, PrepareData(m, options.base_dir, options.seed));
  ENTRENAR_ASSIGN_OR_RETURN(const TabularParts parts, BuildTabular(m, d, options.base_dir));
  ENTRENAR_ASSIGN_OR_RETURN(const Budget budget, ComputeBudget(m, d.train.rows));
  DryRun plan;
  plan.train_rows = d.train.rows;
  plan.val_rows = d.val.rows;
  plan.test_rows = d.test.rows;
  plan.features = d.features;
  plan.target = d.target;
  plan.task = d.task == Task::kClassification ? "classification" : "regression";
  plan.classes = d.classes;
  for (const auto& p : parts.model->parameters()) {
    (p.requires_grad() ? plan.trainable_parameters : plan.frozen_parameters) += p.numel();
  }
  plan.steps_per_epoch = budget.steps_per_epoch;
  plan.epochs = budget.epochs;
  plan.total_steps = budget.total_steps;
  // Weights + gradients + optimizer state (two moments for the Adam family and LAMB, one for
  // momentum SGD, RMSprop and Adagrad), plus one batch of inputs and the two widest activations.
  const std::string& o = m.optimizer.name;
  const std::int64_t states = (o == "adam" || o == "adamw" || o == "lamb") ? 2
                              : (o == "sgd" && m.optimizer.momentum == 0)  ? 0
                                                                           : 1;
  std::int64_t widest = d.InputSize();
  for (const Shape& s : parts.shapes) {
    widest =
        std::max(widest, std::accumulate(s.begin(), s.end(), std::int64_t{1}, std::multiplies<>()));
  }
  const std::int64_t bytes = static_cast<std::int64_t>(torch::elementSize(prec.param_dtype));
  plan.estimated_memory_bytes =
      bytes * (plan.trainable_parameters * (2 + states) + plan.frozen_parameters +
               m.data.loader.batch_size * (d.InputSize() + 2 * widest));
  plan.device = DeviceName(prec.device);
  plan.threads = torch::get_num_threads();
  return plan;
}

}  // namespace

Result<DryRun> PlanDryRun(const Manifest& m, const TrainOptions& options) {
  ENTRENAR_ASSIGN_OR_RETURN(DryRun plan,
                            plan::FindTokenize(m) ? PlanText(m, options) : PlanTabular(m, options));
  if (const std::int64_t ranks = plan::WorldSize(m); ranks > 1) {
    plan.notes.push_back(
        "ranks:        " + std::to_string(ranks) + " (ddp), " +
        std::to_string(plan::RankRows(plan.train_rows, ranks)) + " training rows and batches of " +
        std::to_string(m.data.loader.batch_size) + " each: a global batch of " +
        std::to_string(m.data.loader.batch_size * ranks) + "; the memory below is each rank's");
  }
  return plan;
}

}  // namespace entrenar::engine
