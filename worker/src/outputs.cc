#include "outputs.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "entrenar/base/clock.h"
#include "entrenar/base/files.h"
#include "entrenar/base/version.h"
#include "entrenar/console/output.h"
#include "entrenar/engine/callbacks.h"
#include "entrenar/manifest/load.h"
#include "entrenar/monitor/report.h"
#include "entrenar/plan/support.h"
#include "entrenar/registry/registry.h"
#include "entrenar/run/layout.h"

namespace entrenar::worker {

namespace fs = std::filesystem;
using console::WriteOutput;
using nlohmann::ordered_json;

std::string EnvironmentYaml() {
  std::ostringstream out;
  out << "entrenar: \"" << Version() << "\"\n";
  out << "compiler: \"gcc " << __VERSION__ << "\"\n";
  for (const auto& [k, v] : engine::Environment()) out << k << ": \"" << v << "\"\n";
  return out.str();
}

nlohmann::ordered_json SummaryJson(const engine::TrainSummary& s) {
  ordered_json j = {{"steps", s.steps},
                    {"epochs", s.epochs},
                    {"wall_seconds", s.wall_seconds},
                    {"samples_per_second", s.samples_per_second},
                    {"parameters", s.parameters},
                    {"stopped", s.stopped},
                    {"halted", s.halted},
                    {"early_stopped", s.early_stopped},
                    {"ended", {{"reason", s.end_reason}, {"message", s.end_message}}}};
  if (!s.skipped_images.empty()) {
    j["skipped_images"] = {{"count", s.skipped_images.size()}, {"images", s.skipped_images}};
  }
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

monitor::QualityScore Quality(const monitor::MetricTable& t, const engine::TrainSummary& s) {
  monitor::QualityInput in;
  in.train_loss = t.Values("train_loss");
  in.samples_per_second = t.Values("step_samples_per_second");
  if (in.samples_per_second.empty()) {  // a run recorded before steps timed their own work
    in.samples_per_second = t.Values("samples_per_second");
    in.step_work = false;
  }
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

namespace {

// report.pdf: report.html printed by headless Chromium, under a temporary name, then renamed.
// Chromium's profile and output go to a scratch folder and logs/report.log.
bool PrintPdf(const std::string& dir) {
  const std::string html = fs::absolute(dir + "/report.html").lexically_normal().string();
  const std::string scratch = dir + "/.report-chromium";
  const std::string tmp = dir + "/.report.pdf.tmp";
  std::error_code ec;
  fs::create_directories(scratch, ec);
  const std::string home = fs::absolute(scratch).string();
  const engine::CommandResult r =
      engine::RunCommand({plan::ChromiumBinary(), "--headless", "--no-sandbox", "--disable-gpu",
                          "--no-pdf-header-footer", "--user-data-dir=" + home + "/profile",
                          "--print-to-pdf=" + fs::absolute(tmp).string(), "file://" + html},
                         "", {{"HOME", home}, {"XDG_CONFIG_HOME", home}, {"XDG_CACHE_HOME", home}},
                         std::chrono::seconds(120), dir + "/logs/report.log");
  fs::remove_all(scratch, ec);
  if (r.exit_code != 0 || !fs::exists(tmp) || fs::file_size(tmp, ec) == 0) {
    fs::remove(tmp, ec);
    std::cerr << "error: output.report: headless Chromium did not print report.pdf ("
              << (r.timed_out        ? "timed out"
                  : !r.error.empty() ? r.error
                                     : "see logs/report.log")
              << "); report.html is there\n";
    return false;
  }
  fs::rename(tmp, dir + "/report.pdf", ec);
  if (ec) std::cerr << "error: output.report: cannot write report.pdf: " << ec.message() << "\n";
  return !ec;
}

}  // namespace

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
  ReadLimits sheet_limits;
  sheet_limits.max_bytes = 16u << 20;
  if (Result<std::string> sheet = ReadWholeFile(run::Layout(dir).SamplesSheet(), sheet_limits);
      sheet.ok()) {
    in.samples_svg = *sheet;
  }
  in.include_plots = m.output.report.include_plots;
  if (in.include_plots) {
    std::error_code ec;
    fs::create_directories(dir + "/plots", ec);
    for (const auto& [name, svg] : monitor::ReportCharts(in)) {
      if (!WriteOutput(dir + "/plots/" + name + ".svg", svg + "\n")) return false;
    }
  }
  if (!WriteOutput(dir + "/report.md", monitor::RenderMarkdown(in))) return false;
  const std::string& format = m.output.report.format;
  if (format != "html" && format != "pdf") return true;
  if (!WriteOutput(dir + "/report.html", monitor::RenderHtml(in))) return false;
  return format != "pdf" || PrintPdf(dir);
}

bool Publish(const manifest::Manifest& m, const std::string& dir, const engine::TrainSummary& s,
             const monitor::QualityScore& quality) {
  const manifest::RegistryConfig& r = m.output.registry;
  Result<registry::Ref> ref =
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

}  // namespace entrenar::worker
