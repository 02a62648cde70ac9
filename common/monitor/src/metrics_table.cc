// A run's metric rows as columns, filtered and exported as CSV, JSON or Parquet.
#include "entrenar/monitor/metrics_table.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "entrenar/base/files.h"
#include "entrenar/formats/parquet.h"

namespace entrenar::monitor {
namespace {

bool IsIntegerColumn(const std::string& name) { return name == "step" || name == "epoch"; }

// Shortest text that reads back as the same double.
std::string Number(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
  char buf[32];
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof(buf), "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string Csv(const MetricTable& t) {
  std::ostringstream out;
  for (std::size_t c = 0; c < t.columns.size(); ++c) out << (c ? "," : "") << t.columns[c];
  out << "\n";
  for (const auto& row : t.rows) {
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (c) out << ",";
      if (row[c]) out << Number(*row[c]);
    }
    out << "\n";
  }
  return out.str();
}

std::string Json(const MetricTable& t) {
  std::ostringstream out;
  out << "[";
  for (std::size_t r = 0; r < t.rows.size(); ++r) {
    out << (r ? ",\n " : "\n ") << "{";
    bool first = true;
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      const auto& v = t.rows[r][c];
      if (!v) continue;
      out << (first ? "" : ", ") << "\"" << t.columns[c]
          << "\": " << (std::isfinite(*v) ? Number(*v) : "null");
      first = false;
    }
    out << "}";
  }
  out << "\n]\n";
  return out.str();
}

}  // namespace

std::optional<std::size_t> MetricTable::ColumnIndex(const std::string& name) const {
  const auto it = std::find(columns.begin(), columns.end(), name);
  if (it == columns.end()) return std::nullopt;
  return static_cast<std::size_t>(it - columns.begin());
}

std::vector<double> MetricTable::Values(const std::string& name) const {
  std::vector<double> out;
  const auto c = ColumnIndex(name);
  if (!c) return out;
  for (const auto& row : rows) {
    if (row[*c]) out.push_back(*row[*c]);
  }
  return out;
}

std::vector<std::pair<double, double>> MetricTable::Points(const std::string& name) const {
  std::vector<std::pair<double, double>> out;
  const auto c = ColumnIndex(name);
  const auto s = ColumnIndex("step");
  if (!c || !s) return out;
  for (const auto& row : rows) {
    if (row[*c] && row[*s]) out.emplace_back(*row[*s], *row[*c]);
  }
  return out;
}

MetricTable SelectColumns(const MetricTable& t, const std::vector<std::string>& include,
                          std::vector<std::string>* unmatched) {
  if (include.empty()) return t;
  std::vector<bool> keep(t.columns.size(), false);
  for (std::size_t c = 0; c < t.columns.size(); ++c) keep[c] = IsIntegerColumn(t.columns[c]);
  for (const std::string& want : include) {
    bool matched = false;
    for (std::size_t c = 0; c < t.columns.size(); ++c) {
      const std::string& name = t.columns[c];
      if (name == want || name == "val_" + want || name == "test_" + want) {
        keep[c] = true;
        matched = true;
      }
    }
    if (!matched && unmatched) unmatched->push_back(want);
  }
  MetricTable out;
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    if (keep[c]) out.columns.push_back(t.columns[c]);
  }
  for (const auto& row : t.rows) {
    std::vector<std::optional<double>> kept;
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (keep[c]) kept.push_back(row[c]);
    }
    out.rows.push_back(std::move(kept));
  }
  return out;
}

Status WriteMetrics(const MetricTable& t, MetricsFormat format, const std::string& path) {
  switch (format) {
    case MetricsFormat::kCsv:
      return WriteFileAtomic(path, Csv(t));
    case MetricsFormat::kJson:
      return WriteFileAtomic(path, Json(t));
    case MetricsFormat::kParquet: {
      std::vector<formats::NumericColumn> columns;
      for (std::size_t c = 0; c < t.columns.size(); ++c) {
        formats::NumericColumn col{t.columns[c], IsIntegerColumn(t.columns[c]), {}};
        for (const auto& row : t.rows) col.values.push_back(row[c]);
        columns.push_back(std::move(col));
      }
      return formats::WriteParquetFile(path, columns);
    }
  }
  return Internal("unknown metrics format");
}

}  // namespace entrenar::monitor
