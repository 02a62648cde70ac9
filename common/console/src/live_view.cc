#include "entrenar/console/live_view.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <sstream>
#include <utility>

#include "entrenar/manifest/metric_names.h"

namespace entrenar::console {
namespace {

constexpr std::size_t kSparkWidth = 24;
constexpr int kBarWidth = 24;

// "2026-11-24T17:10:38Z" -> seconds since the epoch (0 when unreadable).
std::int64_t ParseTime(const std::string& iso) {
  std::tm tm{};
  std::istringstream in(iso);
  in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (in.fail()) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

// A metric's value: four decimals, one for large values, three digits for tiny ones (1e-05).
std::string Number(double v) {
  std::ostringstream out;
  const double a = std::fabs(v);
  if (v == 0 || (a >= 0.01 && a < 1000)) {
    out << std::fixed << std::setprecision(4) << v;
  } else if (a >= 1000 && a < 1e7) {
    out << std::fixed << std::setprecision(1) << v;
  } else {
    out << std::setprecision(3) << v;
  }
  return out.str();
}

std::string Clock(std::int64_t seconds) {
  std::ostringstream out;
  out << std::setfill('0');
  if (seconds >= 3600) out << seconds / 3600 << ":" << std::setw(2);
  out << std::setw(2) << (seconds / 60) % 60 << ":" << std::setw(2) << seconds % 60;
  return out.str();
}

}  // namespace

bool IsProgressValue(const std::string& key) {
  return key == "total_steps" || key == "elapsed_seconds" || key == "time_budget_seconds";
}

std::string FitColumns(const std::string& text, int columns) {
  int seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    // A code point starts at every byte that is not a UTF-8 continuation byte.
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && seen++ == columns) {
      return text.substr(0, i);
    }
  }
  return text;
}

