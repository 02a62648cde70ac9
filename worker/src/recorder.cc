#include "recorder.h"

#include <chrono>
#include <cmath>
#include <iostream>
#include <sstream>

#include "entrenar/base/clock.h"
#include "entrenar/base/files.h"
#include "entrenar/base/kill_point.h"
#include "entrenar/base/strings.h"
#include "entrenar/console/output.h"
#include "entrenar/run/event.h"

namespace entrenar::worker {
namespace {

using nlohmann::ordered_json;

double UnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool ColorOk() { return std::getenv("NO_COLOR") == nullptr; }

}  // namespace

RunRecorder::RunRecorder(Options options)
    : options_(std::move(options)),
      view_(std::cerr, ColorOk(), 0, std::chrono::milliseconds(options_.refresh_ms)) {
  view_.SetLayout(options_.layout);
  const std::string jsonl = options_.dir + "/metrics.jsonl";
  if (options_.resume_step) KeepRowsUpTo(*options_.resume_step);
  jsonl_.open(jsonl, std::ios::app);
  if (!options_.events_path.empty()) {
    // A worker killed mid-line left half an event: the next attempt's first starts a new line.
    (void)DropPartialLastLine(options_.events_path);
    events_.open(options_.events_path, std::ios::app);
  }
  log_.open(options_.dir + "/logs/train.log", std::ios::app);
}

// Rewrites metrics.jsonl with the rows up to `step`; a damaged row (not an object, a step that
// is not a number) is dropped with the later ones.
void RunRecorder::KeepRowsUpTo(std::int64_t step) {
  const std::string jsonl = options_.dir + "/metrics.jsonl";
  std::ifstream in(jsonl);
  std::string line, kept;
  while (std::getline(in, line)) {
    ordered_json row = ordered_json::parse(line, nullptr, false);
    const auto at = row.is_object() ? row.find("step") : row.end();
    if (row.is_discarded() || at == row.end() || !at->is_number_integer() ||
        at->get<std::int64_t>() > step)
      continue;
    kept += line + "\n";
    rows_.push_back(std::move(row));
  }
  console::WriteOutput(jsonl, kept);
}

void RunRecorder::Flush() {
  // The trainer checkpoints a step after its validation: the step's row is complete.
  FlushRow();
  jsonl_.flush();
  events_.flush();
  log_.flush();
}

void RunRecorder::OnEvent(const engine::Event& e) {
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
               e.fields.at("action") + ", step " + std::to_string(e.step) + ")",
           console::LiveView::Tone::kAlert);
      break;
  }
}

bool RunRecorder::Finish(const manifest::MetricsOutputConfig& metrics) {
  FlushRow();
  if (options_.tty) view_.Finish();
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
  bool ok =
      WriteOr(monitor::WriteMetrics(format == monitor::MetricsFormat::kCsv ? kept : table,
                                    monitor::MetricsFormat::kCsv, options_.dir + "/metrics.csv"));
  if (format != monitor::MetricsFormat::kCsv) {
    ok =
        WriteOr(monitor::WriteMetrics(kept, format, options_.dir + "/metrics." + metrics.format)) &&
        ok;
  }
  return ok && jsonl_.good() && log_.good() && (!events_.is_open() || events_.good());
}

void RunRecorder::FinishTracking(const std::string& status) {
  if (mlflow_) mlflow_->Finish(status);
}

monitor::MetricTable RunRecorder::BuildTable() const {
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

void RunRecorder::OnStep(const engine::Event& e) {
  FlushRow();
  row_ = ordered_json{{"step", e.step}, {"epoch", e.epoch}};
  for (const auto& [k, v] : e.values) {
    if (!console::IsProgressValue(k)) row_[k] = v;
  }
  if (!options_.tty) return;
  const auto total = e.values.find("total_steps");
  const auto budget = e.values.find("time_budget_seconds");
  const auto elapsed = e.values.find("elapsed_seconds");
  if (budget != e.values.end() && elapsed != e.values.end()) {
    view_.TimeBudget(elapsed->second, budget->second);
  }
  view_.Values(e.values);
  const auto loss = e.values.find("train_loss");
  view_.Step(e.step, total != e.values.end() ? static_cast<std::int64_t>(total->second) : 0,
             e.epoch, loss != e.values.end() ? loss->second : 0, NowUtcIso());
}

void RunRecorder::OnValidation(const engine::Event& e) {
  if (options_.tty) view_.Values(e.values);
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

void RunRecorder::WriteEvent(const engine::Event& e) {
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
  const std::string line = run::EncodeEvent(f);
  KillPoint("worker.event.half", [&] { events_ << line.substr(0, line.size() / 2) << std::flush; });
  events_ << line << "\n" << std::flush;
  if (options_.uplink) options_.uplink->Notify();
}

void RunRecorder::FlushRow() {
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

void RunRecorder::Line(const std::string& text, console::LiveView::Tone tone) {
  log_ << NowUtcIso() << " " << text << "\n" << std::flush;
  if (options_.tty) {
    view_.Line(text, tone);
  } else {
    std::cerr << text << "\n";
  }
}

bool RunRecorder::WriteOr(const Status& s) {
  if (!s.ok()) std::cerr << "error: " << s.message() << "\n";
  return s.ok();
}

}  // namespace entrenar::worker
