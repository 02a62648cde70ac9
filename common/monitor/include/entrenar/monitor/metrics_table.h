#pragma once

#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::monitor {

// A run's logged rows (one per optimizer step, validation values on the step they follow) as
// numeric columns. Plain value type.
struct MetricTable {
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<double>>> rows;  // rows[i][c]: column c, nullopt: absent

  std::optional<std::size_t> ColumnIndex(const std::string& name) const;
  // Column `name`'s present values, in row order (empty when there is no such column).
  std::vector<double> Values(const std::string& name) const;
  // (step, value) pairs of column `name` where present.
  std::vector<std::pair<double, double>> Points(const std::string& name) const;
};

// The columns `include` (output.metrics.include) keeps: step and epoch always, then each entry
// matching a column exactly or as its val_/test_ form ("accuracy" keeps val_accuracy), in the
// table's order. An empty `include` keeps everything. Entries matching nothing are put in
// `unmatched`.
MetricTable SelectColumns(const MetricTable& t, const std::vector<std::string>& include,
                          std::vector<std::string>* unmatched);

enum class MetricsFormat { kCsv, kJson, kParquet };

// Writes the table atomically: CSV (header, empty cells for absent values), a JSON array of
// objects (absent values left out, non-finite ones null), or Parquet (step and epoch INT64,
// the rest DOUBLE).
Status WriteMetrics(const MetricTable& t, MetricsFormat format, const std::string& path);

}  // namespace entrenar::monitor
