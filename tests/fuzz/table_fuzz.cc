// A data file as users write them: the first byte picks CSV, TSV, JSON Lines or a JSON array,
// the rest is the file. Properties: no crash; a table that parses is rectangular, with a line
// for every row.

#include <string>

#include "entrenar/formats/table.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  if (size == 0) return 0;
  using namespace entrenar::formats;
  const std::string text = entrenar::fuzz::AsString(data + 1, size - 1);
  Result<Table> t = [&] {
    switch (data[0] % 4) {
      case 0:
        return ParseDelimited(text, ',', "fuzz.csv");
      case 1:
        return ParseDelimited(text, '\t', "fuzz.tsv");
      case 2:
        return ParseJsonLines(text, "fuzz.jsonl");
      default:
        return ParseJsonArray(text, "fuzz.json");
    }
  }();
  if (!t.ok()) {
    FUZZ_CHECK(!t.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(t->row_lines.size() == t->rows.size());
  for (const auto& row : t->rows) {
    FUZZ_CHECK(row.size() == t->columns.size());
    for (const auto& cell : row) {
      if (cell) (void)ParseNumber(*cell);
    }
  }
  return 0;
}
