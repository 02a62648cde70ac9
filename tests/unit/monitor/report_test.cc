#include "entrenar/monitor/report.h"

#include <cmath>

#include <catch2/catch.hpp>

#include "entrenar/base/files.h"
#include "entrenar/monitor/metrics_table.h"

#include "temp_dir.h"

namespace entrenar::monitor {
namespace {

std::size_t Count(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (auto at = s.find(part); at != std::string::npos; at = s.find(part, at + 1)) ++n;
  return n;
}

MetricTable Table() {
  MetricTable t;
  t.columns = {"step", "epoch", "train_loss", "learning_rate", "val_loss", "val_accuracy"};
  for (int i = 1; i <= 10; ++i) {
    std::vector<std::optional<double>> row = {i,   1 + (i - 1) / 5, 1.0 / i,
                                              0.1, std::nullopt,    std::nullopt};
    if (i % 5 == 0) {
      row[4] = 2.0 / i;
      row[5] = 0.5 + i / 100.0;
    }
    t.rows.push_back(row);
  }
  return t;
}

TEST_CASE("line charts: one polyline per finite run, at most 800 points", "[unit][monitor]") {
  ChartSeries s{"loss <&>", {}};
  for (int i = 0; i < 5000; ++i) s.points.emplace_back(i, i == 2500 ? NAN : 1.0 / (i + 1));
  const std::string svg = LineChart("Loss", {s});
  CHECK(Count(svg, "<polyline") == 2);  // broken at the NaN, which thinning keeps
  CHECK(svg.find("loss &lt;&amp;&gt;") != std::string::npos);
  const auto at = svg.find("data-points=\"");
  REQUIRE(at != std::string::npos);
  const int points = std::stoi(svg.substr(at + 13));
  CHECK(points <= 801);
  CHECK(points >= 700);
  // A constant series still draws (its range is widened), and no data draws no line.
  CHECK(Count(LineChart("lr", {{"lr", {{1, 0.1}, {2, 0.1}}}}), "<polyline") == 1);
  CHECK(Count(LineChart("none", {}), "<polyline") == 0);
}

TEST_CASE("report charts come from the columns that have data", "[unit][monitor]") {
  ReportInput in;
  in.metrics = Table();
  std::vector<std::string> names;
  for (const auto& [name, svg] : ReportCharts(in)) names.push_back(name);
  CHECK(names == std::vector<std::string>{"loss", "validation", "learning_rate"});
  in.classes = {"a", "b"};
  in.confusion = {{3, 1}, {0, 4}};
  const auto charts = ReportCharts(in);
  REQUIRE(charts.back().first == "confusion");
  CHECK(Count(charts.back().second, "class=\"cell\"") == 4);
}

TEST_CASE("markdown and html reports carry the run's facts and escape text", "[unit][monitor]") {
  ReportInput in;
  in.name = "run<1>";
  in.state = "halted";
  in.metrics = Table();
  in.quality = ComputeQuality({});
  in.alerts.push_back({7, "loss > 10", "halt", "a | b"});
  in.config_yaml = "name: \"x\"\n";
  const std::string md = RenderMarkdown(in);
  CHECK(md.find("| 7 | halt | `loss > 10` | a \\| b |") != std::string::npos);
  CHECK(md.find("![loss](plots/loss.svg)") != std::string::npos);
  CHECK(md.find("| reproducibility | not measured |") != std::string::npos);
  const std::string html = RenderHtml(in);
  CHECK(html.find("<title>Training report: run&lt;1&gt;</title>") != std::string::npos);
  CHECK(html.find("<code>loss &gt; 10</code>") != std::string::npos);
  CHECK(Count(html, "<svg") == 3);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // nothing fetched
  in.include_plots = false;
  CHECK(Count(RenderHtml(in), "<svg") == 0);
}

TEST_CASE("include keeps step, epoch and the named metrics", "[unit][monitor]") {
  std::vector<std::string> unmatched;
  const MetricTable kept = SelectColumns(Table(), {"accuracy", "train_loss", "nope"}, &unmatched);
  CHECK(kept.columns == std::vector<std::string>{"step", "epoch", "train_loss", "val_accuracy"});
  CHECK(unmatched == std::vector<std::string>{"nope"});
  CHECK(kept.rows[4][3] == Approx(0.55));
  CHECK(SelectColumns(Table(), {}, nullptr).columns.size() == 6);
}

TEST_CASE("metrics export as csv and json keeps every value exactly", "[unit][monitor]") {
  testing::TempDir dir;
  MetricTable t = Table();
  t.rows[0][2] = 0.1 + 0.2;  // needs 17 digits
  t.rows[1][2] = INFINITY;
  REQUIRE(WriteMetrics(t, MetricsFormat::kCsv, dir.path + "/m.csv").ok());
  REQUIRE(WriteMetrics(t, MetricsFormat::kJson, dir.path + "/m.json").ok());
  const std::string csv = *ReadWholeFile(dir.path + "/m.csv");
  CHECK(csv.rfind("step,epoch,train_loss,learning_rate,val_loss,val_accuracy\n1,1,"
                  "0.30000000000000004,0.1,,\n2,1,inf,0.1,,\n",
                  0) == 0);
  const std::string json = *ReadWholeFile(dir.path + "/m.json");
  CHECK(json.find("{\"step\": 2, \"epoch\": 1, \"train_loss\": null, \"learning_rate\": 0.1}") !=
        std::string::npos);
  CHECK(json.find("\"val_loss\": 0.4, \"val_accuracy\": 0.55}") != std::string::npos);
}

}  // namespace
}  // namespace entrenar::monitor
