// What a ParquetTable becomes for its readers: the data layer's text Table, and the metrics
// tables' NumericColumns.
#include <charconv>
#include <cmath>

#include <nlohmann/json.hpp>

#include "entrenar/formats/parquet.h"

namespace entrenar::formats {
namespace {

std::string Number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string Integer(std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// Cell `i` of the column's storage as text.
std::string Cell(const ParquetColumn& c, std::size_t i) {
  switch (c.kind) {
    case ParquetKind::kBoolean:
      return c.integers[i] ? "true" : "false";
    case ParquetKind::kInteger:
      return Integer(c.integers[i]);
    case ParquetKind::kDouble:
      return Number(c.doubles[i]);
    case ParquetKind::kBytes:
      return c.bytes[i];
  }
  return "";
}

// Element `i` of a list column appended to `out` as JSON.
void AppendElement(const ParquetColumn& c, std::size_t i, std::string* out) {
  if (!c.element_valid[i]) {
    *out += "null";
    return;
  }
  switch (c.kind) {
    case ParquetKind::kBoolean:
      *out += c.integers[i] ? "true" : "false";
      return;
    case ParquetKind::kInteger:
      *out += Integer(c.integers[i]);
      return;
    case ParquetKind::kDouble:  // JSON has no NaN or infinity: null, as JSON.stringify writes
      *out += std::isfinite(c.doubles[i]) ? Number(c.doubles[i]) : "null";
      return;
    case ParquetKind::kBytes:
      *out +=
          nlohmann::json(c.bytes[i]).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
  }
}

std::string ListCell(const ParquetColumn& c, std::size_t row) {
  std::string out = "[";
  for (std::uint64_t i = c.offsets[row]; i < c.offsets[row + 1]; ++i) {
    if (i > c.offsets[row]) out += ',';
    AppendElement(c, static_cast<std::size_t>(i), &out);
  }
  return out + "]";
}

}  // namespace

Table ParquetToTable(const ParquetTable& table, const std::string& file) {
  Table t;
  t.file = file;
  const auto rows = static_cast<std::size_t>(table.rows);
  for (const ParquetColumn& c : table.columns) t.columns.push_back(c.name);
  t.rows.assign(rows, std::vector<std::optional<std::string>>(table.columns.size()));
  t.row_lines.resize(rows);
  for (std::size_t r = 0; r < rows; ++r) t.row_lines[r] = static_cast<int>(r + 1);
  for (std::size_t r = 0; r < rows; ++r) {  // row by row: each row's cells are written together
    auto& row = t.rows[r];
    for (std::size_t j = 0; j < table.columns.size(); ++j) {
      const ParquetColumn& c = table.columns[j];
      if (r >= c.rows() || !c.valid[r]) continue;
      row[j] = c.list ? ListCell(c, r) : Cell(c, r);
    }
  }
  return t;
}

Result<std::vector<NumericColumn>> DecodeParquet(const std::string& bytes) {
  ENTRENAR_ASSIGN_OR_RETURN(const ParquetTable table, ReadParquet(bytes));
  std::vector<NumericColumn> out;
  for (const ParquetColumn& c : table.columns) {
    if (c.list || c.kind == ParquetKind::kBytes)
      return Unimplemented("parquet: column " + c.name + " is not numeric");
    NumericColumn n{c.name, c.kind != ParquetKind::kDouble, {}};
    for (std::size_t r = 0; r < c.rows(); ++r) {
      if (!c.valid[r]) {
        n.values.emplace_back();
      } else {
        n.values.emplace_back(n.integer ? static_cast<double>(c.integers[r]) : c.doubles[r]);
      }
    }
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace entrenar::formats
