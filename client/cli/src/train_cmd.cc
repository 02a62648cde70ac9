// `entrenar train FILE`: trains a manifest in the foreground, writing the run directory.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/clock.h"
#include "entrenar/base/strings.h"
#include "entrenar/base/version.h"
#include "entrenar/cli/cli.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/manifest/load.h"
#include "entrenar/monitor/metrics_table.h"
#include "entrenar/monitor/mlflow.h"
#include "entrenar/monitor/quality.h"
#include "entrenar/monitor/report.h"
#include "entrenar/monitor/tensorboard.h"
#include "entrenar/plan/support.h"
#include "entrenar/registry/registry.h"
#include "entrenar/report/reporter.h"
#include "entrenar/run/event.h"

#include "commands.h"
#include "manifest_input.h"

namespace entrenar::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

std::atomic<bool> g_stop{false};
extern "C" void OnInterrupt(int) { g_stop.store(true); }

// Records the event stream: metrics.jsonl as it happens (a crash keeps every finished step),
// metrics.csv at the end, logs/train.log, and progress on the terminal.
class RunRecorder : public engine::EventSink {
 public:
  // `resume_step`: continuing a run from a checkpoint of that step; rows of later steps in an
  // existing metrics.jsonl are dropped (those steps run again).
  // `reporter`: told of each line appended to `events_path` (null: no daemon to stream to).
  RunRecorder(const std::string& dir, bool tty, std::optional<std::int64_t> resume_step,
              std::int64_t refresh_ms, const std::string& events_path, report::Reporter* reporter)
      : dir_(dir), tty_(tty), reporter_(reporter), refresh_(std::chrono::milliseconds(refresh_ms)) {
    const std::string jsonl = dir + "/metrics.jsonl";
    if (resume_step) {
      std::ifstream in(jsonl);
      std::string line, kept;
      while (std::getline(in, line)) {
        ordered_json row = ordered_json::parse(line, nullptr, false);
        // A damaged row (not an object, a step that is not a number) is dropped with the rest.
        const auto step = row.is_object() ? row.find("step") : row.end();
        if (row.is_discarded() || step == row.end() || !step->is_number_integer() ||
            step->get<std::int64_t>() > *resume_step)
          continue;
        kept += line + "\n";
        rows_.push_back(std::move(row));
      }
      WriteOutput(jsonl, kept);
    }
    jsonl_.open(jsonl, std::ios::app);
    if (!events_path.empty()) events_.open(events_path, std::ios::app);
    log_.open(dir + "/logs/train.log", std::ios::app);
  }

  void OnEvent(const engine::Event& e) override {
    if (events_.is_open()) WriteEvent(e);
    switch (e.kind) {
      case engine::Event::Kind::kMetric:
        OnStep(e);
        break;
      case engine::Event::Kind::kValidation:
        OnValidation(e);
        break;
      case engine::Event::Kind::kLog:
        Line(e.text);
        break;
      case engine::Event::Kind::kState:
        Line("state: " + e.text);
        break;
      case engine::Event::Kind::kCheckpoint:
        Line("checkpoint: " + e.text);
        break;
      case engine::Event::Kind::kAlert:
        Line("alert: " + e.text + " (" + e.fields.at("condition") + ", action " +
             e.fields.at("action") + ", step " + std::to_string(e.step) + ")");
        break;
    }
  }

  // Writes the last row, metrics.csv and the export in `format` (`include` filtering it).
  // Returns false if a file could not be written.
  bool Finish(const manifest::MetricsOutputConfig& metrics) {
    FlushRow();
    if (tty_ && progress_shown_) std::cerr << "\n";
    if (tracker_) {
      const Status closed = tracker_->Close();
      if (!closed.ok()) Line("warning: tensorboard: " + closed.message());
    }
    table_ = BuildTable();
    const monitor::MetricTable& table = table_;
    std::vector<std::string> unmatched;
    const monitor::MetricTable kept = monitor::SelectColumns(table, metrics.include, &unmatched);
    for (const std::string& name : unmatched) {
      Line("warning: output.metrics.include: no metric `" + name +
           "` was logged (logged: " + Join(table.columns, ", ") + ")");
    }
    const monitor::MetricsFormat format = metrics.format == "json" ? monitor::MetricsFormat::kJson
                                          : metrics.format == "parquet"
                                              ? monitor::MetricsFormat::kParquet
                                              : monitor::MetricsFormat::kCsv;
    bool ok = WriteOr(monitor::WriteMetrics(format == monitor::MetricsFormat::kCsv ? kept : table,
                                            monitor::MetricsFormat::kCsv, dir_ + "/metrics.csv"));
    if (format != monitor::MetricsFormat::kCsv) {
      ok = WriteOr(monitor::WriteMetrics(kept, format, dir_ + "/metrics." + metrics.format)) && ok;
    }
    return ok && jsonl_.good() && log_.good() && (!events_.is_open() || events_.good());
  }

