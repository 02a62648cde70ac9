#include "entrenar/console/live_view.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <sstream>

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

std::string LiveView::Status() const {
  std::ostringstream s;
  const bool timed = budget_ > 0;
  if (total_ > 0 || timed) {
    const double done = std::clamp(
        timed ? elapsed_ / budget_ : static_cast<double>(step_) / static_cast<double>(total_), 0.0,
        1.0);
    const int filled = static_cast<int>(done * kBarWidth);
    s << "[";
    for (int i = 0; i < kBarWidth; ++i) s << (i < filled ? "█" : "·");
    s << "] " << std::setw(3) << static_cast<int>(done * 100) << "%  ";
    if (timed) {
      s << "step " << step_;
    } else {
      s << "step " << step_ << "/" << total_;
    }
  } else {
    s << "step " << step_;
  }
  s << "  epoch " << epoch_ << "  loss " << std::fixed << std::setprecision(4) << loss_ << " "
    << Sparkline(losses_);
  const std::int64_t elapsed = last_time_ - first_time_;
  const std::int64_t progressed = step_ - first_step_;
  const bool rated = elapsed > 0 && progressed > 0;
  const double rate = rated ? static_cast<double>(progressed) / static_cast<double>(elapsed) : 0;
  if (rated && (total_ > 0 || timed)) s << "  " << std::setprecision(1) << rate << " steps/s";
  if (timed) {
    const auto spent = static_cast<std::int64_t>(elapsed_);
    const auto left = static_cast<std::int64_t>(std::max(0.0, budget_ - elapsed_));
    s << "  " << Clock(spent) << " of " << Clock(static_cast<std::int64_t>(budget_)) << ", "
      << Clock(left) << " left";
  } else if (total_ > 0 && rated) {
    s << "  ETA " << Clock(static_cast<std::int64_t>(static_cast<double>(total_ - step_) / rate));
  }
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
  step_ = step, total_ = total, epoch_ = epoch, loss_ = loss;
  losses_.push_back(loss);
  if (losses_.size() > kSparkWidth) losses_.pop_front();
  const std::int64_t t = ParseTime(time);
  if (first_step_ < 0) first_step_ = step, first_time_ = t;
  last_time_ = t;
  // At most one redraw per `refresh_`, and always the last step.
  if (step == total || std::chrono::steady_clock::now() - drawn_ > refresh_) {
    Draw();
  }
}

void LiveView::Finish() {
  if (!shown_) return;
  Draw();
  out_ << "\n" << std::flush;
  shown_ = false;
}

}  // namespace entrenar::console
