#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <ostream>
#include <string>

namespace entrenar::console {

// A run on a terminal (`entrenar train`, `entrenar logs --follow`): event lines scroll above one
// status line that is redrawn in place, with a progress bar, the loss and its sparkline, the step
// rate and an ETA. Alerts and warnings are highlighted (ANSI colour unless NO_COLOR is set).
class LiveView {
 public:
  // `width`: the terminal's columns; the status line is cut to fit (0: no limit). `refresh`:
  // the least time between two redraws of the status line (the last step is always drawn).
  LiveView(std::ostream& out, bool color, int width = 0,
           std::chrono::milliseconds refresh = std::chrono::milliseconds(100))
      : out_(out), color_(color), width_(width), refresh_(refresh) {}

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
  // Leaves the last status line on screen.
  void Finish();

  // The status line as it would be drawn now (for tests).
  std::string Status() const;

 private:
  void Draw();

  std::ostream& out_;
  bool color_;
  int width_;
  std::chrono::milliseconds refresh_;
  bool shown_ = false;
  std::int64_t step_ = 0, total_ = 0, epoch_ = 0;
  double loss_ = 0;
  double elapsed_ = 0, budget_ = 0;
  std::deque<double> losses_;  // the newest last, for the sparkline
  std::int64_t first_step_ = -1;
  std::int64_t first_time_ = 0, last_time_ = 0;  // seconds since the epoch
  std::chrono::steady_clock::time_point drawn_{};
};

// The progress fields a metric event carries beside its metrics, for the status line:
// `total_steps` (0 under a time budget), `elapsed_seconds` and `time_budget_seconds` (a time
// budget only). They are not metrics: the run's metric rows leave them out.
bool IsProgressValue(const std::string& key);

// The first `columns` characters (UTF-8 code points) of `text`.
std::string FitColumns(const std::string& text, int columns);

// "▁▂▄█": each value scaled between the smallest and the largest.
std::string Sparkline(const std::deque<double>& values);

}  // namespace entrenar::console