  // Also send every logged row to an MLflow server.
  void SetMlflow(std::unique_ptr<monitor::MlflowTracker> mlflow) { mlflow_ = std::move(mlflow); }
  // Ends the MLflow run with `status` (FINISHED, FAILED, KILLED).
  void FinishTracking(const std::string& status) {
    if (mlflow_) mlflow_->Finish(status);
  }

  // Also write every logged row to TensorBoard.
  void SetTracker(std::unique_ptr<monitor::TensorBoardTracker> tracker) {
    tracker_ = std::move(tracker);
  }

  // Every logged row as numeric columns (complete once Finish has run).
  const monitor::MetricTable& table() const { return table_; }

 private:
  // Every logged row as numeric columns: step, epoch, train_loss, learning_rate,
  // samples_per_second, then the others in the order they first appear.
  monitor::MetricTable BuildTable() const {
    monitor::MetricTable t;
    t.columns = {"step", "epoch", "train_loss", "learning_rate", "samples_per_second"};
    for (const auto& row : rows_) {
      for (auto it = row.begin(); it != row.end(); ++it) {
        if (std::find(t.columns.begin(), t.columns.end(), it.key()) == t.columns.end())
          t.columns.push_back(it.key());
      }
    }
    for (const auto& row : rows_) {
      std::vector<std::optional<double>> cells;
      for (const std::string& c : t.columns) {
        const auto it = row.find(c);
        if (it != row.end() && it->is_number()) {
          cells.emplace_back(it->get<double>());
        } else if (it != row.end() && it->is_null()) {
          cells.emplace_back(std::nan(""));  // a non-finite value (JSON has none)
        } else {
          cells.emplace_back();
        }
      }
      t.rows.push_back(std::move(cells));
    }
    return t;
  }

  void OnStep(const engine::Event& e) {
    FlushRow();
    row_ = ordered_json{{"step", e.step}, {"epoch", e.epoch}};
    for (const auto& [k, v] : e.values) {
      if (k != "total_steps") row_[k] = v;
    }
    total_ =
        static_cast<std::int64_t>(e.values.count("total_steps") ? e.values.at("total_steps") : 0);
    if (!tty_) return;
    // Redraw at most every refresh_rate ms, and always on the last step.
    const auto now = std::chrono::steady_clock::now();
    if (e.step == 1) first_step_ = now;
    if (e.step != total_ && now - last_draw_ < refresh_) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - first_step_).count();
    const double eta = e.step > 1 && total_ > 0 ? elapsed / static_cast<double>(e.step - 1) *
                                                      static_cast<double>(total_ - e.step)
                                                : 0;
    char buf[240];
    std::snprintf(
        buf, sizeof(buf),
        "\repoch %lld  step %lld/%lld  loss %.4f  lr %.3g  %.0f samples/s  ETA %02d:%02d   ",
        static_cast<long long>(e.epoch), static_cast<long long>(e.step),
        static_cast<long long>(total_), e.values.at("train_loss"), e.values.at("learning_rate"),
        e.values.at("samples_per_second"), static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
    std::cerr << buf << std::flush;
    progress_shown_ = true;
  }

  void OnValidation(const engine::Event& e) {
    if (e.text == "cross_validation") {
      std::ostringstream text;
      text << "cross-validation:";
      for (const auto& [k, v] : e.values) {
        if (k.size() > 5 && k.compare(k.size() - 5, 5, "_mean") == 0) {
          const std::string name = k.substr(0, k.size() - 5);
          text << " " << name << "=" << v << " ± " << e.values.at(name + "_std");
        }
      }
      Line(text.str());
      return;
    }
    std::ostringstream text;
    text << (e.text == "test" ? "test" : "validation") << " at step " << e.step << ":";
    for (const auto& [k, v] : e.values) {
      text << " " << k << "=" << v;
      if (e.text != "test" && !row_.is_null()) row_[k] = v;
    }
    Line(text.str());
  }

