// report.md and report.html from the same sections.
#include <cmath>
#include <sstream>

#include "entrenar/monitor/report.h"

#include "html.h"

namespace entrenar::monitor {
namespace {

constexpr const char* kComponents[] = {"convergence", "stability", "efficiency", "generalization",
                                       "reproducibility"};

// Markdown table cells: pipes escaped, newlines flattened.
std::string Cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string Score(const std::optional<double>& v) {
  if (!v) return "not measured";
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%.1f", *v);
  return buf;
}

std::vector<std::pair<std::string, std::string>> ResultRows(const ReportInput& in) {
  std::vector<std::pair<std::string, std::string>> rows;
  for (const auto& [k, v] : in.val) rows.emplace_back(k, Num(v));
  for (const auto& [k, v] : in.test) rows.emplace_back(k, Num(v));
  return rows;
}

std::string Title(const ReportInput& in) {
  return "Training report: " + in.name + (in.version.empty() ? "" : " " + in.version);
}

}  // namespace

std::string RenderMarkdown(const ReportInput& in) {
  std::ostringstream md;
  md << "# " << Title(in) << "\n\n";
  if (!in.description.empty()) md << in.description << "\n\n";
  md << "| | |\n|---|---|\n| state | " << in.state << " |\n";
  for (const auto& [k, v] : in.facts) md << "| " << Cell(k) << " | " << Cell(v) << " |\n";
  md << "\n## Quality: " << in.quality.grade << " (" << Score(in.quality.score) << "/100)\n\n";
  md << "| component | score | basis |\n|---|---|---|\n";
  for (const char* c : kComponents) {
    const QualityComponent& q = in.quality.components.at(c);
    md << "| " << c << " | " << Score(q.value) << " | " << Cell(q.basis) << " |\n";
  }
  const auto results = ResultRows(in);
  if (!results.empty()) {
    md << "\n## Results\n\n| metric | value |\n|---|---|\n";
    for (const auto& [k, v] : results) md << "| " << k << " | " << v << " |\n";
  }
  if (!in.best.empty()) md << "\nBest checkpoint: " << in.best << "\n";
  md << "\n## Alerts\n\n";
  if (in.alerts.empty()) md << "No alert fired.\n";
  if (!in.alerts.empty()) md << "| step | action | condition | message |\n|---|---|---|---|\n";
  for (const auto& a : in.alerts) {
    md << "| " << a.step << " | " << a.action << " | `" << Cell(a.condition) << "` | "
       << Cell(a.message) << " |\n";
  }
  if (in.include_plots) {
    md << "\n## Charts\n\n";
    for (const auto& [name, svg] : ReportCharts(in)) {
      md << "![" << name << "](plots/" << name << ".svg)\n\n";
    }
  }
  if (!in.confusion.empty()) {
    md << "\n## Confusion matrix (" << in.confusion_split
       << ": rows are true classes, columns predictions)\n\n|  |";
    for (const auto& c : in.classes) md << " " << Cell(c) << " |";
    md << "\n|---|";
    for (std::size_t i = 0; i < in.classes.size(); ++i) md << "---|";
    md << "\n";
    for (std::size_t t = 0; t < in.confusion.size(); ++t) {
      md << "| **" << Cell(t < in.classes.size() ? in.classes[t] : std::to_string(t)) << "** |";
      for (std::int64_t n : in.confusion[t]) md << " " << n << " |";
      md << "\n";
    }
  }
  md << "\n## Configuration (resolved)\n\n```yaml\n" << in.config_yaml << "```\n";
  md << "\n## Environment\n\n| | |\n|---|---|\n";
  for (const auto& [k, v] : in.environment) md << "| " << Cell(k) << " | " << Cell(v) << " |\n";
  return md.str();
}

std::string RenderHtml(const ReportInput& in) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    << "<title>" << HtmlEscape(Title(in)) << "</title><style>"
    << "body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;"
    << "color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;"
    << "padding:.25em .6em;text-align:left}th{background:#f4f4f4}pre{background:#f7f7f7;"
    << "padding:1em;overflow:auto}.grade{font-size:2em;font-weight:bold}svg{display:block;"
    << "margin:1em 0;max-width:100%;height:auto}.halted{color:#b00}"
    << "</style></head><body>\n";
  h << "<h1>" << HtmlEscape(Title(in)) << "</h1>\n";
  if (!in.description.empty()) h << "<p>" << HtmlEscape(in.description) << "</p>\n";
  h << "<table><tr><th>state</th><td class=\"" << HtmlEscape(in.state) << "\">"
    << HtmlEscape(in.state) << "</td></tr>";
  for (const auto& [k, v] : in.facts)
    h << "<tr><th>" << HtmlEscape(k) << "</th><td>" << HtmlEscape(v) << "</td></tr>";
  h << "</table>\n<h2>Quality</h2>\n<p><span class=\"grade\">" << HtmlEscape(in.quality.grade)
    << "</span> " << Score(in.quality.score) << "/100</p>\n";
  h << "<table><tr><th>component</th><th>score</th><th>basis</th></tr>";
  for (const char* c : kComponents) {
    const QualityComponent& q = in.quality.components.at(c);
    h << "<tr><td>" << c << "</td><td>" << Score(q.value) << "</td><td>" << HtmlEscape(q.basis)
      << "</td></tr>";
  }
  h << "</table>\n";
  const auto results = ResultRows(in);
  if (!results.empty()) {
    h << "<h2>Results</h2>\n<table><tr><th>metric</th><th>value</th></tr>";
    for (const auto& [k, v] : results)
      h << "<tr><td>" << HtmlEscape(k) << "</td><td>" << v << "</td></tr>";
    h << "</table>\n";
  }
  if (!in.best.empty()) h << "<p>Best checkpoint: " << HtmlEscape(in.best) << "</p>\n";
  h << "<h2>Alerts</h2>\n";
  if (in.alerts.empty()) h << "<p>No alert fired.</p>\n";
  if (!in.alerts.empty()) {
    h << "<table><tr><th>step</th><th>action</th><th>condition</th><th>message</th></tr>";
    for (const auto& a : in.alerts) {
      h << "<tr><td>" << a.step << "</td><td>" << HtmlEscape(a.action) << "</td><td><code>"
        << HtmlEscape(a.condition) << "</code></td><td>" << HtmlEscape(a.message) << "</td></tr>";
    }
    h << "</table>\n";
  }
  if (in.include_plots) {
    h << "<h2>Charts</h2>\n";
    for (const auto& [name, svg] : ReportCharts(in)) h << svg << "\n";
  }
  h << "<h2>Configuration (resolved)</h2>\n<pre>" << HtmlEscape(in.config_yaml) << "</pre>\n";
  h << "<h2>Environment</h2>\n<table>";
  for (const auto& [k, v] : in.environment) {
    h << "<tr><th>" << HtmlEscape(k) << "</th><td>" << HtmlEscape(v) << "</td></tr>";
  }
  h << "</table>\n</body></html>\n";
  return h.str();
}

}  // namespace entrenar::monitor
