// The training loop on LibTorch: a run's steps, validations, checkpoints and how it ends.
// What differs between a tabular and a language-model run is the TaskModel's (task_model.h);
// checkpoint files are checkpoint.cc's, callbacks callback_runner.cc's, best weights and early
// stopping validation_watch.cc's, quantization quantize_run.cc's, cross-validation
// cross_validation.cc's and the dry run planning.cc's. LibTorch types stay in the engine.
#include "entrenar/engine/trainer.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <utility>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "entrenar/base/files.h"
#include "entrenar/base/sha256.h"
#include "entrenar/engine/callbacks.h"
#include "entrenar/engine/dataset.h"
#include "entrenar/engine/loss_scale.h"
#include "entrenar/engine/schedule.h"
#include "entrenar/engine/text_data.h"
#include "entrenar/expr/value.h"
#include "entrenar/manifest/load.h"
#include "entrenar/plan/budget.h"
#include "entrenar/plan/support.h"
#include "entrenar/run/checkpoint_state.h"
#include "entrenar/run/layout.h"

#include "callback_runner.h"
#include "checkpoint.h"
#include "cross_validation.h"
#include "data_parallel.h"
#include "loader.h"
#include "model.h"
#include "monitor_sink.h"
#include "planning.h"
#include "precision.h"
#include "quantize_run.h"
#include "run_context.h"
#include "task_model.h"
#include "validation_watch.h"

namespace entrenar::engine {
namespace {

using manifest::Manifest;
using plan::Budget;

// One run of the loop: the run itself, or one cross-validation fold (no checkpoints, no
// callbacks, no saved model). Used by the training thread only.
class Run {
 public:
  // `dp`: this process's rank of a data-parallel run (null: the only one); rank 0 alone runs
  // callbacks and writes checkpoints and the model.
  Run(const Manifest& manifest, const TrainOptions& opts, EventSink& sink, bool fold,
      std::unique_ptr<DataParallel> ranks = nullptr)
      : m(manifest),
        options(opts),
        out(sink, at),
        watch(manifest),
        callbacks(manifest, opts, out, at, !fold && (!ranks || ranks->leader())),
        fold_run(fold),
        dp(std::move(ranks)) {}

  // Precision, loss scaling and seeding, before the model is made.
  Status Prepare() {
    ENTRENAR_ASSIGN_OR_RETURN(prec, ResolvePrecision(m));
    if (m.training.mixed_precision.loss_scale.number) {
      scaler = LossScaler::Fixed(*m.training.mixed_precision.loss_scale.number);
    }
    if (m.training.deterministic && prec.device.is_cuda()) {
      // cuBLAS is deterministic only with a fixed workspace; read when its handle is made.
      setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 0);
      at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
    }
    at::globalContext().setDeterministicCuDNN(m.training.deterministic);
    at::globalContext().setBenchmarkCuDNN(m.training.benchmark && !m.training.deterministic);
    torch::manual_seed(options.seed);
    if (dp) ENTRENAR_RETURN_IF_ERROR(PlaceRank());
    return OkStatus();
  }

  // A rank's threads and device: a GPU rank trains on cuda:local_rank of the GPUs it sees.
  Status PlaceRank() {
    const RankOptions& r = *options.ranks;
    if (r.threads > 0) torch::set_num_threads(r.threads);
    if (!prec.device.is_cuda()) return OkStatus();
    if (m.model.device.rfind("cuda:", 0) == 0) {
      return InvalidArgument("model.device: `" + m.model.device +
                             "` names one GPU, but each rank of a data-parallel run trains on "
                             "its own (cuda:LOCAL_RANK); use `cuda` or `auto`");
    }
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (r.local_rank >= count) {
      return InvalidArgument("training.distributed.world_size: local rank " +
                             std::to_string(r.local_rank) + " has no GPU: this machine shows " +
                             std::to_string(count) + " (CUDA_VISIBLE_DEVICES)");
    }
    prec.device = torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(r.local_rank));
    return OkStatus();
  }

  // Every rank trains the same manifest on the same rows from rank 0's initial weights, and
  // all-reduces its gradients as backward makes them.
  Status JoinRanks() {
    const Splits& s = task->splits();
    // What rank 0 alone does (outputs, tracking) may resolve a template such as `{{ timestamp }}`
    // at another second on each rank: it is not part of what must agree.
    Manifest trained = m;
    trained.output = manifest::OutputConfig{};
    trained.monitoring.tracking = manifest::TrackingConfig{};
    std::string fingerprint = Sha256Hex(manifest::ToYaml(trained));
    for (const torch::Tensor* t : {&s.train_x, &s.train_y, &s.val_x, &s.val_y}) {
      const torch::Tensor c = t->contiguous().cpu();
      fingerprint += Sha256Hex(std::string_view(static_cast<const char*>(c.data_ptr()),
                                                static_cast<std::size_t>(c.nbytes())));
    }
    ENTRENAR_RETURN_IF_ERROR(dp->Agree(fingerprint, "manifest or data"));
    dp->Broadcast(task->net());
    dp->Attach(task->net(), m.training.distributed->find_unused_parameters);
    out.Log("rank " + std::to_string(dp->rank()) + " of " + std::to_string(dp->size()) +
            ": gradients are averaged over " + std::to_string(dp->size()) +
            " ranks (Gloo all-reduce); rank r trains on rows r, r+" + std::to_string(dp->size()) +
            ", r+" + std::to_string(2 * dp->size()) + ", ... of each epoch's order");
    return OkStatus();
  }

