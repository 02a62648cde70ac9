// A Parquet file of flat numeric columns. Properties: no crash; every column has as many values
// as the first.

#include <string>

#include "entrenar/formats/parquet.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::formats;
  Result<std::vector<NumericColumn>> columns = DecodeParquet(entrenar::fuzz::AsString(data, size));
  if (!columns.ok() || columns->empty()) return 0;
  for (const NumericColumn& c : *columns) {
    FUZZ_CHECK(c.values.size() == columns->front().values.size());
  }
  return 0;
}
