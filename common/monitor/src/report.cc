// Training reports: Markdown and self-contained HTML with inline SVG charts.
#include "entrenar/monitor/report.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "html.h"

namespace entrenar::monitor {
namespace {

constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                   "#9467bd", "#8c564b", "#e377c2", "#17becf"};
constexpr double kWidth = 720, kHeight = 260, kLeft = 64, kRight = 16, kTop = 34, kBottom = 36;
constexpr std::size_t kMaxPoints = 800;

std::string Num(double v, int digits = 4) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
  return buf;
}

std::string Coord(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

struct Range {
  double lo = 0, hi = 0;
  void Widen() {
    if (hi > lo) return;
    const double pad = lo == 0 ? 1 : std::abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
};

// Every k-th point (and the last) so a chart holds about kMaxPoints per series; non-finite
// points are always kept, so the gaps they make stay visible.
std::vector<std::pair<double, double>> Thin(const std::vector<std::pair<double, double>>& p) {
  if (p.size() <= kMaxPoints) return p;
  const std::size_t k = (p.size() + kMaxPoints - 1) / kMaxPoints;
  std::vector<std::pair<double, double>> out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (i % k == 0 || !std::isfinite(p[i].second)) out.push_back(p[i]);
  }
  if (out.back() != p.back()) out.push_back(p.back());
  return out;
}

std::string Axes(const Range& x, const Range& y) {
  std::ostringstream s;
  const double w = kWidth - kLeft - kRight, h = kHeight - kTop - kBottom;
  s << "<g class=\"axes\" font-size=\"11\" fill=\"#444\">";
  for (int i = 0; i <= 4; ++i) {
    const double yv = y.lo + (y.hi - y.lo) * i / 4, py = kTop + h - h * i / 4;
    s << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + w << "\" y1=\"" << Coord(py) << "\" y2=\""
      << Coord(py) << "\" stroke=\"#e5e5e5\"/>";
    s << "<text x=\"" << kLeft - 6 << "\" y=\"" << Coord(py + 4) << "\" text-anchor=\"end\">"
      << Num(yv) << "</text>";
    double xv = x.lo + (x.hi - x.lo) * i / 4;
    if (x.hi - x.lo >= 8) xv = std::round(xv);  // steps
    const double px = kLeft + w * i / 4;
    s << "<text x=\"" << Coord(px) << "\" y=\"" << kHeight - kBottom + 16
      << "\" text-anchor=\"middle\">" << Num(xv, 6) << "</text>";
  }
  s << "<text x=\"" << kLeft + w / 2 << "\" y=\"" << kHeight - 4
    << "\" text-anchor=\"middle\">step</text></g>";
  return s.str();
}

}  // namespace

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '&':
        out += "&amp;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string LineChart(const std::string& title, const std::vector<ChartSeries>& series) {
  Range x{INFINITY, -INFINITY}, y{INFINITY, -INFINITY};
  std::size_t points = 0;
  for (const ChartSeries& s : series) {
    for (const auto& [px, py] : s.points) {
      if (!std::isfinite(py)) continue;
      x = {std::min(x.lo, px), std::max(x.hi, px)};
      y = {std::min(y.lo, py), std::max(y.hi, py)};
    }
  }
  if (!std::isfinite(x.lo)) x = y = Range{0, 1};
  x.Widen();
  y.Widen();
  const double w = kWidth - kLeft - kRight, h = kHeight - kTop - kBottom;
  std::ostringstream svg;
  std::ostringstream lines, legend;
  double legend_x = kLeft;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % std::size(kColors)];
    std::string segment;
    std::size_t in_segment = 0;
    auto flush = [&] {
      if (in_segment > 0) {
        lines << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"1.5\" points=\""
              << segment << "\"/>";
        points += in_segment;
      }
      segment.clear();
      in_segment = 0;
    };
    for (const auto& [px, py] : Thin(series[i].points)) {
      if (!std::isfinite(py)) {
        flush();
        continue;
      }
      const double cx = kLeft + w * (px - x.lo) / (x.hi - x.lo);
      const double cy = kTop + h - h * (py - y.lo) / (y.hi - y.lo);
      segment += (segment.empty() ? "" : " ") + Coord(cx) + "," + Coord(cy);
      ++in_segment;
    }
    flush();
    legend << "<rect x=\"" << Coord(legend_x) << "\" y=\"20\" width=\"10\" height=\"10\" fill=\""
           << color << "\"/><text x=\"" << Coord(legend_x + 14) << "\" y=\"29\">"
           << HtmlEscape(series[i].name) << "</text>";
    legend_x += 24 + 7 * static_cast<double>(series[i].name.size());
  }
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 " << kWidth << " "
      << kHeight << "\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" role=\"img\" aria-label=\"" << HtmlEscape(title) << "\" data-points=\"" << points
      << "\" font-family=\"sans-serif\">";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>";
  svg << "<text x=\"" << kLeft << "\" y=\"14\" font-size=\"13\" font-weight=\"bold\">"
      << HtmlEscape(title) << "</text>";
  svg << "<g font-size=\"11\">" << legend.str() << "</g>" << Axes(x, y) << lines.str() << "</svg>";
  return svg.str();
}