  // Takes the model, on its device, and makes the optimizer for it.
  Status Place(std::unique_ptr<TaskModel> model) {
    task = std::move(model);
    if (dp) ENTRENAR_RETURN_IF_ERROR(JoinRanks());
    // Optimizer groups hold the parameters themselves, so they are made after the move.
    ENTRENAR_ASSIGN_OR_RETURN(const std::vector<Group> groups,
                              MakeGroups(task->net(), task->ParameterPrefix(), m.optimizer));
    for (const Group& g : groups) group_lr.push_back(g.lr);
    optimizer = MakeOptimizer(m.optimizer, groups);
    summary.parameters = task->Parameters();
    summary.device = DeviceName(prec.device);
    summary.classes = task->Classes();
    summary.skipped_images = task->Skipped();
    return OkStatus();
  }

  Result<TrainSummary> Train() {
    if (m.data.loader.pin_memory && !prec.device.is_cuda()) {
      out.Log("data.loader.pin_memory has no effect on the CPU");
    }
    if (!fold_run) NoteDeterminism();
    if (!fold_run && m.training.distributed && !dp) {
      out.Log(
          "training.distributed has no effect with world_size 1: one process trains (set "
          "world_size, or train with --devices, to train data-parallel)");
    }
    if (!fold_run) out.Emit(Event::Kind::kState, {}, "running");
    if (!options.resume_from.empty() && !fold_run) {
      ENTRENAR_RETURN_IF_ERROR(Resume(options.resume_from));
    }
    if (m.quantize.enabled) ENTRENAR_RETURN_IF_ERROR(CheckQuantizable(m, *task));
    ENTRENAR_RETURN_IF_ERROR(Loop());
    if (summary.end_reason.empty()) End("budget", BudgetReached());
    callbacks.Run(Trigger::kTrainEnd, 1, *task, summary.val);
    watch.Report(summary);
    if (fold_run) return FinishFold();
    if (dp && !dp->leader()) return summary;  // rank 0 writes the model and its test metrics
    return Finish();
  }

  // training.deterministic and benchmark choose GPU algorithms: said once where they do nothing.
  void NoteDeterminism() {
    const bool cuda = prec.device.is_cuda();
    if (m.training.deterministic && !cuda) {
      out.Log(
          "training.deterministic has no effect on the CPU: its kernels give the same "
          "results run after run already (with the same number of threads)");
    }
    if (m.training.deterministic && cuda) {
      out.Log(
          "training.deterministic: cuDNN and CUDA use deterministic algorithms only (an "
          "operation that has none warns)");
    }
    if (m.training.benchmark && !cuda) {
      out.Log(
          "training.benchmark has no effect on the CPU: it lets cuDNN time its algorithms "
          "on a GPU");
    } else if (m.training.benchmark && m.training.deterministic) {
      out.Log(
          "training.benchmark is off: training.deterministic rules out cuDNN's timing of "
          "algorithms");
    }
  }

  // The validation and test metrics of the model as it stands (evaluation without training).
  std::map<std::string, double> EvaluateSplits() {
    const Splits& s = task->splits();
    std::map<std::string, double> v = task->Evaluate(s.val_x, s.val_y, "val_", nullptr);
    for (const auto& [k, x] : task->Evaluate(s.test_x, s.test_y, "test_", nullptr)) v[k] = x;
    return v;
  }

  const Manifest& m;
  const TrainOptions& options;
  Progress at;
  Reporter out;
  Precision prec;

 private:
  // ---- checkpoints ----------------------------------------------------------------------------

  // Writes checkpoints/step-N; `next_epoch`/`next_batch` say where training continues.
  Status SaveCheckpoint(std::int64_t next_epoch, std::int64_t next_batch) {
    if (fold_run || (dp && !dp->leader())) return OkStatus();
    out.Flush();  // the rows of the steps this checkpoint holds outlive a kill after it
    const Result<std::string> dir =
        WriteCheckpoint(options.run_dir, m.training.checkpoint.keep_last, *task,
                        watch.best_weights(), *optimizer, CheckpointNow(next_epoch, next_batch));
    if (!dir.ok()) {
      // A full disk: say what is safe and stop, rather than train on with nothing to resume.
      return Status(dir.status().code(),
                    dir.status().message() + "; checkpoint " +
                        run::Layout::CheckpointName(at.step) + " was not written" +
                        (last_checkpoint.empty()
                             ? ""
                             : " (" + last_checkpoint + " is intact: --resume continues from it)") +
                        "; the run stops here without writing its final model");
    }
    last_checkpoint = *dir;
    out.Emit(Event::Kind::kCheckpoint, {}, *dir);
    return OkStatus();
  }

