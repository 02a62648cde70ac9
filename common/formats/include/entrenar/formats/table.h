#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::formats {

// A table of raw cells as read from a CSV, TSV, JSONL or JSON file. Cells stay text: the data
// layer, which knows which columns must be numeric, converts them and reports bad ones with the
// row's source line. Plain value type.
struct Table {
  std::string file;
  std::vector<std::string> columns;
  std::vector<std::vector<std::optional<std::string>>> rows;  // nullopt: a missing value
  std::vector<int> row_lines;  // the 1-based source line (JSON array: record number) of each row

  // The index of `name` in `columns`, or nullopt. A linear search: for many lookups in a wide
  // table, a ColumnLookup.
  std::optional<std::size_t> ColumnIndex(std::string_view name) const;
};

// The positions of column names, hashed once: a lookup costs the same for ten columns or a
// hundred thousand (a search per lookup made wide tables quadratic: 50,000 columns took 10 s).
class ColumnLookup {
 public:
  explicit ColumnLookup(const std::vector<std::string>& columns);
  // The index of `name`, or nullopt.
  std::optional<std::size_t> Find(const std::string& name) const;
  // The first name given twice, if any (its first position wins).
  const std::optional<std::string>& twice() const { return twice_; }

 private:
  std::unordered_map<std::string, std::size_t> index_;
  std::optional<std::string> twice_;
};

enum class TableFormat { kCsv, kTsv, kJsonl, kJson, kParquet };

// The format named by a manifest's `data.format` ("csv", "tsv", "jsonl", "json", "parquet"), or
// for "auto" the one the file extension names. Returns kUnimplemented for formats entrenar cannot
// read yet (arrow, ald) and kInvalidArgument for an unknown extension.
Result<TableFormat> ResolveTableFormat(std::string_view format, std::string_view path);

// Parses delimited text (RFC 4180 quoting; CRLF and a UTF-8 BOM accepted; an empty unquoted field
// is missing). Returns kInvalidArgument, naming `file` and the line, for an empty file, a header
// with duplicate or empty names, a ragged row, or an unterminated quote.
Result<Table> ParseDelimited(std::string_view text, char separator, const std::string& file);

// Parses one JSON object per line (blank lines skipped), or a JSON array of objects. Every record
// has the keys of the first; a missing key or null is a missing value; numbers, strings and
// booleans become text. Returns kInvalidArgument with the line (record) for malformed JSON, a
// record that is not an object, nested values, or unknown keys.
Result<Table> ParseJsonLines(std::string_view text, const std::string& file);
Result<Table> ParseJsonArray(std::string_view text, const std::string& file);

// Picks the columns a reader needs from a file's column names (an empty list: all of them).
using ColumnChooser =
    std::function<std::vector<std::string>(const std::vector<std::string>& columns)>;

// Reads `path` in `format`. A Parquet file is read as ParquetToTable gives it, and only the
// columns `choose` picks (when set): its other columns' bytes are never read. The text formats
// are read whole. Returns kNotFound for a missing file.
Result<Table> ReadTable(const std::string& path, TableFormat format,
                        const ColumnChooser& choose = {});

// The number in a cell ("3", "-1.5e-3", " 2 "), or nullopt when it is not one.
std::optional<double> ParseNumber(std::string_view cell);

}  // namespace entrenar::formats