std::vector<std::pair<std::string, std::string>> ReportCharts(const ReportInput& in) {
  std::vector<std::pair<std::string, std::string>> charts;
  auto add = [&](const std::string& name, const std::string& title,
                 const std::vector<std::string>& columns) {
    std::vector<ChartSeries> series;
    for (const std::string& c : columns) {
      auto points = in.metrics.Points(c);
      if (!points.empty()) series.push_back({c, std::move(points)});
    }
    if (!series.empty()) charts.emplace_back(name, LineChart(title, series));
  };
  add("loss", "Loss", {"train_loss", "val_loss"});
  std::vector<std::string> val;
  for (const std::string& c : in.metrics.columns) {
    if (c.rfind("val_", 0) == 0 && c != "val_loss") val.push_back(c);
  }
  add("validation", "Validation metrics", val);
  add("learning_rate", "Learning rate", {"learning_rate"});
  add("throughput", "Throughput (samples/s)", {"samples_per_second"});
  add("cpu", "CPU (%)", {"cpu_percent"});
  add("memory", "Memory (MiB)", {"memory_mb", "gpu_memory_mb"});
  add("gpu", "GPU utilization (%)", {"gpu_utilization"});
  add("gradients", "Gradient norm", {"grad_norm"});
  if (!in.confusion.empty())
    charts.emplace_back("confusion", ConfusionChart(in.classes, in.confusion));
  if (!in.samples_svg.empty()) charts.emplace_back("samples", in.samples_svg);
  return charts;
}

std::string ConfusionChart(const std::vector<std::string>& classes,
                           const std::vector<std::vector<std::int64_t>>& m) {
  const double cell =
      std::clamp(360.0 / static_cast<double>(std::max<std::size_t>(m.size(), 1)), 18.0, 48.0);
  const double left = 70, top = 40, size = cell * static_cast<double>(m.size());
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"confusion\" width=\""
      << left + size + 10 << "\" height=\"" << top + size + 30
      << "\" role=\"img\" aria-label=\"Confusion matrix\" "
      << "font-family=\"sans-serif\" font-size=\"11\">";
  svg << "<text x=\"" << left << "\" y=\"14\" font-size=\"13\" font-weight=\"bold\">"
      << "Confusion matrix (rows: true class, columns: predicted)</text>";
  for (std::size_t t = 0; t < m.size(); ++t) {
    std::int64_t total = 0;
    for (std::int64_t n : m[t]) total += n;
    const std::string label = t < classes.size() ? classes[t] : std::to_string(t);
    svg << "<text x=\"" << left - 6 << "\" y=\"" << Coord(top + cell * (t + 0.5) + 4)
        << "\" text-anchor=\"end\">" << HtmlEscape(label) << "</text>";
    svg << "<text x=\"" << Coord(left + cell * (t + 0.5)) << "\" y=\"" << top - 6
        << "\" text-anchor=\"middle\">" << HtmlEscape(label) << "</text>";
    for (std::size_t p = 0; p < m[t].size(); ++p) {
      const double share = total ? static_cast<double>(m[t][p]) / static_cast<double>(total) : 0;
      const int shade = static_cast<int>(255 - 200 * share);
      svg << "<rect class=\"cell\" x=\"" << Coord(left + cell * p) << "\" y=\""
          << Coord(top + cell * t) << "\" width=\"" << Coord(cell) << "\" height=\"" << Coord(cell)
          << "\" fill=\"rgb(" << shade << "," << shade << ",255)\" stroke=\"#fff\"/>";
      svg << "<text x=\"" << Coord(left + cell * (p + 0.5)) << "\" y=\""
          << Coord(top + cell * (t + 0.5) + 4) << "\" text-anchor=\"middle\" fill=\""
          << (share > 0.6 ? "#fff" : "#222") << "\">" << m[t][p] << "</text>";
    }
  }
  svg << "</svg>";
  return svg.str();
}

}  // namespace entrenar::monitor
