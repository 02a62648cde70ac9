#include "entrenar/formats/table.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"
#include "entrenar/formats/parquet.h"

namespace entrenar::formats {
namespace {

Status Bad(const std::string& file, int line, const std::string& message) {
  return InvalidArgument(file + ":" + std::to_string(line) + ": " + message);
}

Status CheckHeader(const std::vector<std::string>& columns, const std::string& file, int line) {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (Trim(columns[i]).empty()) {
      return Bad(file, line, "column " + std::to_string(i + 1) + " of the header has no name");
    }
  }
  if (const ColumnLookup lookup(columns); lookup.twice()) {
    return Bad(file, line, "the header names column `" + *lookup.twice() + "` twice");
  }
  return OkStatus();
}

// Splits delimited text into records of fields; `quoted[i]` says whether field i was quoted.
struct Record {
  std::vector<std::string> fields;
  std::vector<bool> quoted;
  int line = 0;
};

Result<std::vector<Record>> SplitRecords(std::string_view text, char sep, const std::string& file) {
  std::vector<Record> records;
  Record cur;
  std::string field;
  bool in_quotes = false, was_quoted = false, any = false;
  int line = 1, quote_line = 0;
  cur.line = 1;
  auto end_field = [&] {
    cur.fields.push_back(std::move(field));
    cur.quoted.push_back(was_quoted);
    field.clear();
    was_quoted = false;
  };
  auto end_record = [&] {
    end_field();
    const bool blank = cur.fields.size() == 1 && cur.fields[0].empty() && !cur.quoted[0];
    if (!blank) records.push_back(std::move(cur));
    cur = Record();
    cur.line = line;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    any = true;
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
    } else if (c == '"' && field.empty()) {
      in_quotes = was_quoted = true;
      quote_line = line;
    } else if (c == sep) {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++line;
      end_record();
    } else {
      field.push_back(c);
    }
  }
  if (in_quotes) return Bad(file, quote_line, "a quoted field is never closed");
  if (any && (!field.empty() || !cur.fields.empty() || was_quoted)) end_record();
  return records;
}

std::string JsonCell(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();  // numbers keep their JSON spelling
}

// Adds one parsed record; the first record fixes the columns.
// `columns` holds the first record's columns once there is one.
Status AddJsonRecord(Table& t, const nlohmann::ordered_json& rec, int line,
                     std::optional<ColumnLookup>& columns) {
  if (!rec.is_object()) return Bad(t.file, line, "expected a JSON object per record");
  if (t.columns.empty()) {
    for (auto it = rec.begin(); it != rec.end(); ++it) t.columns.push_back(it.key());
    if (t.columns.empty()) return Bad(t.file, line, "the first record has no fields");
    columns.emplace(t.columns);
  }
  std::vector<std::optional<std::string>> row(t.columns.size());
  for (auto it = rec.begin(); it != rec.end(); ++it) {
    const std::optional<std::size_t> col = columns->Find(it.key());
    if (!col) {
      return Bad(
          t.file, line,
          "field `" + it.key() + "` is not in the first record (" + JoinQuoted(t.columns) + ")");
    }
    if (it->is_object() || it->is_array()) {
      return Bad(t.file, line, "field `" + it.key() + "` is nested; tables need flat values");
    }
    if (!it->is_null()) row[*col] = JsonCell(*it);
  }
  t.rows.push_back(std::move(row));
  t.row_lines.push_back(line);
  return OkStatus();
}

std::string_view StripBom(std::string_view text) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  return text;
}

}  // namespace

ColumnLookup::ColumnLookup(const std::vector<std::string>& columns) {
  index_.reserve(columns.size());
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (!index_.emplace(columns[i], i).second && !twice_) twice_ = columns[i];
  }
}

std::optional<std::size_t> ColumnLookup::Find(const std::string& name) const {
  const auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::size_t> Table::ColumnIndex(std::string_view name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  return std::nullopt;
}

Result<TableFormat> ResolveTableFormat(std::string_view format, std::string_view path) {
  std::string f(format);
  if (f == "auto") {
    const std::size_t dot = path.find_last_of('.');
    const std::size_t slash = path.find_last_of('/');
    if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
      return InvalidArgument("cannot tell the format of `" + std::string(path) +
                             "` from its name; set data.format");
    }
    f = std::string(path.substr(dot + 1));
    for (char& c : f) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (f == "ndjson") f = "jsonl";
  }
  if (f == "csv") return TableFormat::kCsv;
  if (f == "tsv" || f == "tab") return TableFormat::kTsv;
  if (f == "jsonl") return TableFormat::kJsonl;
  if (f == "json") return TableFormat::kJson;
  if (f == "parquet") return TableFormat::kParquet;
  if (f == "arrow" || f == "ald") {
    return Unimplemented("reading " + f +
                         " files is not supported yet (use parquet, csv, tsv, jsonl or json)");
  }
  return InvalidArgument("unknown data format `" + f + "` of `" + std::string(path) +
                         "`; formats are parquet, csv, tsv, jsonl and json");
}

