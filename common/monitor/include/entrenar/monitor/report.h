#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "entrenar/monitor/metrics_table.h"
#include "entrenar/monitor/quality.h"

namespace entrenar::monitor {

// Everything a training report shows. Plain value type, filled by the caller from the run.
struct ReportInput {
  std::string name, version, description;
  std::string state;                                             // succeeded, halted, stopped
  std::vector<std::pair<std::string, std::string>> facts;        // steps, wall time, device, ...
  std::vector<std::pair<std::string, std::string>> environment;  // environment.yaml
  std::map<std::string, double> val, test;
  std::string best;  // "val_accuracy 0.98 at step 920 (checkpoints/step-920)", or empty
  struct Alert {
    std::int64_t step = 0;
    std::string condition, action, message;
  };
  std::vector<Alert> alerts;
  std::vector<std::string> classes;
  std::vector<std::vector<std::int64_t>> confusion;  // [true][predicted]
  std::string confusion_split;                       // "test" or "val"
  QualityScore quality;
  MetricTable metrics;
  std::string config_yaml;  // the resolved configuration
  std::string samples_svg;  // image data's contact sheet of sample predictions (samples.svg)
  bool include_plots = true;
};

// One line chart of several series over steps, as a standalone SVG element.
struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (step, value); non-finite values break lines
};
std::string LineChart(const std::string& title, const std::vector<ChartSeries>& series);

// The charts a report draws from the metrics: loss (train and validation), validation metrics,
// learning rate, throughput, system metrics; each only when it has data. Name -> SVG.
std::vector<std::pair<std::string, std::string>> ReportCharts(const ReportInput& in);

// A confusion matrix as an SVG heat map (rows: true class, columns: prediction).
std::string ConfusionChart(const std::vector<std::string>& classes,
                           const std::vector<std::vector<std::int64_t>>& m);

// report.md: charts referenced as plots/NAME.svg (the caller writes them from ReportCharts).
std::string RenderMarkdown(const ReportInput& in);
// report.html: one self-contained page (inline CSS and SVG, no script, nothing fetched).
std::string RenderHtml(const ReportInput& in);

}  // namespace entrenar::monitor
