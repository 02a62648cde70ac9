#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/formats/table.h"

namespace entrenar::formats {

// ---- reading Parquet as it is written in the wild --------------------------------------------

// What a Parquet column's cells hold once read. Physical types map onto four: BOOLEAN →
// kBoolean; INT32 / INT64 / INT96 (nanoseconds since 1970) → kInteger, with the logical types
// dates (days), timestamps and times (their unit) read as these numbers; FLOAT / DOUBLE /
// FLOAT16 and any DECIMAL → kDouble; BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY → kBytes (`text` when
// annotated as a UTF-8 string, an enum or JSON).
enum class ParquetKind { kBoolean, kInteger, kDouble, kBytes };

// One column of a Parquet file, all its row groups together. A flat column (a top-level field
// or a field of a struct, named by its dotted path: "image.bytes") has one cell per row; a list
// column ("tokens", a LIST of numbers or strings) has a list per row. Cells are stored by kind:
// `integers` for kBoolean (0/1) and kInteger, `doubles`, `bytes`; a null cell holds a zero or
// an empty string there.
struct ParquetColumn {
  std::string name;
  ParquetKind kind = ParquetKind::kInteger;
  bool text = false;  // kBytes annotated as UTF-8
  bool list = false;
  std::vector<std::uint8_t> valid;  // per row: 0 for a null cell (or a null list)
  // A list column's elements: row r's are [offsets[r], offsets[r + 1]); element_valid is per
  // element. Empty for a flat column.
  std::vector<std::uint64_t> offsets;
  std::vector<std::uint8_t> element_valid;
  std::vector<std::int64_t> integers;
  std::vector<double> doubles;
  std::vector<std::string> bytes;

  std::size_t rows() const { return valid.size(); }
};

struct ParquetTable {
  std::int64_t rows = 0;
  std::vector<ParquetColumn> columns;
};

struct ParquetReadOptions {
  // The columns to read, by top-level name or dotted path; empty reads all. Only these columns'
  // bytes are read from the file (a name not in the file is kNotFound, with the names that are).
  std::vector<std::string> columns;
  // Chooses the columns from the file's own (its column names, as ParquetColumn::name gives
  // them) once the footer is read; used instead of `columns` when set.
  std::function<std::vector<std::string>(const std::vector<std::string>&)> choose;
  // Refused (kResourceExhausted) past this many cells and list elements, all columns together.
  std::int64_t max_values = std::int64_t{1} << 28;
};

// Reads a Parquet file as written by pyarrow, DuckDB, Spark, parquet-mr and the Hugging Face Hub:
// UNCOMPRESSED / SNAPPY / GZIP / ZSTD pages, data pages v1 and v2, PLAIN, dictionary
// (PLAIN_DICTIONARY, RLE_DICTIONARY), RLE, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY,
// DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT values, RLE / bit-packed levels, any number of row
// groups, nullable and list columns and structs of those. Row group by row group and only the
// chosen columns' chunks, so memory is about the decoded columns, not the file. Errors name the
// file and the column: kDataLoss for a damaged file, kUnimplemented for valid Parquet outside
// this (a map, a list of lists, LZ4 or Brotli pages, encrypted files).
Result<ParquetTable> ReadParquetFile(const std::string& path,
                                     const ParquetReadOptions& options = {});
// The same over bytes in memory; `name` is the file named in errors.
Result<ParquetTable> ReadParquet(std::string_view bytes, const ParquetReadOptions& options = {},
                                 const std::string& name = "parquet");

// A ParquetTable as the data layer's text Table: numbers in their shortest exact form, booleans
// "true" / "false", strings and bytes as they are, a list as a JSON array ("[1,2,null]"); a
// null cell is missing. row_lines are the 1-based row numbers.
Table ParquetToTable(const ParquetTable& table, const std::string& file);

// ---- the metrics writer's subset ---------------------------------------------------------------

// One column of a flat numeric table: 64-bit integers or doubles, each cell possibly missing.
struct NumericColumn {
  std::string name;
  bool integer = false;  // INT64 (integer cells) rather than DOUBLE
  std::vector<std::optional<double>> values;
};

// Encodes equal-length columns as an Apache Parquet file: one row group, one Snappy-compressed
// PLAIN data page (v1) per column, every column OPTIONAL with RLE definition levels, the footer
// in the Thrift compact protocol. Returns kInvalidArgument for ragged or unnamed columns.
Result<std::string> EncodeParquet(const std::vector<NumericColumn>& columns);

// Reads a Parquet file's numeric columns (ReadParquet) as NumericColumns: integer and boolean
// columns as integers, the rest as doubles. Returns kUnimplemented, naming the column, for a
// string, bytes or list column.
Result<std::vector<NumericColumn>> DecodeParquet(const std::string& bytes);

// EncodeParquet written atomically to `path` (temporary name, then rename).
Status WriteParquetFile(const std::string& path, const std::vector<NumericColumn>& columns);

}  // namespace entrenar::formats