  // One line of the event stream for a daemon (`--events`): complete lines only, flushed.
  void WriteEvent(const engine::Event& e) {
    static constexpr const char* kKinds[] = {"log",        "metric", "validation",
                                             "checkpoint", "state",  "alert"};
    run::EventFields f;
    f.kind = kKinds[static_cast<int>(e.kind)];
    f.step = e.step;
    f.epoch = e.epoch;
    f.time = NowUtcIso();
    f.values = e.values;
    f.text = e.text;
    f.extra = e.fields;
    events_ << run::EncodeEvent(f) << "\n" << std::flush;
    if (reporter_) reporter_->Notify();
  }

  void FlushRow() {
    if (row_.is_null()) return;
    if (tracker_ || mlflow_) {
      std::map<std::string, double> values;
      for (auto it = row_.begin(); it != row_.end(); ++it) {
        if (it.key() != "step" && it.key() != "epoch" && it->is_number())
          values[it.key()] = it->get<double>();
      }
      const double now = UnixSeconds();
      const auto step = row_["step"].get<std::int64_t>();
      if (tracker_) tracker_->OnRow(step, now, values);
      if (mlflow_) mlflow_->OnRow(step, static_cast<std::int64_t>(now * 1000), values);
    }
    jsonl_ << row_.dump() << "\n" << std::flush;
    rows_.push_back(row_);
    row_ = ordered_json();
  }

  void Line(const std::string& text) {
    const std::string stamped = NowUtcIso() + " " + text;
    log_ << stamped << "\n" << std::flush;
    if (tty_ && progress_shown_) std::cerr << "\n";
    progress_shown_ = false;
    std::cerr << text << "\n";
  }

  bool WriteOr(const Status& s) {
    if (!s.ok()) std::cerr << "error: " << s.message() << "\n";
    return s.ok();
  }

  static double UnixSeconds() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  monitor::MetricTable table_;
  std::unique_ptr<monitor::TensorBoardTracker> tracker_;
  std::unique_ptr<monitor::MlflowTracker> mlflow_;
  std::string dir_;
  bool tty_;
  report::Reporter* reporter_;
  std::chrono::steady_clock::duration refresh_;
  std::chrono::steady_clock::time_point first_step_{}, last_draw_{};
  bool progress_shown_ = false;
  std::int64_t total_ = 0;
  std::ofstream jsonl_, log_, events_;
  ordered_json row_;
  std::vector<ordered_json> rows_;
};

std::string EnvironmentYaml() {
  std::ostringstream out;
  out << "entrenar: \"" << Version() << "\"\n";
  out << "compiler: \"gcc " << __VERSION__ << "\"\n";
  for (const auto& [k, v] : engine::Environment()) out << k << ": \"" << v << "\"\n";
  return out.str();
}

ordered_json SummaryJson(const engine::TrainSummary& s) {
  ordered_json j = {{"steps", s.steps},
                    {"epochs", s.epochs},
                    {"wall_seconds", s.wall_seconds},
                    {"samples_per_second", s.samples_per_second},
                    {"parameters", s.parameters},
                    {"stopped", s.stopped},
                    {"halted", s.halted},
                    {"early_stopped", s.early_stopped},
                    {"ended", {{"reason", s.end_reason}, {"message", s.end_message}}}};
  j["alerts"] = ordered_json::array();
  for (const engine::AlertRecord& a : s.alerts) {
    j["alerts"].push_back({{"step", a.step},
                           {"condition", a.condition},
                           {"action", a.action},
                           {"message", a.message}});
  }
  if (s.best_value) {
    j["best"] = {{"metric", s.best_metric}, {"value", *s.best_value}, {"step", s.best_step}};
  }
  j["val"] = s.val;
  j["test"] = s.test;
  j["device"] = s.device;
  j["model_files"] = s.model_files;
  if (!s.quantized_after.empty()) {
    j["quantization"] = {{"before", s.quantized_before}, {"after", s.quantized_after}};
  }
  if (!s.val_confusion.empty() || !s.test_confusion.empty()) {
    j["confusion_matrix"] = {
        {"classes", s.classes}, {"val", s.val_confusion}, {"test", s.test_confusion}};
  }
  if (!s.folds.empty()) {
    j["cross_validation"] = {{"folds", s.folds}, {"mean", s.folds_mean}, {"std", s.folds_std}};
  }
  return j;
}