  // Where training stands, for a checkpoint written now.
  run::CheckpointState CheckpointNow(std::int64_t next_epoch, std::int64_t next_batch) const {
    run::CheckpointState c;
    c.step = at.step;
    c.next_epoch = next_epoch;
    c.next_batch = next_batch;
    c.samples = at.samples;
    c.seed = options.seed;
    c.world_size = dp ? dp->size() : 1;
    c.total_steps = m.training.duration ? 0 : at.total_steps;
    watch.Save(c);
    if (prec.scale_loss) {
      c.loss_scale = run::CheckpointState::LossScale{scaler.scale(), scaler.clean_steps(),
                                                     scaler.skipped_steps()};
    }
    return c;
  }

  // Continues from checkpoint `dir` exactly. A damaged or partial checkpoint is kDataLoss.
  Status Resume(const std::string& dir) {
    ENTRENAR_ASSIGN_OR_RETURN(ReadBack back, ReadCheckpoint(dir, *task, *optimizer));
    const run::CheckpointState& c = back.state;
    const std::int64_t ranks = dp ? dp->size() : 1;
    if (c.world_size != ranks) {
      // A step is each rank's batch: another number of ranks would count other steps (the
      // budget, the schedule) and deal the epoch otherwise.
      return InvalidArgument(
          "--resume: " + dir + " was written by a run of " + std::to_string(c.world_size) +
          " rank(s), and this run has " + std::to_string(ranks) +
          ": a step is a batch of every rank, so it continues only with as "
          "many; resume with training.distributed.world_size: " +
          std::to_string(c.world_size) +
          " (or start a new run from its weights, model.source: " + dir + "/model.safetensors)");
    }
    watch.set_best_weights(std::move(back.best));
    at.step = c.step;
    at.start_epoch = at.continue_epoch = c.next_epoch;
    at.start_batch = at.continue_batch = c.next_batch;
    at.samples = c.samples;
    at.saved_total_steps = c.total_steps;
    watch.Restore(c);
    if (c.loss_scale)
      scaler.Restore(c.loss_scale->scale, c.loss_scale->clean_steps, c.loss_scale->skipped_steps);
    out.Log("resumed from " + dir + " at step " + std::to_string(at.step));
    return OkStatus();
  }

  // ---- how the run ends -----------------------------------------------------------------------

  std::string BudgetReached() const {
    const std::string steps = std::to_string(at.total_steps) + " steps";
    if (at.step < at.total_steps) {
      return "training ended at step " + std::to_string(at.step) + " of " + steps;
    }
    if (m.training.max_steps) return "the budget of " + steps + " was reached";
    return "the budget of " + std::to_string(manifest::EffectiveEpochs(m.training)) + " epochs (" +
           steps + ") was reached";
  }

  // A resumed run whose budget differs from its checkpoint's continues to the new budget; the
  // schedule is laid over the new length from the step it resumes at (docs/training.md).
  void NoteBudgetChange(std::int64_t saved) {
    const std::int64_t step = at.step, total = at.total_steps;
    const double then = LearningRateAt(m.scheduler, m.optimizer.lr, step, saved);
    const double now = LearningRateAt(m.scheduler, m.optimizer.lr, step, total);
    out.Log("the budget changed since the checkpoint: " + std::to_string(saved) + " steps then, " +
            std::to_string(total) + " now; training continues to step " + std::to_string(total) +
            " with the " + m.scheduler.name + " schedule laid over " + std::to_string(total) +
            " steps (learning rate at step " + std::to_string(step) + ": " +
            expr::FormatDouble(now) + ", was " + expr::FormatDouble(then) + ")");
  }

  // Records (and logs) why the run ends; the first reason stands.
  void End(const std::string& reason, const std::string& message) {
    out.Log(message);
    if (!summary.end_reason.empty()) return;
    summary.end_reason = reason;
    summary.end_message = message;
  }

  // output.model.save_optimizer / save_scheduler: the state at the end of training beside the
  // model (the final checkpoint holds the same state, which --resume continues).
  Status SaveTrainingState() {
    const run::Layout layout(options.run_dir);
    if (m.output.model.save_optimizer) {
      ENTRENAR_RETURN_IF_ERROR(WriteOptimizerState(*optimizer, layout.Optimizer()));
      summary.model_files.push_back("optimizer.pt");
    }
    if (!m.output.model.save_scheduler) return OkStatus();
    const std::int64_t total = m.training.duration ? at.step : at.total_steps;
    nlohmann::ordered_json s = {
        {"name", m.scheduler.name},
        {"step", at.step},
        {"total_steps", total},
        {"base_lr", m.optimizer.lr},
        {"learning_rate", LearningRateAt(m.scheduler, m.optimizer.lr, at.step, total)},
        {"lr_scale", watch.lr_scale()}};
    ENTRENAR_RETURN_IF_ERROR(WriteFileAtomic(layout.Scheduler(), s.dump(2) + "\n"));
    summary.model_files.push_back("scheduler.json");
    return OkStatus();
  }

