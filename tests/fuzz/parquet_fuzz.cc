// A Parquet file (footer, schema tree, row groups, pages in every codec and encoding the reader
// takes). Properties: no crash; an error names the file; a table that reads has every column as
// long as the table, list offsets that rise to the element count, storage of the right size,
// and converts to a rectangular text table.

#include <string>

#include "entrenar/formats/parquet.h"

#include "fuzz.h"

namespace {

using namespace entrenar::formats;

void CheckColumn(const ParquetColumn& c, std::size_t rows) {
  FUZZ_CHECK(c.rows() == rows);
  std::size_t cells = rows;
  if (c.list) {
    FUZZ_CHECK(c.offsets.size() == rows + 1 && c.offsets.front() == 0);
    for (std::size_t r = 0; r < rows; ++r) FUZZ_CHECK(c.offsets[r] <= c.offsets[r + 1]);
    cells = c.offsets.back();
    FUZZ_CHECK(c.element_valid.size() == cells);
  }
  const std::size_t stored = c.kind == ParquetKind::kDouble  ? c.doubles.size()
                             : c.kind == ParquetKind::kBytes ? c.bytes.size()
                                                             : c.integers.size();
  FUZZ_CHECK(stored == cells);
}

}  // namespace

ENTRENAR_FUZZ_TARGET {
  ParquetReadOptions options;
  options.max_values = 1 << 20;  // a fuzzer's input must not be allowed a gigabyte of cells
  Result<ParquetTable> table =
      ReadParquet(entrenar::fuzz::AsString(data, size), options, "fuzz.parquet");
  if (!table.ok()) {
    FUZZ_CHECK(table.status().message().rfind("fuzz.parquet", 0) == 0);
    return 0;
  }
  for (const ParquetColumn& c : table->columns)
    CheckColumn(c, static_cast<std::size_t>(table->rows));
  const Table text = ParquetToTable(*table, "fuzz.parquet");
  FUZZ_CHECK(text.rows.size() == static_cast<std::size_t>(table->rows));
  for (const auto& row : text.rows) FUZZ_CHECK(row.size() == text.columns.size());
  return 0;
}