std::string Sparkline(const std::deque<double>& values) {
  static const char* const kBlocks[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (values.empty()) return "";
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  std::string out;
  for (double v : values) {
    const double span = *hi - *lo;
    const int level =
        span > 0 && std::isfinite(span) ? static_cast<int>(std::lround((v - *lo) / span * 7)) : 3;
    out += kBlocks[std::clamp(level, 0, 7)];
  }
  return out;
}

StatusLayout LayoutOf(const manifest::TerminalConfig& terminal) {
  StatusLayout layout;
  layout.metrics = terminal.metrics.empty() ? std::vector<std::string>{"loss"} : terminal.metrics;
  if (terminal.charts.empty()) {
    layout.charts = {{true, "", kSparkWidth, true}, {false, "loss", kSparkWidth, true}};
  }
  for (const manifest::ChartConfig& c : terminal.charts) {
    StatusLayout::Chart chart;
    chart.progress = c.type == "progress";
    chart.metric = c.metric.value_or("loss");
    chart.window = static_cast<std::size_t>(std::max<std::int64_t>(1, c.window));
    chart.show_eta = c.show_eta;
    layout.charts.push_back(chart);
  }
  return layout;
}

void LiveView::SetLayout(StatusLayout layout) {
  layout_ = std::move(layout);
  keep_ = 0;
  traced_.clear();
  for (const StatusLayout::Chart& c : layout_.charts) {
    if (c.progress) continue;
    keep_ = std::max(keep_, c.window);
    traced_.insert({manifest::StepMetricKey(c.metric), c.metric, "val_" + c.metric});
  }
}

void LiveView::Values(const std::map<std::string, double>& values) {
  for (const auto& [key, value] : values) {
    if (key == "train_loss" || IsProgressValue(key)) continue;  // Step gives the loss
    latest_[key] = value;
    Push(key, value);
  }
}

void LiveView::Push(const std::string& key, double value) {
  if (!traced_.count(key)) return;
  std::deque<double>& h = history_[key];
  h.push_back(value);
  while (h.size() > keep_) h.pop_front();
}

// A metric by the name the manifest gives it: a step's (`loss`, `lr`), else a validation's.
const double* LiveView::Latest(const std::string& name, std::string* key) const {
  for (const std::string& k : {manifest::StepMetricKey(name), name, "val_" + name}) {
    if (auto it = latest_.find(k); it != latest_.end()) {
      *key = k;
      return &it->second;
    }
  }
  *key = manifest::StepMetricKey(name);
  return nullptr;
}

void LiveView::Progress(std::ostream& s) const {
  const double done = std::clamp(
      budget_ > 0 ? elapsed_ / budget_ : static_cast<double>(step_) / static_cast<double>(total_),
      0.0, 1.0);
  const int filled = static_cast<int>(done * kBarWidth);
  s << "[";
  for (int i = 0; i < kBarWidth; ++i) s << (i < filled ? "█" : "·");
  s << "] " << std::setw(3) << static_cast<int>(done * 100) << "%  ";
}

// The step rate and the time left (a time budget: the time spent and left).
void LiveView::Rate(std::ostream& s, const StatusLayout::Chart& bar) const {
  const std::int64_t elapsed = last_time_ - first_time_;
  const std::int64_t progressed = step_ - first_step_;
  const bool rated = elapsed > 0 && progressed > 0;
  const double rate = rated ? static_cast<double>(progressed) / static_cast<double>(elapsed) : 0;
  if (rated) s << "  " << std::fixed << std::setprecision(1) << rate << " steps/s";
  if (budget_ > 0) {
    const auto left = static_cast<std::int64_t>(std::max(0.0, budget_ - elapsed_));
    s << "  " << Clock(static_cast<std::int64_t>(elapsed_)) << " of "
      << Clock(static_cast<std::int64_t>(budget_));
    if (bar.show_eta) s << ", " << Clock(left) << " left";
  } else if (rated && bar.show_eta) {
    s << "  ETA " << Clock(static_cast<std::int64_t>(static_cast<double>(total_ - step_) / rate));
  }
}

std::string LiveView::Status() const {
  if (!transient_.empty() && first_step_ < 0) return transient_;
  std::ostringstream s;
  const bool known = total_ > 0 || budget_ > 0;
  const auto bar = std::find_if(layout_.charts.begin(), layout_.charts.end(),
                                [](const StatusLayout::Chart& c) { return c.progress; });
  const bool barred = bar != layout_.charts.end() && known;
  if (barred) Progress(s);
  s << "step " << step_;
  if (total_ > 0) s << "/" << total_;
  s << "  epoch " << epoch_;
  auto spark = [&](const std::string& key, std::size_t window) {
    const auto it = history_.find(key);
    if (it == history_.end()) return std::string();
    const std::deque<double>& h = it->second;
    return Sparkline(std::deque<double>(h.end() - std::min(window, h.size()), h.end()));
  };
  std::vector<bool> drawn(layout_.charts.size(), false);
  for (const std::string& name : layout_.metrics) {
    std::string key;
    const double* v = Latest(name, &key);
    s << "  " << name << " " << (v ? Number(*v) : "-");
    for (std::size_t i = 0; i < layout_.charts.size(); ++i) {
      const StatusLayout::Chart& c = layout_.charts[i];
      if (c.progress || c.metric != name || drawn[i]) continue;
      s << " " << spark(key, c.window);
      drawn[i] = true;
    }
  }
  for (std::size_t i = 0; i < layout_.charts.size(); ++i) {
    const StatusLayout::Chart& c = layout_.charts[i];
    if (c.progress || drawn[i]) continue;
    std::string key;
    Latest(c.metric, &key);
    s << "  " << c.metric << " " << spark(key, c.window);
  }
  if (barred) Rate(s, *bar);
  return s.str();
}

void LiveView::Draw() {
  // One column short of the width, so the terminal never wraps the line it redraws.
  const std::string status = width_ > 1 ? FitColumns(Status(), width_ - 1) : Status();
  out_ << "\r\033[K" << status << std::flush;
  shown_ = true;
  drawn_ = std::chrono::steady_clock::now();
}

void LiveView::Line(const std::string& text, Tone tone) {
  if (shown_) out_ << "\r\033[K";
  if (color_ && tone != Tone::kPlain) {
    out_ << (tone == Tone::kAlert ? "\033[1;31m" : "\033[33m") << text << "\033[0m\n";
  } else {
    out_ << text << "\n";
  }
  if (shown_) Draw();
  out_.flush();
}

void LiveView::Step(std::int64_t step, std::int64_t total, std::int64_t epoch, double loss,
                    const std::string& time) {
  step_ = step, total_ = total, epoch_ = epoch;
  latest_["train_loss"] = loss;
  Push("train_loss", loss);
  const std::int64_t t = ParseTime(time);
  if (first_step_ < 0) first_step_ = step, first_time_ = t;
  last_time_ = t;
  // At most one redraw per `refresh_`, and always the last step.
  if (step == total || std::chrono::steady_clock::now() - drawn_ > refresh_) {
    Draw();
  }
}

void LiveView::Transient(const std::string& status, bool now) {
  transient_ = status;
  if (status.empty()) {
    if (shown_ && first_step_ < 0) out_ << "\r\033[K" << std::flush;
    shown_ = shown_ && first_step_ >= 0;
    return;
  }
  if (first_step_ < 0 && (now || std::chrono::steady_clock::now() - drawn_ > refresh_)) Draw();
}

namespace {

// Bytes in kB, MB or GB, one decimal.
std::string Size(double bytes) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(1);
  if (bytes >= 1e9) {
    s << bytes / 1e9 << " GB";
  } else if (bytes >= 1e6) {
    s << bytes / 1e6 << " MB";
  } else {
    s << bytes / 1e3 << " kB";
  }
  return s.str();
}

}  // namespace

std::string DownloadStatus(std::int64_t done, std::int64_t total, double bytes_per_second,
                           std::size_t files) {
  std::ostringstream s;
  if (total > 0) {
    const double part =
        std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0);
    const int filled = static_cast<int>(part * kBarWidth);
    s << "[";
    for (int i = 0; i < kBarWidth; ++i) s << (i < filled ? "█" : "·");
    s << "] " << std::setw(3) << static_cast<int>(part * 100) << "%  ";
  }
  s << "downloading " << files << (files == 1 ? " file: " : " files: ")
    << Size(static_cast<double>(done));
  if (total > 0) s << " of " << Size(static_cast<double>(total));
  if (bytes_per_second > 0) {
    s << ", " << Size(bytes_per_second) << "/s";
    if (total > done) {  // at most 99 999 hours: a server may declare any size
      const double left = static_cast<double>(total - done) / bytes_per_second + 0.5;
      s << ", " << Clock(static_cast<std::int64_t>(std::min(left, 359'999'999.0))) << " left";
    }
  }
  return s.str();
}

void LiveView::Finish() {
  if (!shown_) return;
  Draw();
  out_ << "\n" << std::flush;
  shown_ = false;
}

}  // namespace entrenar::console