// The test split's confusion matrix as a table: rows are true classes, columns predictions.
void PrintConfusion(const std::vector<std::string>& classes,
                    const std::vector<std::vector<std::int64_t>>& m) {
  if (m.empty()) return;
  std::size_t width = 4;
  for (const std::string& c : classes) width = std::max(width, c.size() + 1);
  for (const auto& row : m) {
    for (std::int64_t n : row) width = std::max(width, std::to_string(n).size() + 1);
  }
  auto cell = [&](const std::string& text) {
    return std::string(width - std::min(width, text.size()), ' ') + text;
  };
  std::cout << "test confusion matrix (rows: true class, columns: predicted)\n" << cell("");
  for (const std::string& c : classes) std::cout << cell(c);
  std::cout << "\n";
  for (std::size_t t = 0; t < m.size(); ++t) {
    std::cout << cell(classes[t]);
    for (std::int64_t n : m[t]) std::cout << cell(std::to_string(n));
    std::cout << "\n";
  }
}

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

// monitoring.tracking: builtin (and trueno-db, its name in the spec) is the run directory and,
// under entrenard, the job's store. tensorboard also writes event files, to RUN/tensorboard or,
// with `uri`, to URI/[PROJECT/]EXPERIMENT (EXPERIMENT defaulting to the run's name). mlflow
// records the run on the server at `uri`: experiment PROJECT (default: the run's name), run
// name EXPERIMENT, the tags, key hyperparameters and every logged metric.
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

// The quality score (SPEC §16) of a finished run from its rows and summary.
monitor::QualityScore Quality(const monitor::MetricTable& t, const engine::TrainSummary& s) {
  monitor::QualityInput in;
  in.train_loss = t.Values("train_loss");
  in.samples_per_second = t.Values("samples_per_second");
  in.grad_norm = t.Values("grad_norm");
  for (double epoch : t.Values("epoch")) in.steps_per_epoch += epoch == 1 ? 1 : 0;
  if (s.val.count("val_loss")) in.val_loss = s.val.at("val_loss");
  in.alerts = static_cast<std::int64_t>(s.alerts.size());
  const std::string metric = s.best_metric.empty() ? "val_loss" : s.best_metric;
  for (const auto& fold : s.folds) {
    if (fold.count(metric)) in.fold_scores.push_back(fold.at(metric));
  }
  return monitor::ComputeQuality(in);
}

// output.report: report.md with plots/*.svg, and for `html` also the self-contained
// report.html. Returns false if a file could not be written.
bool WriteReport(const manifest::Manifest& m, const std::string& dir, const engine::TrainSummary& s,
                 const monitor::MetricTable& table, const monitor::QualityScore& quality) {
  monitor::ReportInput in;
  in.name = m.name;
  in.version = m.version;
  in.description = m.description.value_or("");
  in.state = s.halted ? "halted" : s.stopped ? "stopped" : "succeeded";
  char wall[32], rate[32];
  std::snprintf(wall, sizeof(wall), "%.2f s", s.wall_seconds);
  std::snprintf(rate, sizeof(rate), "%.0f", s.samples_per_second);
  in.facts = {{"steps", std::to_string(s.steps)},
              {"epochs", std::to_string(s.epochs)},
              {"wall time", wall},
              {"samples/s", rate},
              {"parameters", std::to_string(s.parameters)},
              {"device", s.device},
              {"seed", std::to_string(m.seed.value_or(0))},
              {"run directory", dir}};
  in.environment.emplace_back("entrenar", Version());
  for (const auto& [k, v] : engine::Environment()) in.environment.emplace_back(k, v);
  in.val = s.val;
  in.test = s.test;
  if (s.best_value) {
    char best[128];
    std::snprintf(best, sizeof(best), "%s %.6g at step %lld", s.best_metric.c_str(), *s.best_value,
                  static_cast<long long>(s.best_step));
    in.best = best;
  }
  for (const engine::AlertRecord& a : s.alerts) {
    in.alerts.push_back({a.step, a.condition, a.action, a.message});
  }
  in.classes = s.classes;
  in.confusion = !s.test_confusion.empty() ? s.test_confusion : s.val_confusion;
  in.confusion_split = !s.test_confusion.empty() ? "test" : "val";
  in.quality = quality;
  in.metrics = table;
  in.config_yaml = manifest::ToYaml(m);
  in.include_plots = m.output.report.include_plots;
  if (in.include_plots) {
    std::error_code ec;
    fs::create_directories(dir + "/plots", ec);
    for (const auto& [name, svg] : monitor::ReportCharts(in)) {
      if (!WriteOutput(dir + "/plots/" + name + ".svg", svg + "\n")) return false;
    }
  }
  if (!WriteOutput(dir + "/report.md", monitor::RenderMarkdown(in))) return false;
  return m.output.report.format != "html" ||
         WriteOutput(dir + "/report.html", monitor::RenderHtml(in));
}