  // A fold reports the validation of its best weights.
  TrainSummary FinishFold() {
    if (!watch.best_weights().empty()) {
      RestoreSnapshot(task->net(), watch.best_weights());
      const Splits& s = task->splits();
      summary.val = task->Evaluate(s.val_x, s.val_y, "val_", nullptr);
    }
    return summary;
  }

  // The final checkpoint (a stopped run saved its own where it stopped), the best weights,
  // quantization, the test split and the saved model.
  Result<TrainSummary> Finish() {
    if (!summary.stopped)
      ENTRENAR_RETURN_IF_ERROR(SaveCheckpoint(at.continue_epoch, at.continue_batch));
    if (!watch.best_weights().empty()) RestoreSnapshot(task->net(), watch.best_weights());
    if (m.quantize.enabled) ENTRENAR_RETURN_IF_ERROR(QuantizeTrained(m, *task, prec, summary, out));
    const Splits& s = task->splits();
    summary.test = task->Evaluate(s.test_x, s.test_y, "test_", &summary.test_confusion);
    if (!summary.test.empty()) out.Emit(Event::Kind::kValidation, summary.test, "test");
    Result<std::vector<std::string>> saved = task->Save(options.run_dir);
    if (!saved.ok()) {
      return Status(
          saved.status().code(),
          "the final model was not written whole: " + saved.status().message() +
              (last_checkpoint.empty() ? ""
                                       : " (" + last_checkpoint + " holds the trained state)"));
    }
    summary.model_files = std::move(saved).value();
    ENTRENAR_RETURN_IF_ERROR(SaveTrainingState());
    summary.steps = at.step;
    summary.wall_seconds = at.Seconds();
    summary.samples_per_second =
        summary.wall_seconds > 0 ? static_cast<double>(at.samples) / summary.wall_seconds : 0;
    out.Emit(Event::Kind::kState, {}, summary.stopped ? "stopped" : "succeeded");
    return summary;
  }

  // ---- validation -----------------------------------------------------------------------------

  // Validation, its callbacks, best weights and early stopping. Returns true to stop training.
  bool Validate() {
    const Splits& s = task->splits();
    if (s.val_x.size(0) == 0) return false;
    std::map<std::string, double> v;
    if (dp) dp->BroadcastBuffers(task->net());  // every rank validates rank 0's model
    {
      QatScope qat(m, *task);  // a QAT run is validated as the quantized model it trains
      v = task->Evaluate(s.val_x, s.val_y, "val_", &summary.val_confusion);
    }
    summary.val = v;
    out.Emit(Event::Kind::kValidation, v);
    callbacks.Run(Trigger::kValidationEnd, ++validations, *task, summary.val);
    const ValidationWatch::Outcome o = watch.Observe(v, at.step, task->net());
    if (!o.plateau.empty()) out.Log(o.plateau);
    bool stop = !o.stop.empty();
    // Every rank stops with rank 0 (their metrics are the same; rank 0's decision is the one).
    if (dp) stop = dp->Sum({dp->leader() && stop ? 1.0 : 0.0})[0] > 0;
    if (!stop) return false;
    End("early_stopping", o.stop.empty() ? "early stopping on rank 0" : o.stop);
    summary.early_stopped = true;
    return true;
  }

  // ---- steps ----------------------------------------------------------------------------------

  LoaderOptions MakeLoaderOptions() const {
    LoaderOptions o;
    o.batch_size = m.data.loader.batch_size;
    o.num_workers = m.data.loader.num_workers;
    o.prefetch_factor = m.data.loader.prefetch_factor;
    o.pin_memory = m.data.loader.pin_memory && prec.device.is_cuda();
    o.device = prec.device;
    return o;
  }

