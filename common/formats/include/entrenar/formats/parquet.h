#pragma once

#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::formats {

// One column of a flat numeric table: 64-bit integers or doubles, each cell possibly missing.
struct NumericColumn {
  std::string name;
  bool integer = false;  // INT64 (integer cells) rather than DOUBLE
  std::vector<std::optional<double>> values;
};

// Encodes equal-length columns as an Apache Parquet file: one row group, one uncompressed PLAIN
// data page (v1) per column, every column OPTIONAL with RLE definition levels, the footer in the
// Thrift compact protocol. Returns kInvalidArgument for ragged or unnamed columns.
Result<std::string> EncodeParquet(const std::vector<NumericColumn>& columns);

// Decodes what EncodeParquet writes (and any Parquet file limited to that subset: flat INT64 /
// DOUBLE / INT32 / FLOAT columns, uncompressed PLAIN v1 pages). Returns kDataLoss for a damaged
// file and kUnimplemented, naming the feature, for valid Parquet outside the subset.
Result<std::vector<NumericColumn>> DecodeParquet(const std::string& bytes);

// EncodeParquet written atomically to `path` (temporary name, then rename).
Status WriteParquetFile(const std::string& path, const std::vector<NumericColumn>& columns);

}  // namespace entrenar::formats
