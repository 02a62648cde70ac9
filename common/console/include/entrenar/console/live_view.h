#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "entrenar/manifest/manifest.h"

namespace entrenar::console {

// What the status line shows (monitoring.terminal): after the step and the epoch, each of
// `metrics` as `name value` (a step's metric, or a validation's by its bare name: `accuracy`),
// and `charts` in order: a `progress` bar (with the step rate and, with show_eta, the time
// left) and `sparkline`s of a metric's last `window` values (right after its value when the
// metric is shown). Empty lists keep the default: the loss, a progress bar with the ETA, and
// the loss's sparkline.
struct StatusLayout {
  struct Chart {
    bool progress = false;  // else a sparkline
    std::string metric;     // a sparkline's
    std::size_t window = 24;
    bool show_eta = true;  // a progress bar's
  };
  std::vector<std::string> metrics;
  std::vector<Chart> charts;
};
StatusLayout LayoutOf(const manifest::TerminalConfig& terminal);

// A run on a terminal (`entrenar train`, `entrenar logs --follow`): event lines scroll above one
// status line that is redrawn in place, with a progress bar, the loss and its sparkline, the step
// rate and an ETA. Alerts and warnings are highlighted (ANSI colour unless NO_COLOR is set).
class LiveView {
 public:
  // `width`: the terminal's columns; the status line is cut to fit (0: no limit). `refresh`:
  // the least time between two redraws of the status line (the last step is always drawn).
  LiveView(std::ostream& out, bool color, int width = 0,
           std::chrono::milliseconds refresh = std::chrono::milliseconds(100))
      : out_(out), color_(color), width_(width), refresh_(refresh) {
    SetLayout(LayoutOf(manifest::TerminalConfig{}));
  }

  void SetLayout(StatusLayout layout);

  enum class Tone { kPlain, kWarning, kAlert };
  // A line above the status line.
  void Line(const std::string& text, Tone tone = Tone::kPlain);
  // A training step: `time` is the event's UTC ISO-8601 time (the ETA's clock, so that replayed
  // history gives the same rate as live steps).
  void Step(std::int64_t step, std::int64_t total, std::int64_t epoch, double loss,
            const std::string& time);
  // A run bounded by a time budget: the time spent and the budget, both in seconds, as of the
  // next Step. The status line then shows them and the time left instead of a step count.
  void TimeBudget(double elapsed_seconds, double budget_seconds) {
    elapsed_ = elapsed_seconds, budget_ = budget_seconds;
  }
  // The metrics of a step (before its Step) or of a validation, for the layout's metrics and
  // sparklines. The training loss comes with Step.
  void Values(const std::map<std::string, double>& values);
  // A status line shown until the first step (the downloads before a run, DownloadStatus), at
  // most once per `refresh` unless `now`; "" clears it.
  void Transient(const std::string& status, bool now = false);
  // Leaves the last status line on screen.
  void Finish();

  // The status line as it would be drawn now (for tests).
  std::string Status() const;

 private:
  void Draw();
  void Progress(std::ostream& s) const;
  void Rate(std::ostream& s, const StatusLayout::Chart& bar) const;
  const double* Latest(const std::string& name, std::string* key) const;
  void Push(const std::string& key, double value);

  std::ostream& out_;
  bool color_;
  int width_;
  std::chrono::milliseconds refresh_;
  bool shown_ = false;
  std::int64_t step_ = 0, total_ = 0, epoch_ = 0;
  double elapsed_ = 0, budget_ = 0;
  StatusLayout layout_;
  std::size_t keep_ = 0;                  // values kept per sparkline key: the widest window
  std::set<std::string> traced_;          // the keys the sparklines may draw
  std::map<std::string, double> latest_;  // by key: train_loss, val_accuracy, ...
  std::map<std::string, std::deque<double>> history_;  // the newest last, for the sparklines
  std::int64_t first_step_ = -1;
  std::int64_t first_time_ = 0, last_time_ = 0;  // seconds since the epoch
  std::chrono::steady_clock::time_point drawn_{};
  std::string transient_;
};

// The status line of downloads under way: a bar of the bytes, the percentage, the bytes done and
// in all, the rate and the time left, e.g.
// `[██████··········] 45%  downloading 2 files: 117.0 MB of 260.0 MB, 35.2 MB/s, 00:04 left`.
// `total` 0: not known (no bar); `bytes_per_second` 0: no rate yet.
std::string DownloadStatus(std::int64_t done, std::int64_t total, double bytes_per_second,
                           std::size_t files);

// The progress fields a metric event carries beside its metrics, for the status line:
// `total_steps` (0 under a time budget), `elapsed_seconds` and `time_budget_seconds` (a time
// budget only). They are not metrics: the run's metric rows leave them out.
bool IsProgressValue(const std::string& key);

// The first `columns` characters (UTF-8 code points) of `text`.
std::string FitColumns(const std::string& text, int columns);

// "▁▂▄█": each value scaled between the smallest and the largest.
std::string Sparkline(const std::deque<double>& values);

}  // namespace entrenar::console