  // The rows of one epoch in the order the loader deals them: shuffled with the loader's seed
  // (data.loader.seed, else the run's) + epoch (SPEC 15.1), so a resumed run sees the same order.
  std::vector<std::int64_t> EpochOrder(std::int64_t n) const {
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    if (m.data.loader.shuffle) {
      const std::uint64_t seed =
          m.data.loader.seed ? static_cast<std::uint64_t>(*m.data.loader.seed) : options.seed;
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(at.epoch));
      for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
    }
    return order;
  }

  // The micro-batches of one optimizer step (gradient accumulation).
  struct Window {
    std::int64_t size = 1;  // micro-batches in it (fewer at an epoch's end)
    std::int64_t micro = 0;
    double loss = 0;
    std::int64_t samples = 0;
    std::int64_t tokens = 0;
    std::chrono::steady_clock::time_point started;  // its first batch was asked for
  };

  // Forward and backward of one micro-batch; its gradients add to the window's.
  void MicroStep(const torch::Tensor& xb, const torch::Tensor& yb, Window* w) {
    // A window starts from rank 0's buffers (batch norm's statistics), as DDP's forward does.
    if (dp && w->micro == 0) dp->BroadcastBuffers(task->net());
    torch::Tensor loss;
    {
      QatScope qat(m, *task);
      {
        AutocastScope autocast(prec);
        loss = task->TrainLoss(xb, yb);
      }
      const double factor = (prec.scale_loss ? scaler.scale() : 1.0) / static_cast<double>(w->size);
      // The window's last backward all-reduces the gradients of the whole window.
      const bool sync = w->micro + 1 == w->size;
      if (dp) dp->SetSync(sync);
      if (factor == 1.0) {
        loss.backward();
      } else {
        (loss * factor).backward();
      }
      if (dp && sync) dp->FinishGradients();
    }
    w->loss += loss.item<double>();
    w->samples += xb.size(0);
    if (task->CountsTokens()) w->tokens += task->Tokens(xb);
    ++w->micro;
  }

  // Divides the gradients by the loss scale and updates the scaler. Returns false (skip the
  // step) when a gradient overflowed.
  bool UnscaleGradients() {
    const double inverse = 1.0 / scaler.scale();
    bool overflow = false;
    for (auto& p : task->net().parameters()) {
      if (!p.grad().defined()) continue;
      p.mutable_grad().mul_(inverse);
      overflow = overflow || !torch::isfinite(p.grad()).all().item<bool>();
    }
    if (scaler.Update(overflow)) return true;
    out.Log("step " + std::to_string(at.step + 1) +
            " skipped: a gradient overflowed float16; loss scale now " +
            std::to_string(scaler.scale()));
    return false;
  }

  // Clips the gradients; returns their norm before clipping (0 without clip_norm).
  double ClipGradients() {
    const auto& g = m.training.gradient;
    if (g.clip_value) torch::nn::utils::clip_grad_value_(task->net().parameters(), *g.clip_value);
    if (!g.clip_norm) return 0;
    return torch::nn::utils::clip_grad_norm_(task->net().parameters(), *g.clip_norm);
  }

  // Sets each group's learning rate for this step; returns the base rate's.
  double SetLearningRates() {
    const double scale = watch.lr_scale();
    for (std::size_t g = 0; g < group_lr.size(); ++g) {
      optimizer->param_groups()[g].options().set_lr(
          LearningRateAt(m.scheduler, group_lr[g], at.step, at.total_steps) * scale);
    }
    return LearningRateAt(m.scheduler, m.optimizer.lr, at.step, at.total_steps) * scale;
  }

  // The metrics of the step just taken.
  std::map<std::string, double> StepMetrics(const Window& w, double lr, double grad_norm) const {
    const double secs = at.Seconds();
    std::map<std::string, double> values = {
        {"train_loss", w.loss / static_cast<double>(w.size)},
        {"learning_rate", lr},
        {"samples_per_second", secs > 0 ? static_cast<double>(at.samples) / secs : 0},
        {"total_steps", m.training.duration ? 0.0 : static_cast<double>(at.total_steps)}};
    if (m.training.duration) {  // for the live line: elapsed and remaining time, not steps
      values["elapsed_seconds"] = secs;
      values["time_budget_seconds"] = m.training.duration->seconds;
    }
    // The step's own work (data, forward, backward, optimizer), for the quality score's
    // efficiency: validation, checkpoints and callbacks between steps are not in it.
    const double work =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - w.started).count();
    values["step_samples_per_second"] = work > 0 ? static_cast<double>(w.samples) / work : 0;
    if (m.training.gradient.clip_norm) values["grad_norm"] = grad_norm;
    if (task->CountsTokens())
      values["tokens_per_second"] = secs > 0 ? static_cast<double>(at.tokens) / secs : 0;
    if (prec.scale_loss) values["loss_scale"] = scaler.scale();
    return values;
  }

  // Clipping, the learning rate, the optimizer step and the step's metric event. `b` is the
  // window's last batch of `batches`.
  // A data-parallel window's loss (the mean over ranks), samples and tokens (their sums).
  Window AllRanks(Window w) {
    if (!dp) return w;
    const std::vector<double> sum =
        dp->Sum({w.loss, static_cast<double>(w.samples), static_cast<double>(w.tokens)});
    w.loss = sum[0] / dp->size();
    w.samples = static_cast<std::int64_t>(sum[1]);
    w.tokens = static_cast<std::int64_t>(sum[2]);
    return w;
  }

  Status OptimizerStep(const Window& local, std::int64_t b, std::int64_t batches) {
    const Window w = AllRanks(local);
    const bool take_step = !prec.scale_loss || UnscaleGradients();
    const bool last_of_epoch = b + 1 == batches;
    std::map<std::string, double> callback_values;
    callbacks.GradientValues(at.step + 1, last_of_epoch, task->net(), &callback_values);
    const double grad_norm = ClipGradients();
    const double lr = SetLearningRates();
    callbacks.LearningRateValues(at.step + 1, last_of_epoch, *optimizer, &callback_values);
    if (take_step) optimizer->step();
    ZeroGrad(*optimizer);
    ++at.step;
    at.continue_epoch = last_of_epoch ? at.epoch + 1 : at.epoch;
    at.continue_batch = last_of_epoch ? 0 : b + 1;
    at.samples += w.samples;
    at.tokens += w.tokens;
    std::map<std::string, double> values = StepMetrics(w, lr, grad_norm);
    if (dp) values["allreduce_seconds"] = dp->TakeWaitSeconds();
    values.insert(callback_values.begin(), callback_values.end());
    if (!std::isfinite(w.loss)) {
      return InvalidArgument("the training loss became " + std::to_string(w.loss) + " at step " +
                             std::to_string(at.step) + "; lower optimizer.lr");
    }
    std::map<std::string, double> last = values;
    for (const char* k : {"total_steps", "elapsed_seconds", "time_budget_seconds"}) last.erase(k);
    callbacks.set_last_values(std::move(last));
    out.Emit(Event::Kind::kMetric, values);
    callbacks.Run(Trigger::kStep, at.step, *task, summary.val);
    return OkStatus();
  }

  // A stop request or an alert's halt after batch `b`: recorded, and a checkpoint saved now
  // (a resumed run continues with the next batch, validation included) or after this epoch's
  // validation.
  Status Stop(bool halted, std::int64_t b, bool last_of_epoch) {
    summary.stopped = true;
    const std::string after = " after step " + std::to_string(at.step);
    if (halted) {
      End("alert", "halted by an alert" + after);
    } else {
      End("stopped", "stopped on request" + after);
    }
    if (last_of_epoch) {
      checkpoint_due = true;
      return OkStatus();
    }
    return SaveCheckpoint(at.epoch, b + 1);
  }

  // What ends the run after a step: a stop request, an alert's halt, the time budget.
  struct Ending {
    bool stop = false, halt = false, time_up = false;
  };
  // Ranks end at the same step: any rank's stop request counts, and rank 0's alerts and clock.
  Ending AgreeEnding(Ending local) {
    if (!dp) return local;
    const double leader = dp->leader() ? 1 : 0;
    const std::vector<double> any =
        dp->Sum({local.stop ? 1.0 : 0.0, local.halt ? leader : 0.0, local.time_up ? leader : 0.0});
    return {any[0] > 0, any[1] > 0, any[2] > 0};
  }

  // After a step that ended at batch `b`: whether the run is done (validation every N steps,
  // the budget, the time budget, a stop), and the checkpoints that fall due.
  Result<bool> AfterStep(std::int64_t b, std::int64_t batches) {
    const bool last_of_epoch = b + 1 == batches;
    const std::optional<std::int64_t> every = m.training.validation.every;
    bool done = false;
    if (every && at.step % *every == 0 && Validate()) done = true;
    if (!m.training.duration && at.step >= at.total_steps) done = true;
    const Verdict verdict = out.TakeVerdict();
    const Ending ending =
        AgreeEnding({options.stop && options.stop->load(), verdict.halt,
                     m.training.duration && at.Seconds() >= m.training.duration->seconds});
    if (ending.time_up) {
      End("duration", "the time budget of " + m.training.duration->text + " was spent after step " +
                          std::to_string(at.step));
      done = true;
    }
    if (ending.stop || ending.halt) {
      ENTRENAR_RETURN_IF_ERROR(Stop(ending.halt, b, last_of_epoch));
      return true;
    }
    const bool due = at.step % m.training.checkpoint.save_every == 0 ||
                     callbacks.TakeCheckpointRequest() || verdict.checkpoint;
    if (due && !done) {
      if (last_of_epoch) {
        checkpoint_due = true;  // after this epoch's validation
      } else {
        ENTRENAR_RETURN_IF_ERROR(SaveCheckpoint(at.epoch, b + 1));
      }
    }
    return done;
  }

  // The end of an epoch: its validation, callbacks and a checkpoint that fell due. Returns
  // whether the run is done.
  Result<bool> EndEpoch(bool done) {
    if (!summary.stopped || checkpoint_due) {
      if (EpochValidation() && Validate()) done = true;
    }
    summary.epochs = at.epoch;
    callbacks.Run(Trigger::kEpochEnd, at.epoch, *task, summary.val);
    if (callbacks.TakeCheckpointRequest()) checkpoint_due = true;
    if (checkpoint_due && !(done && !summary.stopped)) {
      ENTRENAR_RETURN_IF_ERROR(SaveCheckpoint(at.epoch + 1, 0));
      checkpoint_due = false;
    }
    return done;
  }

  // One epoch's batches, from where a resumed run left off. Returns whether the run is done.
  Result<bool> RunEpoch(const Budget& budget, const LoaderOptions& loader_options) {
    const Splits& s = task->splits();
    const std::int64_t n = s.train_x.size(0);
    const std::int64_t first_batch = at.epoch == at.start_epoch ? at.start_batch : 0;
    LoaderOptions epoch_options = loader_options;
    epoch_options.build = task->TrainingBatches(at.epoch);
    const std::vector<std::int64_t> order =
        dp ? plan::RankShard(EpochOrder(n), dp->rank(), dp->size()) : EpochOrder(n);
    BatchLoader loader(s.train_x, s.train_y, torch::tensor(order, torch::kLong), first_batch,
                       budget.batches, epoch_options);
    const std::int64_t accum = m.training.gradient.accumulation_steps;
    Window w;
    bool done = false;
    for (std::int64_t b = first_batch; b < budget.batches && !done; ++b) {
      if (w.micro == 0) w.started = std::chrono::steady_clock::now();
      const auto [xb, yb] = loader.Next();
      // The window's last micro-batches may be fewer than `accum` at an epoch's end.
      w.size = std::min(accum, budget.batches - (b - w.micro));
      MicroStep(xb, yb, &w);
      if (w.micro < w.size) continue;
      ENTRENAR_RETURN_IF_ERROR(OptimizerStep(w, b, budget.batches));
      w = Window();
      ENTRENAR_ASSIGN_OR_RETURN(done, AfterStep(b, budget.batches));
    }
    return EndEpoch(done);
  }

  Status Loop() {
    const std::int64_t n = task->splits().train_x.size(0);
    ENTRENAR_ASSIGN_OR_RETURN(const Budget budget, plan::ComputeBudget(m, n));
    at.total_steps = budget.total_steps;
    const std::string length = m.training.duration
                                   ? "for " + m.training.duration->text + " (a time budget)"
                                   : std::to_string(at.total_steps) + " steps";
    const std::string ranks =
        dp ? " on " + std::to_string(dp->size()) + " ranks (" +
                 std::to_string(plan::RankRows(n, dp->size())) + " samples and batches of " +
                 std::to_string(m.data.loader.batch_size) + " each, a global batch of " +
                 std::to_string(m.data.loader.batch_size * dp->size()) + ")"
           : "";
    out.Log("training " + std::to_string(n) + " samples" + ranks + ", " +
            std::to_string(budget.steps_per_epoch) + " steps per epoch, " + length);
    if (at.saved_total_steps.value_or(0) > 0 && *at.saved_total_steps != at.total_steps)
      NoteBudgetChange(*at.saved_total_steps);
    task->net().train();
    const LoaderOptions loader_options = MakeLoaderOptions();
    bool done = false;
    for (at.epoch = at.start_epoch; at.epoch <= budget.epochs && !done && at.step < at.total_steps;
         ++at.epoch) {
      ENTRENAR_ASSIGN_OR_RETURN(done, RunEpoch(budget, loader_options));
    }
    const std::optional<std::int64_t> every = m.training.validation.every;
    if (every && at.step % *every != 0 && !summary.stopped) Validate();
    // every_epoch: false without `every`: the trained model is validated once, at the end.
    if (!every && !EpochValidation() && !summary.stopped) Validate();
    return OkStatus();
  }

  // Validation at each epoch's end: the default, unless `every` N steps or every_epoch: false.
  bool EpochValidation() const {
    return !m.training.validation.every && m.training.validation.every_epoch.value_or(true);
  }

  LossScaler scaler = LossScaler::Dynamic();
  std::unique_ptr<TaskModel> task;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::string last_checkpoint;   // the newest checkpoint this run wrote
  std::vector<double> group_lr;  // each optimizer group's base learning rate
  ValidationWatch watch;
  CallbackRunner callbacks;
  TrainSummary summary;
  std::int64_t validations = 0;  // done so far, for validation_end callbacks
  bool checkpoint_due = false;   // save_every fell on an epoch's last step: save after validation
  bool fold_run;
  std::unique_ptr<DataParallel> dp;
};

