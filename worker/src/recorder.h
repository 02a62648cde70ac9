#pragma once

#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "entrenar/console/live_view.h"
#include "entrenar/engine/events.h"
#include "entrenar/manifest/manifest.h"
#include "entrenar/monitor/metrics_table.h"
#include "entrenar/monitor/mlflow.h"
#include "entrenar/monitor/tensorboard.h"
#include "entrenar/worker/uplink.h"

namespace entrenar::worker {

// Records a run's event stream: metrics.jsonl as it happens (a crash keeps every finished
// step), metrics.csv and the export at the end, logs/train.log, the daemon's events.jsonl (told
// to the uplink), the tracking backends, and the live progress line on a terminal. Used by the
// training thread only (the engine calls OnEvent from it); not thread-safe.
class RunRecorder : public engine::EventSink {
 public:
  struct Options {
    std::string dir;   // the run directory (logs/ exists)
    bool tty = false;  // draw the progress line on stderr
    std::int64_t refresh_ms = 100;
    console::StatusLayout layout;  // what the progress line shows (monitoring.terminal)
    // Continuing from a checkpoint of this step: rows of later steps in an existing
    // metrics.jsonl are dropped (those steps run again).
    std::optional<std::int64_t> resume_step;
    std::string events_path;   // also append every event here (under entrenard), or ""
    Uplink* uplink = nullptr;  // told of each line appended to events_path, or null
  };
  explicit RunRecorder(Options options);

  void OnEvent(const engine::Event& e) override;
  // The pending row (complete: a checkpoint comes after its step's validation), metrics.jsonl,
  // the events file and the log, written through to the files.
  void Flush() override;

  // Writes the last row, metrics.csv and the export in `format` (`include` filtering it).
  // Returns false if a file could not be written.
  bool Finish(const manifest::MetricsOutputConfig& metrics);

  // Also send every logged row to an MLflow server / write it to TensorBoard.
  void SetMlflow(std::unique_ptr<monitor::MlflowTracker> mlflow) { mlflow_ = std::move(mlflow); }
  void SetTracker(std::unique_ptr<monitor::TensorBoardTracker> tracker) {
    tracker_ = std::move(tracker);
  }
  // On a terminal: `status` as the status line until the first step ("" clears it).
  void Transient(const std::string& status, bool now = false) {
    if (options_.tty) view_.Transient(status, now);
  }
  bool tty() const { return options_.tty; }
  // Ends the MLflow run with `status` (FINISHED, FAILED, KILLED).
  void FinishTracking(const std::string& status);

  // Every logged row as numeric columns (complete once Finish has run).
  const monitor::MetricTable& table() const { return table_; }

 private:
  void KeepRowsUpTo(std::int64_t step);
  monitor::MetricTable BuildTable() const;
  void OnStep(const engine::Event& e);
  void OnValidation(const engine::Event& e);
  void WriteEvent(const engine::Event& e);
  void FlushRow();
  void Line(const std::string& text,
            console::LiveView::Tone tone = console::LiveView::Tone::kPlain);
  bool WriteOr(const Status& s);

  Options options_;
  console::LiveView view_;
  monitor::MetricTable table_;
  std::unique_ptr<monitor::TensorBoardTracker> tracker_;
  std::unique_ptr<monitor::MlflowTracker> mlflow_;
  std::ofstream jsonl_, log_, events_;
  nlohmann::ordered_json row_;
  std::vector<nlohmann::ordered_json> rows_;
};

}  // namespace entrenar::worker