// output.registry: the model, config, metrics and quality into the local registry.
bool Publish(const manifest::Manifest& m, const std::string& dir, const engine::TrainSummary& s,
             const monitor::QualityScore& quality) {
  const manifest::RegistryConfig& r = m.output.registry;
  Result<registry::ModelRef> ref =
      registry::ParseModelRef(r.target.value_or(registry::DefaultTarget(m.name, m.version)));
  if (!ref.ok()) {  // CheckSupport parsed it already
    std::cerr << "error: output.registry.target: " << ref.status().message() << "\n";
    return false;
  }
  registry::Entry entry;
  entry.ref = *ref;
  entry.created = NowUtcIso();
  entry.run_dir = fs::absolute(dir).lexically_normal().string();
  entry.metrics = !s.test.empty() ? s.test : s.val;
  entry.quality_score = quality.score;
  entry.quality_grade = quality.grade;
  std::map<std::string, std::string> files = {{"quality.yaml", dir + "/quality.yaml"}};
  for (const std::string& f : s.model_files) files[f] = dir + "/" + f;
  if (r.include_config) files["config.yaml"] = dir + "/config.resolved.yaml";
  if (r.include_metrics) {
    files["metrics.csv"] = dir + "/metrics.csv";
    files["summary.json"] = dir + "/summary.json";
  }
  registry::Registry reg(registry::DefaultRoot());
  const Status published = reg.Publish(entry, files);
  if (!published.ok()) {
    std::cerr << "error: output.registry: " << published.message() << "\n";
    return false;
  }
  std::cout << "published " << ref->ToString() << " (" << reg.root() << ")\n";
  return true;
}

struct TrainArgs {
  std::string file;
  std::vector<std::string> overrides;
  std::string output;
  std::string resume;
  bool dry_run = false;
  bool evaluate = false;
  std::string events;    // also write the event stream here, as JSON lines (for entrenard)
  std::string base_dir;  // where relative data paths resolve (default: the manifest's folder)
  std::string report;    // stream the events to this WorkerService ("unix:PATH"), as job_id
  std::int64_t job_id = 0;
};

