#include "entrenar/formats/table.h"

#include <fstream>

#include <catch2/catch.hpp>

#include "temp_dir.h"

namespace entrenar::formats {
namespace {

TEST_CASE("CSV with quotes, CRLF, a BOM and missing values is parsed", "[unit][formats]") {
  Result<Table> t = ParseDelimited(
      "\xEF\xBB\xBF"
      "a,b,name\r\n1,2.5,\"x, y\"\r\n3,,\"say \"\"hi\"\"\"\r\n\r\n4,5,\"two\nlines\"\n",
      ',', "d.csv");
  REQUIRE(t.ok());
  CHECK(t->columns == std::vector<std::string>{"a", "b", "name"});
  REQUIRE(t->rows.size() == 3);
  CHECK(*t->rows[0][2] == "x, y");
  CHECK_FALSE(t->rows[1][1]);  // empty unquoted field: missing
  CHECK(*t->rows[1][2] == "say \"hi\"");
  CHECK(*t->rows[2][2] == "two\nlines");
  CHECK(t->row_lines == std::vector<int>{2, 3, 5});
}

TEST_CASE("Malformed delimited files are reported with file and line", "[unit][formats]") {
  auto error = [](const std::string& text) {
    Result<Table> t = ParseDelimited(text, ',', "d.csv");
    REQUIRE_FALSE(t.ok());
    CHECK(t.status().code() == StatusCode::kInvalidArgument);
    return t.status().message();
  };
  CHECK(error("") == "d.csv:1: the file is empty (expected a header row)");
  CHECK(error("a,b\n") == "d.csv:1: the file has a header but no rows");
  CHECK(error("a,b\n1,2\n3\n") == "d.csv:3: expected 2 fields as in the header, found 1");
  CHECK(error("a,a\n1,2\n") == "d.csv:1: the header names column `a` twice");
  CHECK(error("a,\n1,2\n") == "d.csv:1: column 2 of the header has no name");
  CHECK(error("a,b\n1,\"open\n") == "d.csv:2: a quoted field is never closed");
  // A Latin-1 label: refused where it is, before any row is used (it failed at the run's end).
  CHECK(error("x,label\n1,caf\xe9\n") ==
        "d.csv:2: column 6: byte 0xE9 is not UTF-8 text; save the file as UTF-8 (e.g. `iconv -f "
        "latin1 -t utf-8`)");
}

TEST_CASE("ColumnLookup finds every column of a wide table and the first name given twice",
          "[unit][formats]") {
  std::vector<std::string> columns;
  for (int i = 0; i < 100000; ++i) columns.push_back("f" + std::to_string(i));
  const ColumnLookup lookup(columns);
  CHECK_FALSE(lookup.twice());
  CHECK(lookup.Find("f0") == 0u);
  CHECK(lookup.Find("f99999") == 99999u);
  CHECK_FALSE(lookup.Find("f100000"));
  columns.push_back("f7");
  columns.push_back("f3");
  CHECK(ColumnLookup(columns).twice() == "f7");
  CHECK(ColumnLookup(columns).Find("f7") == 7u);
  // A JSON Lines table as wide: every field of every record lands in its column.
  std::string header = "{", row = "{";
  for (int i = 0; i < 20000; ++i) {
    header += (i ? ",\"c" : "\"c") + std::to_string(i) + "\":" + std::to_string(i);
    row += (i ? ",\"c" : "\"c") + std::to_string(19999 - i) + "\":" + std::to_string(i);
  }
  Result<Table> t = ParseJsonLines(header + "}\n" + row + "}\n", "wide.jsonl");
  REQUIRE(t.ok());
  REQUIRE(t->columns.size() == 20000);
  CHECK(*t->rows[1][0] == "19999");
  CHECK(*t->rows[1][19999] == "0");
}

TEST_CASE("TSV uses tabs", "[unit][formats]") {
  Result<Table> t = ParseDelimited("x\ty\n1\t2\n", '\t', "d.tsv");
  REQUIRE(t.ok());
  CHECK(*t->rows[0][1] == "2");
}

TEST_CASE("JSON lines and JSON arrays become tables", "[unit][formats]") {
  Result<Table> l = ParseJsonLines(
      "{\"x\": 1.5, \"label\": \"cat\"}\n\n{\"label\": \"dog\", \"x\": null}\n", "d.jsonl");
  REQUIRE(l.ok());
  CHECK(l->columns == std::vector<std::string>{"x", "label"});
  CHECK(*l->rows[0][0] == "1.5");
  CHECK_FALSE(l->rows[1][0]);
  CHECK(*l->rows[1][1] == "dog");
  CHECK(l->row_lines == std::vector<int>{1, 3});

  Result<Table> a =
      ParseJsonArray("[{\"x\": 1, \"ok\": true}, {\"x\": 2, \"ok\": false}]", "d.json");
  REQUIRE(a.ok());
  CHECK(*a->rows[1][1] == "false");

  CHECK(ParseJsonLines("{\"x\": 1}\n{\"y\": 2}\n", "d.jsonl").status().message() ==
        "d.jsonl:2: field `y` is not in the first record (`x`)");
  CHECK(ParseJsonLines("{\"x\": 1}\n{bad\n", "d.jsonl").status().message() ==
        "d.jsonl:2: not valid JSON");
  CHECK(ParseJsonLines("{\"x\": [1]}\n", "d.jsonl").status().message() ==
        "d.jsonl:1: field `x` is nested; tables need flat values");
  CHECK(ParseJsonArray("{\"x\": 1}", "d.json").status().message() ==
        "d.json:1: expected a JSON array of records");
}

TEST_CASE("Formats are resolved from data.format or the extension", "[unit][formats]") {
  CHECK(*ResolveTableFormat("auto", "a/b.csv") == TableFormat::kCsv);
  CHECK(*ResolveTableFormat("auto", "b.TSV") == TableFormat::kTsv);
  CHECK(*ResolveTableFormat("auto", "b.jsonl") == TableFormat::kJsonl);
  CHECK(*ResolveTableFormat("json", "b.txt") == TableFormat::kJson);
  CHECK(*ResolveTableFormat("auto", "b.parquet") == TableFormat::kParquet);
  CHECK(ResolveTableFormat("auto", "b.arrow").status().code() == StatusCode::kUnimplemented);
  CHECK(ResolveTableFormat("auto", "dir.d/file").status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("ReadTable reads the UCI digits file shipped with the examples", "[unit][formats]") {
  Result<Table> t =
      ReadTable(std::string(ENTRENAR_SOURCE_DIR) + "/examples/data/digits.csv", TableFormat::kCsv);
  REQUIRE(t.ok());
  CHECK(t->rows.size() == 1797);
  CHECK(t->columns.size() == 65);
  CHECK(t->columns.back() == "label");
  CHECK(ReadTable("/nonexistent.csv", TableFormat::kCsv).status().code() == StatusCode::kNotFound);
}

TEST_CASE("ParseNumber accepts numbers only", "[unit][formats]") {
  CHECK(*ParseNumber("3") == 3);
  CHECK(*ParseNumber(" -1.5e-3 ") == -1.5e-3);
  CHECK(*ParseNumber("+2") == 2);
  CHECK_FALSE(ParseNumber("abc"));
  CHECK_FALSE(ParseNumber("1.5x"));
  CHECK_FALSE(ParseNumber(""));
  CHECK_FALSE(ParseNumber("inf"));
}

}  // namespace
}  // namespace entrenar::formats