// `run`, prepared, with a sequential model on feature data or a transformer on text.
Status SetUp(Run& run, PreparedData data) {
  ENTRENAR_RETURN_IF_ERROR(run.Prepare());
  ENTRENAR_ASSIGN_OR_RETURN(
      std::unique_ptr<TaskModel> task,
      MakeTabularModel(run.m, run.options, run.prec, std::move(data), run.out));
  return run.Place(std::move(task));
}
Status SetUp(Run& run, TextData text) {
  ENTRENAR_RETURN_IF_ERROR(run.Prepare());
  ENTRENAR_ASSIGN_OR_RETURN(
      std::unique_ptr<TaskModel> task,
      MakeLanguageModel(run.m, run.options, run.prec, std::move(text), run.out));
  return run.Place(std::move(task));
}

template <typename Data>
Result<TrainSummary> TrainOn(const Manifest& m, const TrainOptions& options, EventSink& sink,
                             Data data, bool fold, std::unique_ptr<DataParallel> dp = nullptr) {
  Run run(m, options, sink, fold, std::move(dp));
  ENTRENAR_RETURN_IF_ERROR(SetUp(run, std::move(data)));
  return run.Train();
}

// Drops every event (evaluation without a run).
class NullSink : public EventSink {
 public:
  void OnEvent(const Event&) override {}
};