namespace {

// A table's text must be UTF-8 (its labels and names reach JSON files and the daemon): the first
// byte that is not is an error naming its line and column, found before any row is read.
Status CheckUtf8(std::string_view text, const std::string& file) {
  const std::optional<Utf8Error> bad = FirstUtf8Error(text);
  if (!bad) return OkStatus();
  return Bad(file, bad->line,
             "column " + std::to_string(bad->column) + ": byte " + bad->byte +
                 " is not UTF-8 text; save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)");
}

}  // namespace

Result<Table> ParseDelimited(std::string_view text, char separator, const std::string& file) {
  ENTRENAR_RETURN_IF_ERROR(CheckUtf8(text, file));
  ENTRENAR_ASSIGN_OR_RETURN(std::vector<Record> records,
                            SplitRecords(StripBom(text), separator, file));
  if (records.empty()) return Bad(file, 1, "the file is empty (expected a header row)");
  Table t;
  t.file = file;
  t.columns = records[0].fields;
  for (std::string& c : t.columns) c = std::string(Trim(c));
  ENTRENAR_RETURN_IF_ERROR(CheckHeader(t.columns, file, records[0].line));
  for (std::size_t r = 1; r < records.size(); ++r) {
    Record& rec = records[r];
    if (rec.fields.size() != t.columns.size()) {
      return Bad(file, rec.line,
                 "expected " + std::to_string(t.columns.size()) +
                     " fields as in the header, found " + std::to_string(rec.fields.size()));
    }
    std::vector<std::optional<std::string>> row(rec.fields.size());
    for (std::size_t i = 0; i < rec.fields.size(); ++i) {
      if (!rec.fields[i].empty() || rec.quoted[i]) row[i] = std::move(rec.fields[i]);
    }
    t.rows.push_back(std::move(row));
    t.row_lines.push_back(rec.line);
  }
  if (t.rows.empty()) return Bad(file, records[0].line, "the file has a header but no rows");
  return t;
}

Result<Table> ParseJsonLines(std::string_view text, const std::string& file) {
  Table t;
  t.file = file;
  std::istringstream in{std::string(StripBom(text))};
  std::string line;
  int n = 0;
  std::optional<ColumnLookup> columns;
  while (std::getline(in, line)) {
    ++n;
    if (Trim(line).empty()) continue;
    nlohmann::ordered_json rec =
        nlohmann::ordered_json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (rec.is_discarded()) return Bad(file, n, "not valid JSON");
    ENTRENAR_RETURN_IF_ERROR(AddJsonRecord(t, rec, n, columns));
  }
  if (t.rows.empty()) return Bad(file, 1, "the file has no records");
  return t;
}

Result<Table> ParseJsonArray(std::string_view text, const std::string& file) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(StripBom(text), nullptr, false);
  if (doc.is_discarded()) return Bad(file, 1, "not valid JSON");
  if (!doc.is_array()) return Bad(file, 1, "expected a JSON array of records");
  Table t;
  t.file = file;
  int n = 0;
  std::optional<ColumnLookup> columns;
  for (const nlohmann::ordered_json& rec : doc)
    ENTRENAR_RETURN_IF_ERROR(AddJsonRecord(t, rec, ++n, columns));
  if (t.rows.empty()) return Bad(file, 1, "the array has no records");
  return t;
}

Result<Table> ReadTable(const std::string& path, TableFormat format, const ColumnChooser& choose) {
  if (format == TableFormat::kParquet) {
    ParquetReadOptions options;
    options.choose = choose;
    ENTRENAR_ASSIGN_OR_RETURN(const ParquetTable table, ReadParquetFile(path, options));
    return ParquetToTable(table, path);
  }
  Result<std::string> read = ReadWholeFile(path);
  if (!read.ok() && read.status().code() == StatusCode::kNotFound) {
    return NotFound("data file not found: " + path);
  }
  ENTRENAR_ASSIGN_OR_RETURN(const std::string text, std::move(read));
  switch (format) {
    case TableFormat::kCsv:
      return ParseDelimited(text, ',', path);
    case TableFormat::kTsv:
      return ParseDelimited(text, '\t', path);
    case TableFormat::kJsonl:
      return ParseJsonLines(text, path);
    case TableFormat::kJson:
      return ParseJsonArray(text, path);
    case TableFormat::kParquet:
      break;
  }
  return Internal("unknown table format");
}

std::optional<double> ParseNumber(std::string_view cell) {
  cell = Trim(cell);
  if (!cell.empty() && cell.front() == '+') cell.remove_prefix(1);
  if (cell.empty()) return std::nullopt;
  double v = 0;
  const auto [ptr, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc() || ptr != cell.data() + cell.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

}  // namespace entrenar::formats
