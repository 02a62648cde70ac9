// The Parquet reader against files an independent writer made: DuckDB (tests/formats/
// parquet_duckdb.mjs) writes one table with every codec and both data page versions, and says
// what each cell is; every cell read back must be that.
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/formats/parquet.h"
#include "entrenar/formats/table.h"

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::formats {
namespace {

using nlohmann::json;

// DuckDB's files in `dir` and its account of them.
json WriteWithDuckDb(const std::string& dir, int rows) {
  const auto r =
      testing::RunProcess({"/usr/bin/env", "node",
                           std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/parquet_duckdb.mjs",
                           dir, std::to_string(rows)},
                          "", 120);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

std::string Hex(const std::string& bytes) {
  static const char* const kDigits = "0123456789ABCDEF";
  std::string out;
  for (const char c : bytes) {
    out += kDigits[static_cast<unsigned char>(c) >> 4];
    out += kDigits[static_cast<unsigned char>(c) & 15];
  }
  return out;
}

// The table's cell for DuckDB's key (the struct's fields are "image.bytes", "image.path").
const std::optional<std::string>& CellOf(const Table& t, const ColumnLookup& lookup,
                                         std::size_t row, const std::string& key) {
  std::string name = key;
  if (key == "image_bytes") name = "image.bytes";
  if (key == "image_path") name = "image.path";
  const auto col = lookup.Find(name);
  REQUIRE(col.has_value());
  return t.rows[row][*col];
}

void CheckCell(const std::optional<std::string>& cell, const json& want, const std::string& key) {
  INFO(key << ": read " << (cell ? *cell : "(null)") << ", DuckDB says " << want.dump());
  REQUIRE(cell.has_value() == !want.is_null());
  if (!cell) return;
  if (key == "image_bytes") {
    CHECK(Hex(*cell) == want.get<std::string>());
  } else if (want.is_boolean()) {
    CHECK(*cell == (want.get<bool>() ? "true" : "false"));
  } else if (want.is_array()) {
    CHECK(json::parse(*cell) == want);
  } else if (want.is_number()) {
    const std::optional<double> v = ParseNumber(*cell);
    REQUIRE(v.has_value());
    CHECK(*v == want.get<double>());
  } else {
    CHECK(*cell == want.get<std::string>());
  }
}

TEST_CASE("every cell of DuckDB's Parquet files reads back, with every codec and page version",
          "[unit][formats]") {
  testing::TempDir dir;
  const json duck = WriteWithDuckDb(dir.path, 5000);
  const json& rows = duck["rows"];
  REQUIRE(rows.size() == 5000);
  std::set<std::string> encodings;
  for (const json& f : duck["files"]) {
    const std::string path = dir.path + "/" + f["name"].get<std::string>();
    INFO(path);
    for (const json& e : f["encodings"]) encodings.insert(e.get<std::string>());
    Result<ParquetTable> read = ReadParquetFile(path);
    REQUIRE(read.ok());
    CHECK(read->rows == 5000);
    const Table t = ParquetToTable(*read, path);
    REQUIRE(t.rows.size() == rows.size());
    const ColumnLookup lookup(t.columns);
    for (std::size_t r = 0; r < rows.size(); ++r) {
      for (const auto& [key, want] : rows[r].items())
        CheckCell(CellOf(t, lookup, r, key), want, key);
    }
  }
  // The files exercise what the reader claims: if DuckDB stopped writing an encoding, this says
  // so rather than leaving it untested.
  for (const char* e : {"PLAIN", "PLAIN_DICTIONARY", "RLE_DICTIONARY", "DELTA_BINARY_PACKED",
                        "DELTA_LENGTH_BYTE_ARRAY", "BYTE_STREAM_SPLIT"}) {
    INFO(e);
    CHECK(encodings.count(e) == 1);
  }
}

TEST_CASE("Parquet columns read as their kinds, and only the columns asked for",
          "[unit][formats]") {
  testing::TempDir dir;
  WriteWithDuckDb(dir.path, 3000);
  const std::string path = dir.path + "/zstd_v2.parquet";
  Result<ParquetTable> all = ReadParquetFile(path);
  REQUIRE(all.ok());
  std::map<std::string, const ParquetColumn*> by_name;
  for (const ParquetColumn& c : all->columns) by_name[c.name] = &c;
  CHECK(by_name.at("id")->kind == ParquetKind::kInteger);
  CHECK(by_name.at("f64")->kind == ParquetKind::kDouble);
  CHECK(by_name.at("price")->kind == ParquetKind::kDouble);  // DECIMAL(10, 2)
  CHECK(by_name.at("flag")->kind == ParquetKind::kBoolean);
  CHECK(by_name.at("species")->kind == ParquetKind::kBytes);
  CHECK(by_name.at("species")->text);
  CHECK_FALSE(by_name.at("image.bytes")->text);
  CHECK(by_name.at("tokens")->list);
  CHECK(by_name.at("tokens")->offsets.size() == 3001);

  ParquetReadOptions some;
  some.columns = {"tokens", "image"};
  Result<ParquetTable> two = ReadParquetFile(path, some);
  REQUIRE(two.ok());
  REQUIRE(two->columns.size() == 3);
  CHECK(two->columns[0].name == "tokens");
  CHECK(two->columns[1].name == "image.bytes");
  CHECK(two->columns[2].name == "image.path");

  // A chooser sees the file's column names (a struct's fields by path, a list by its name) and
  // picks from them once the footer is read.
  ParquetReadOptions chooser;
  std::vector<std::string> seen;
  chooser.choose = [&seen](const std::vector<std::string>& have) {
    seen = have;
    return std::vector<std::string>{"species", "id"};
  };
  Result<ParquetTable> chosen = ReadParquetFile(path, chooser);
  REQUIRE(chosen.ok());
  CHECK(seen == std::vector<std::string>{"id", "i32", "i8", "i16", "f32", "f64", "flag", "species",
                                         "uniq", "day", "ts", "price", "tokens", "image.bytes",
                                         "image.path"});
  REQUIRE(chosen->columns.size() == 2);
  CHECK(chosen->columns[0].name == "id");  // in the file's order
  CHECK(chosen->columns[1].name == "species");

  some.columns = {"specis"};
  const Status missing = ReadParquetFile(path, some).status();
  CHECK(missing.code() == StatusCode::kNotFound);
  CHECK_THAT(missing.message(), Catch::Contains("has no column `specis`") &&
                                    Catch::Contains("did you mean `species`"));

  some.columns = {"id"};
  some.max_values = 100;
  CHECK(ReadParquetFile(path, some).status().code() == StatusCode::kResourceExhausted);
}

TEST_CASE("data.format parquet reads through ReadTable", "[unit][formats]") {
  testing::TempDir dir;
  WriteWithDuckDb(dir.path, 100);
  Result<TableFormat> format = ResolveTableFormat("auto", dir.path + "/snappy_v1.parquet");
  REQUIRE(format.ok());
  CHECK(*format == TableFormat::kParquet);
  Result<Table> t = ReadTable(dir.path + "/snappy_v1.parquet", *format);
  REQUIRE(t.ok());
  CHECK(t->rows.size() == 100);
  CHECK(t->columns[0] == "id");
  CHECK(t->rows[42][0] == "42");
  CHECK(ReadTable(dir.path + "/none.parquet", *format).status().code() == StatusCode::kNotFound);
}

TEST_CASE("damaged Parquet files are errors naming the file, never a crash", "[unit][formats]") {
  testing::TempDir dir;
  WriteWithDuckDb(dir.path, 2500);
  for (const char* name : {"snappy_v1.parquet", "zstd_v2.parquet", "gzip_v2.parquet"}) {
    const std::string path = dir.path + "/" + name;
    const std::string bytes = *ReadWholeFile(path);
    const auto expect_named_error = [&](const std::string& damaged, const std::string& what) {
      INFO(name << ": " << what);
      const Result<ParquetTable> r = ReadParquet(damaged, {}, "the-file");
      if (r.ok()) return;  // a flip in a value's bytes changes the value, not the file's shape
      CHECK_THAT(r.status().message(), Catch::StartsWith("the-file"));
      CHECK(r.status().code() != StatusCode::kInternal);
    };
    // A truncated footer, a cut file, absurd lengths and flipped bytes throughout.
    CHECK(ReadParquet(bytes.substr(0, bytes.size() - 5)).status().code() == StatusCode::kDataLoss);
    CHECK(ReadParquet(bytes.substr(0, bytes.size() / 2) + bytes.substr(bytes.size() - 8))
              .status()
              .code() == StatusCode::kDataLoss);
    std::string absurd = bytes;
    absurd[absurd.size() - 5] = '\x7f';  // a footer length of about 2 GiB
    CHECK(ReadParquet(absurd).status().code() == StatusCode::kDataLoss);
    // ~300 flips per file (the fuzz target `parquet` does the rest, far longer).
    const std::size_t step = bytes.size() / 300 + 1;
    for (std::size_t at = 4; at + 8 < bytes.size(); at += step) {
      std::string damaged = bytes;
      damaged[at] = static_cast<char>(damaged[at] ^ 0x5a);
      expect_named_error(damaged, "byte " + std::to_string(at) + " flipped");
    }
  }
}

}  // namespace
}  // namespace entrenar::formats