Result<std::map<std::string, double>> EvaluateOrThrow(const Manifest& m,
                                                      const TrainOptions& options) {
  NullSink sink;
  Run run(m, options, sink, false);
  if (plan::FindTokenize(m)) {
    ENTRENAR_ASSIGN_OR_RETURN(TextData text, PrepareText(m, options.base_dir, options.seed));
    ENTRENAR_RETURN_IF_ERROR(SetUp(run, std::move(text)));
  } else {
    ENTRENAR_ASSIGN_OR_RETURN(PreparedData data, PrepareData(m, options.base_dir, options.seed));
    ENTRENAR_RETURN_IF_ERROR(SetUp(run, std::move(data)));
  }
  return run.EvaluateSplits();
}

// The run itself, after cross-validation when the manifest asks for it.
// A data-parallel rank joins the others before it reads the data (a master that cannot be
// reached is found before the data is read; the others wait for rank 0's run directory).
Result<TrainSummary> TrainModel(const Manifest& m, const TrainOptions& options, EventSink& sink) {
  std::unique_ptr<DataParallel> dp;
  if (options.ranks && options.ranks->world_size > 1) {
    ENTRENAR_ASSIGN_OR_RETURN(dp, DataParallel::Join(*options.ranks));
  }
  if (plan::FindTokenize(m)) {
    ENTRENAR_ASSIGN_OR_RETURN(TextData text, PrepareText(m, options.base_dir, options.seed));
    return TrainOn(m, options, sink, std::move(text), false, std::move(dp));
  }
  ENTRENAR_ASSIGN_OR_RETURN(PreparedData data, PrepareData(m, options.base_dir, options.seed));
  return TrainOn(m, options, sink, std::move(data), false, std::move(dp));
}