std::string Bytes(std::int64_t n) {
  char buf[32];
  if (n >= (1 << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(n) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f KiB", static_cast<double>(n) / 1024);
  }
  return buf;
}

// --dry-run: the resolved config and what the run would do, without training or writing.
int PrintDryRun(const manifest::Manifest& m, const engine::TrainOptions& options) {
  Result<engine::DryRun> plan = engine::PlanRun(m, options);
  if (!plan.ok()) {
    std::cerr << "error: " << plan.status().message() << "\n";
    return plan.status().code() == StatusCode::kUnimplemented ? kExitUnsupported : kExitInvalid;
  }
  const engine::DryRun& p = *plan;
  std::cout << "# resolved configuration\n" << manifest::ToYaml(m) << "\n# plan\n";
  const bool text = p.features.empty();
  std::cout << "data:         " << p.train_rows << " train / " << p.val_rows << " val / "
            << p.test_rows << (text ? " test sequences\n" : " test rows\n");
  if (text) {
    std::cout << "task:         " << p.task << "\n";
  } else {
    std::cout << "features:     " << p.features.size() << " (" << Join(p.features, ", ") << ")\n";
    std::cout << "target:       " << p.target << " (" << p.task;
    if (!p.classes.empty())
      std::cout << ", " << p.classes.size() << " classes: " << Join(p.classes, ", ");
    std::cout << ")\n";
  }
  for (const std::string& note : p.notes) std::cout << note << "\n";
  std::cout << "parameters:   " << p.trainable_parameters << " trainable, " << p.frozen_parameters
            << " frozen\n";
  std::cout << "steps:        " << p.steps_per_epoch << " per epoch, " << p.total_steps
            << " in total (" << p.epochs << " epochs)\n";
  std::cout << "memory:       about " << Bytes(p.estimated_memory_bytes) << "\n";
  std::cout << "device:       " << p.device << ", " << p.threads << " threads\n";
  std::cout << "run dir:      " << options.run_dir << " (not created by --dry-run)\n";
  return kExitOk;
}

// --evaluate: the metrics of the model as the manifest loads it, as one JSON object.
int PrintEvaluation(const manifest::Manifest& m, const TrainArgs& a) {
  engine::TrainOptions options;
  options.base_dir = !a.base_dir.empty() ? a.base_dir : a.file == "-" ? "." : BaseDir(a.file);
  options.seed = static_cast<std::uint64_t>(*m.seed);
  Result<std::map<std::string, double>> metrics = engine::EvaluateModel(m, options);
  if (!metrics.ok()) {
    std::cerr << "error: " << metrics.status().message() << "\n";
    return metrics.status().code() == StatusCode::kUnimplemented ? kExitUnsupported : kExitInvalid;
  }
  std::cout << ordered_json(*metrics).dump(2) << "\n";
  return kExitOk;
}

int RunTrain(const TrainArgs& a) {
  manifest::LoadOptions options;
  options.overrides = a.overrides;
  manifest::LoadResult r = LoadManifestArg(a.file, options);
  PrintDiagnostics(r.diagnostics);
  if (!r.ok()) return kExitInvalid;
  manifest::Manifest m = *r.manifest;
  const std::vector<manifest::Diagnostic> unsupported = plan::CheckSupport(m);
  if (!unsupported.empty()) {
    PrintDiagnostics(unsupported);
    return kExitUnsupported;
  }
  if (!m.seed) m.seed = static_cast<std::int64_t>(std::random_device{}() & 0x7fffffff);

  std::optional<std::int64_t> resume_step;
  if (!a.resume.empty()) {
    Result<std::int64_t> step = engine::CheckpointStep(a.resume);
    if (!step.ok()) {
      std::cerr << "error: --resume: " << step.status().message() << "\n";
      return kExitInvalid;
    }
    resume_step = *step;
  }
  // Resuming continues the checkpoint's own run directory unless --output says otherwise.
  const std::string resume_run =
      a.resume.empty() ? ""
                       : fs::path(a.resume).lexically_normal().parent_path().parent_path().string();
  const std::string dir = !a.output.empty()     ? a.output
                          : !resume_run.empty() ? resume_run
                                                : m.output.dir;
  if (a.evaluate) return PrintEvaluation(m, a);
  if (a.dry_run) {
    engine::TrainOptions plan;
    plan.base_dir = !a.base_dir.empty() ? a.base_dir : a.file == "-" ? "." : BaseDir(a.file);
    plan.run_dir = dir;
    plan.seed = static_cast<std::uint64_t>(*m.seed);
    return PrintDryRun(m, plan);
  }
  std::error_code ec;
  if (!resume_step && fs::exists(dir + "/summary.json", ec)) {
    std::cerr << "error: " << dir << " already holds a finished run; choose another --output\n";
    return kExitIo;
  }
  fs::create_directories(dir + "/logs", ec);
  if (ec) {
    std::cerr << "error: cannot create the run directory " << dir << ": " << ec.message() << "\n";
    return kExitIo;
  }
  std::string original;
  if (a.file != "-") {
    std::ifstream in(a.file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    original = text.str();
  }
  if (!WriteOutput(dir + "/config.yaml", original.empty() ? manifest::ToYaml(m) : original) ||
      !WriteOutput(dir + "/config.resolved.yaml", manifest::ToYaml(m)) ||
      !WriteOutput(dir + "/environment.yaml", EnvironmentYaml())) {
    return kExitIo;
  }

  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  // Under entrenard: stream the event file to the daemon as it grows (the secret comes in the
  // environment, not on the command line where `ps` shows it).
  std::unique_ptr<report::Reporter> reporter;
  const char* token = std::getenv("ENTRENAR_WORKER_TOKEN");
  if (!a.report.empty() && !a.events.empty() && token) {
    reporter = std::make_unique<report::Reporter>(a.report, a.job_id, token, a.events);
  }
  RunRecorder recorder(dir, isatty(STDERR_FILENO) != 0 && m.monitoring.terminal.enabled,
                       resume_step, m.monitoring.terminal.refresh_rate, a.events, reporter.get());
  if (!OpenTracking(m, dir, &recorder)) return kExitIo;
  engine::TrainOptions train;
  train.base_dir = !a.base_dir.empty() ? a.base_dir : a.file == "-" ? "." : BaseDir(a.file);
  train.run_dir = dir;
  train.seed = static_cast<std::uint64_t>(*m.seed);
  train.stop = &g_stop;
  train.resume_from = a.resume;
  const char* custom = std::getenv("ENTRENAR_CUSTOM_CALLBACKS");
  train.allow_custom_callbacks = !(custom && std::string(custom) == "off");
  Result<engine::TrainSummary> summary = engine::Train(m, train, recorder);
  const bool recorded = recorder.Finish(m.output.metrics);
  recorder.FinishTracking(!summary.ok() || summary->halted ? "FAILED"
                          : summary->stopped               ? "KILLED"
                                                           : "FINISHED");
  if (reporter) reporter->Stop(std::chrono::seconds(2));  // the rest stays in the file
  if (!summary.ok()) {
    std::cerr << "error: " << summary.status().message() << "\n";
    return summary.status().code() == StatusCode::kUnimplemented ? kExitUnsupported : kExitInvalid;
  }
  if (!recorded || !WriteOutput(dir + "/summary.json", SummaryJson(*summary).dump(2) + "\n")) {
    return kExitIo;
  }
  const monitor::QualityScore quality = Quality(recorder.table(), *summary);
  if (!WriteOutput(dir + "/quality.yaml", monitor::QualityYaml(quality))) return kExitIo;
  if (m.IsSet("output.report") && m.output.report.enabled &&
      !WriteReport(m, dir, *summary, recorder.table(), quality)) {
    return kExitIo;
  }
  if (m.output.registry.enabled && !summary->halted && !Publish(m, dir, *summary, quality)) {
    return kExitIo;
  }
  char took[64];
  std::snprintf(took, sizeof(took), "%lld steps in %.2f s", static_cast<long long>(summary->steps),
                summary->wall_seconds);
  std::cout << "run " << dir << ": " << took;
  for (const auto& [k, v] : summary->test) {
    char value[32];
    std::snprintf(value, sizeof(value), "%.4f", v);
    std::cout << ", " << k << " " << value;
  }
  std::cout << "\n";
  char score[64];
  std::snprintf(score, sizeof(score), "%.1f", quality.score);
  std::cout << "quality " << quality.grade << " (" << score << "/100): " << dir
            << "/quality.yaml\n";
  PrintConfusion(summary->classes, summary->test_confusion);
  if (summary->halted) {
    std::cerr << "halted by an alert (" << summary->alerts.back().message
              << "); resume it with --resume " << dir << "/checkpoints/step-" << summary->steps
              << "\n";
    return kExitJobFailed;
  }
  return kExitOk;
}

}  // namespace

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Train a manifest here, in the foreground");
  cmd->add_option("FILE", args->file, "The manifest")->required();
  cmd->add_option("--set", args->overrides, "Override a key: PATH=VALUE (repeatable)");
  cmd->add_option("--output,-o", args->output, "Run directory (default: output.dir)");
  cmd->add_option("--resume", args->resume,
                  "Continue exactly from a checkpoint directory (RUN/checkpoints/step-N)");
  cmd->add_flag("--dry-run", args->dry_run,
                "Print the resolved config and the plan (data sizes, parameters, steps, memory) "
                "without training");
  cmd->add_flag("--evaluate", args->evaluate,
                "Evaluate the model as the manifest loads it (model.source, LoRA adapters "
                "included) on the validation and test splits, without training; prints the "
                "metrics as JSON");
  cmd->add_option("--events", args->events,
                  "Also append every event as a JSON line to this file (used by entrenard)");
  cmd->add_option(
      "--report", args->report,
      "Stream the --events lines to entrenard's WorkerService here (used by entrenard)");
  cmd->add_option("--job-id", args->job_id, "The entrenard job this run is (with --report)");
  cmd->add_option("--base-dir", args->base_dir,
                  "Resolve relative data paths here (default: the manifest's folder)");
  cmd->callback([args, exit_code] { *exit_code = RunTrain(*args); });
}

}  // namespace entrenar::cli