// Why a run ended, when the alert monitor or cross-validation ended it.
void EndReason(const FoldResults& cv, TrainSummary& summary) {
  if (summary.halted && !summary.alerts.empty()) {
    summary.end_reason = "alert";
    summary.end_message = "halted by an alert: " + summary.alerts.back().message + " (step " +
                          std::to_string(summary.alerts.back().step) + ")";
  } else if (cv.stopped) {
    summary.end_reason = "stopped";
    summary.end_message = "stopped on request during cross-validation";
  }
}

Result<TrainSummary> TrainOrThrow(const Manifest& m, const TrainOptions& options,
                                  EventSink& outer_sink) {
  // Alerts watch every metric of the run; a halt stops it as SIGTERM would, after a checkpoint.
  MonitorSink sink(m, outer_sink);
  FoldResults cv;
  if (m.training.validation.cross_validation) {
    const TrainFold fold = [&](PreparedData d, EventSink& fold_sink) {
      return TrainOn(m, options, fold_sink, std::move(d), true);
    };
    ENTRENAR_ASSIGN_OR_RETURN(cv, CrossValidate(m, options, sink, fold));
    if (!cv.stopped) sink.OnEvent(FoldsEvent(cv));
  }
  TrainSummary summary;
  if (cv.stopped) {
    summary.stopped = true;
  } else {
    ENTRENAR_ASSIGN_OR_RETURN(summary, TrainModel(m, options, sink));
  }
  summary.folds = cv.folds;
  summary.folds_mean = cv.mean;
  summary.folds_std = cv.std;
  summary.halted = sink.halted();
  summary.alerts = sink.fired();
  EndReason(cv, summary);
  return summary;
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
  const std::string file = run::Layout::CheckpointState(checkpoint_dir);
  ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(file));
  ENTRENAR_ASSIGN_OR_RETURN(const run::CheckpointState state,
                            run::DecodeCheckpointState(text, file));
  return state.step;
}

Result<DryRun> PlanRun(const Manifest& m, const TrainOptions& options) {
  try {
    return PlanDryRun(m, options);
  } catch (const c10::Error& e) {
    return Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("planning failed: ") + e.what());
  }
}

Result<std::map<std::string, double>> EvaluateModel(const Manifest& m,
                                                    const TrainOptions& options) {
  try {
    return EvaluateOrThrow(m, options);
  } catch (const c10::Error& e) {
    return Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("evaluation failed: ") + e.what());
  }
}

Result<TrainSummary> Train(const Manifest& m, const TrainOptions& options, EventSink& sink) {
  try {
    return TrainOrThrow(m, options, sink);
  } catch (const BatchError& e) {
    return e.status();
  } catch (const RankLost& e) {
    return Status(StatusCode::kUnavailable, e.what());
  } catch (const UnusedParameter& e) {
    return InvalidArgument(std::string("training.distributed.find_unused_parameters: ") + e.what());
  } catch (const c10::Error& e) {
    return Internal(std::string("LibTorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return Internal(std::string("training failed: ") + e.what());
  }
}

}  // namespace entrenar::engine
