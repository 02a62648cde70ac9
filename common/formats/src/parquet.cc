// Apache Parquet for flat numeric tables: the file layout (PAR1, column chunks, footer, length,
// PAR1), data pages v1 and the Thrift compact protocol for the page headers and the footer.
#include "entrenar/formats/parquet.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <tuple>

#include "entrenar/base/files.h"

namespace entrenar::formats {
namespace {

// Thrift compact protocol type ids.
constexpr int kTrue = 1, kFalse = 2, kByte = 3, kI16 = 4, kI32 = 5, kI64 = 6, kDouble = 7,
              kBinary = 8, kList = 9, kSet = 10, kMap = 11, kStruct = 12;
// Parquet enums.
constexpr int kTypeInt32 = 1, kTypeInt64 = 2, kTypeFloat = 4, kTypeDouble = 5;
constexpr int kRequired = 0, kOptional = 1;
constexpr int kPlain = 0, kRle = 3;
constexpr int kDataPage = 0;
constexpr int kUncompressed = 0;

class CompactWriter {
 public:
  void I32(int id, std::int32_t v) {
    Header(id, kI32);
    Varint(ZigZag(v));
  }
  void I64(int id, std::int64_t v) {
    Header(id, kI64);
    Varint(ZigZag(v));
  }
  void Binary(int id, std::string_view s) {
    Header(id, kBinary);
    RawBinary(s);
  }
  void BeginStruct(int id) {
    Header(id, kStruct);
    BeginElement();
  }
  // A struct inside a list: no field header.
  void BeginElement() {
    stack_.push_back(last_);
    last_ = 0;
  }
  void EndStruct() {
    out_ += '\0';
    last_ = stack_.back();
    stack_.pop_back();
  }
  void BeginList(int id, int element_type, std::size_t n) {
    Header(id, kList);
    if (n < 15) {
      out_ += static_cast<char>((n << 4) | static_cast<std::size_t>(element_type));
    } else {
      out_ += static_cast<char>(0xf0 | element_type);
      Varint(n);
    }
  }
  void ListI32(std::int32_t v) { Varint(ZigZag(v)); }
  void RawBinary(std::string_view s) {
    Varint(s.size());
    out_ += s;
  }
  void Stop() { out_ += '\0'; }
  const std::string& bytes() const { return out_; }

 private:
  static std::uint64_t ZigZag(std::int64_t v) {
    return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
  }
  void Varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void Header(int id, int type) {
    const int delta = id - last_;
    if (delta > 0 && delta <= 15) {
      out_ += static_cast<char>((delta << 4) | type);
    } else {
      out_ += static_cast<char>(type);
      Varint(ZigZag(id));
    }
    last_ = id;
  }

  std::string out_;
  int last_ = 0;
  std::vector<int> stack_;
};

// Definition levels (bit width 1) as RLE runs, prefixed by their byte length (data page v1).
std::string DefinitionLevels(const std::vector<std::optional<double>>& values) {
  std::string runs;
  for (std::size_t i = 0; i < values.size();) {
    const bool present = values[i].has_value();
    std::size_t j = i;
    while (j < values.size() && values[j].has_value() == present) ++j;
    std::uint64_t header = static_cast<std::uint64_t>(j - i) << 1;
    while (header >= 0x80) {
      runs += static_cast<char>((header & 0x7f) | 0x80);
      header >>= 7;
    }
    runs += static_cast<char>(header);
    runs += static_cast<char>(present ? 1 : 0);
    i = j;
  }
  const auto n = static_cast<std::uint32_t>(runs.size());
  std::string out(4, '\0');
  std::memcpy(out.data(), &n, 4);
  return out + runs;
}

std::string PlainValues(const NumericColumn& c) {
  std::string out;
  for (const auto& v : c.values) {
    if (!v) continue;
    char buf[8];
    if (c.integer) {
      const auto i = static_cast<std::int64_t>(std::llround(*v));
      std::memcpy(buf, &i, 8);
    } else {
      std::memcpy(buf, &*v, 8);
    }
    out.append(buf, 8);
  }
  return out;
}

struct ChunkInfo {
  std::int64_t offset = 0, size = 0;
};

void WriteColumnMeta(CompactWriter& w, const NumericColumn& c, const ChunkInfo& chunk) {
  w.BeginStruct(3);  // ColumnChunk.meta_data
  w.I32(1, c.integer ? kTypeInt64 : kTypeDouble);
  w.BeginList(2, kI32, 2);
  w.ListI32(kPlain);
  w.ListI32(kRle);
  w.BeginList(3, kBinary, 1);
  w.RawBinary(c.name);
  w.I32(4, kUncompressed);
  w.I64(5, static_cast<std::int64_t>(c.values.size()));
  w.I64(6, chunk.size);
  w.I64(7, chunk.size);
  w.I64(9, chunk.offset);
  w.EndStruct();
}

std::string Footer(const std::vector<NumericColumn>& columns, const std::vector<ChunkInfo>& chunks,
                   std::int64_t rows) {
  CompactWriter w;
  w.I32(1, 1);  // version
  w.BeginList(2, kStruct, columns.size() + 1);
  w.BeginElement();
  w.Binary(4, "schema");
  w.I32(5, static_cast<std::int32_t>(columns.size()));
  w.EndStruct();
  for (const NumericColumn& c : columns) {
    w.BeginElement();
    w.I32(1, c.integer ? kTypeInt64 : kTypeDouble);
    w.I32(3, kOptional);
    w.Binary(4, c.name);
    w.EndStruct();
  }
  w.I64(3, rows);
  w.BeginList(4, kStruct, 1);
  w.BeginElement();
  w.BeginList(1, kStruct, columns.size());
  std::int64_t total = 0;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    w.BeginElement();
    w.I64(2, chunks[i].offset);
    WriteColumnMeta(w, columns[i], chunks[i]);
    w.EndStruct();
    total += chunks[i].size;
  }
  w.I64(2, total);
  w.I64(3, rows);
  w.EndStruct();
  w.Binary(6, "entrenar");  // created_by
  w.Stop();
  return w.bytes();
}

// ---- reading -------------------------------------------------------------------------------

class CompactReader {
 public:
  CompactReader(std::string_view bytes, std::size_t pos) : b_(bytes), pos_(pos) {}

  bool ok() const { return ok_; }
  std::size_t pos() const { return pos_; }

  // The next field's id and type; type 0 ends the struct.
  std::pair<int, int> Field() {
    const int byte = Byte();
    const int type = byte & 0x0f;
    if (type == 0) return {0, 0};
    const int delta = byte >> 4;
    last_ = delta ? last_ + delta : static_cast<int>(ZigZag(Varint()));
    return {last_, type};
  }
  void BeginStruct() {
    stack_.push_back(last_);
    last_ = 0;
  }
  void EndStruct() {
    last_ = stack_.empty() ? 0 : stack_.back();
    if (!stack_.empty()) stack_.pop_back();
  }
  std::int64_t Int() { return ZigZag(Varint()); }
  std::string Binary() {
    const std::uint64_t n = Varint();
    if (n > b_.size() - pos_) return Fail(), std::string();
    std::string s(b_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  std::pair<int, std::size_t> List() {
    const int byte = Byte();
    std::size_t n = static_cast<std::size_t>(byte) >> 4;
    if (n == 15) n = Varint();
    return {byte & 0x0f, n};
  }
  // Skips a value of `type`. Nesting deeper than 64 fails (it could only exhaust the stack), and
  // so does a list or map that counts more elements than there are bytes left: each element
  // takes a byte at least (a bool inside a collection is a byte), so the count is bounded.
  void Skip(int type) {
    if (++depth_ > 64) return Fail();
    SkipValue(type);
    --depth_;
  }

 private:
  void SkipValue(int type) {
    const auto as_element = [](int t) { return t == kTrue || t == kFalse ? kByte : t; };
    switch (type) {
      case kTrue:
      case kFalse:
        return;
      case kByte:
        Byte();
        return;
      case kI16:
      case kI32:
      case kI64:
        Varint();
        return;
      case kDouble:
        Advance(8);
        return;
      case kBinary:
        Binary();
        return;
      case kList:
      case kSet: {
        const auto [element, n] = List();
        if (n > b_.size() - pos_) return Fail();
        for (std::size_t i = 0; i < n && ok_; ++i) Skip(as_element(element));
        return;
      }
      case kMap: {
        const std::uint64_t n = Varint();
        if (n == 0) return;
        const int kinds = Byte();
        if (n > b_.size() - pos_) return Fail();
        for (std::uint64_t i = 0; i < n && ok_; ++i) {
          Skip(as_element(kinds >> 4));
          Skip(as_element(kinds & 0x0f));
        }
        return;
      }
      case kStruct:
        BeginStruct();
        for (auto [id, t] = Field(); t != 0 && ok_; std::tie(id, t) = Field()) Skip(t);
        EndStruct();
        return;
      default:
        Fail();
    }
  }

  static std::int64_t ZigZag(std::uint64_t v) {
    return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
  }
  int Byte() {
    if (pos_ >= b_.size()) return Fail(), 0;
    return static_cast<unsigned char>(b_[pos_++]);
  }
  void Advance(std::size_t n) {
    if (n > b_.size() - pos_) return Fail();
    pos_ += n;
  }
  std::uint64_t Varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64 && ok_; shift += 7) {
      const int byte = Byte();
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    Fail();
    return 0;
  }
  void Fail() { ok_ = false; }

  std::string_view b_;
  std::size_t pos_;
  bool ok_ = true;
  int last_ = 0;
  std::vector<int> stack_;
  int depth_ = 0;  // of Skip
};

struct SchemaColumn {
  std::string name;
  int type = -1;
  int repetition = kRequired;
};

struct ChunkMeta {
  int type = -1;
  std::string path;
  int codec = 0;
  std::int64_t num_values = 0, data_page_offset = -1;
  bool dictionary = false;
};

struct FileMeta {
  std::vector<SchemaColumn> schema;  // leaves only
  std::vector<std::vector<ChunkMeta>> row_groups;
};

void ReadColumnMeta(CompactReader& r, ChunkMeta* c) {
  r.BeginStruct();
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    if (id == 1) {
      c->type = static_cast<int>(r.Int());
    } else if (id == 3) {
      const auto [element, n] = r.List();
      for (std::size_t i = 0; i < n && r.ok(); ++i) c->path += (i ? "." : "") + r.Binary();
      (void)element;
    } else if (id == 4) {
      c->codec = static_cast<int>(r.Int());
    } else if (id == 5) {
      c->num_values = r.Int();
    } else if (id == 9) {
      c->data_page_offset = r.Int();
    } else if (id == 11) {
      c->dictionary = true;
      r.Skip(t);
    } else {
      r.Skip(t);
    }
  }
  r.EndStruct();
}

std::vector<ChunkMeta> ReadRowGroup(CompactReader& r) {
  std::vector<ChunkMeta> chunks;
  r.BeginStruct();
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    if (id != 1) {
      r.Skip(t);
      continue;
    }
    const auto [element, n] = r.List();
    for (std::size_t i = 0; i < n && r.ok(); ++i) {
      ChunkMeta chunk;
      r.BeginStruct();
      for (auto [cid, ct] = r.Field(); ct != 0 && r.ok(); std::tie(cid, ct) = r.Field()) {
        if (cid == 3) {
          ReadColumnMeta(r, &chunk);
        } else {
          r.Skip(ct);
        }
      }
      r.EndStruct();
      chunks.push_back(chunk);
    }
    (void)element;
  }
  r.EndStruct();
  return chunks;
}

SchemaColumn ReadSchemaElement(CompactReader& r, int* children) {
  SchemaColumn c;
  *children = 0;
  r.BeginStruct();
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    if (id == 1) {
      c.type = static_cast<int>(r.Int());
    } else if (id == 3) {
      c.repetition = static_cast<int>(r.Int());
    } else if (id == 4) {
      c.name = r.Binary();
    } else if (id == 5) {
      *children = static_cast<int>(r.Int());
    } else {
      r.Skip(t);
    }
  }
  r.EndStruct();
  return c;
}

Result<FileMeta> ReadFooter(std::string_view bytes, std::size_t start) {
  CompactReader r(bytes, start);
  FileMeta meta;
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    if (id == 2) {
      const auto [element, n] = r.List();
      for (std::size_t i = 0; i < n && r.ok(); ++i) {
        int children = 0;
        SchemaColumn c = ReadSchemaElement(r, &children);
        if (i == 0) continue;  // the root
        if (children > 0) return Unimplemented("parquet: nested columns (" + c.name + ")");
        meta.schema.push_back(c);
      }
      (void)element;
    } else if (id == 4) {
      const auto [element, n] = r.List();
      for (std::size_t i = 0; i < n && r.ok(); ++i) meta.row_groups.push_back(ReadRowGroup(r));
      (void)element;
    } else {
      r.Skip(t);
    }
  }
  if (!r.ok()) return DataLoss("parquet: the footer is damaged");
  return meta;
}

struct PageHeader {
  int type = -1;
  std::int64_t compressed = -1, values = 0;
  int encoding = -1;
};

PageHeader ReadPageHeader(CompactReader& r) {
  PageHeader h;
  for (auto [id, t] = r.Field(); t != 0 && r.ok(); std::tie(id, t) = r.Field()) {
    if (id == 1) {
      h.type = static_cast<int>(r.Int());
    } else if (id == 3) {
      h.compressed = r.Int();
    } else if (id == 5) {
      r.BeginStruct();
      for (auto [did, dt] = r.Field(); dt != 0 && r.ok(); std::tie(did, dt) = r.Field()) {
        if (did == 1) {
          h.values = r.Int();
        } else if (did == 2) {
          h.encoding = static_cast<int>(r.Int());
        } else {
          r.Skip(dt);
        }
      }
      r.EndStruct();
    } else {
      r.Skip(t);
    }
  }
  return h;
}

// Values a column may have, all row groups together: 16 bytes each in memory (256 MiB). A few
// bytes of run-length levels can say "a billion nulls"; a table that large is refused instead.
constexpr std::int64_t kMaxColumnValues = std::int64_t{1} << 24;

// Decodes `count` RLE / bit-packed definition levels of bit width 1.
bool ReadLevels(std::string_view data, std::int64_t count, std::vector<bool>* present) {
  std::size_t pos = 0;
  while (static_cast<std::int64_t>(present->size()) < count) {
    std::uint64_t header = 0;
    for (int shift = 0;; shift += 7) {
      if (pos >= data.size() || shift > 56) return false;
      const auto byte = static_cast<unsigned char>(data[pos++]);
      header |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
    }
    if (header & 1) {  // bit-packed groups of 8
      for (std::uint64_t g = 0; g < (header >> 1); ++g) {
        if (pos >= data.size()) return false;
        const auto byte = static_cast<unsigned char>(data[pos++]);
        for (int bit = 0; bit < 8; ++bit) present->push_back((byte >> bit) & 1);
      }
    } else {
      if (pos >= data.size()) return false;
      const bool v = data[pos++] & 1;
      // A run may say more than the page holds (up to 2^63): only `count` are kept.
      const auto left = static_cast<std::uint64_t>(count) - present->size();
      present->insert(present->end(), std::min<std::uint64_t>(header >> 1, left), v);
    }
  }
  present->resize(static_cast<std::size_t>(count));
  return true;
}

Status ReadChunk(std::string_view bytes, const ChunkMeta& chunk, const SchemaColumn& schema,
                 NumericColumn* out) {
  if (chunk.codec != kUncompressed) return Unimplemented("parquet: compressed column " + out->name);
  if (chunk.dictionary) return Unimplemented("parquet: dictionary-encoded column " + out->name);
  const std::size_t width = chunk.type == kTypeInt32 || chunk.type == kTypeFloat ? 4 : 8;
  std::size_t pos = static_cast<std::size_t>(chunk.data_page_offset);
  const auto room = kMaxColumnValues - static_cast<std::int64_t>(out->values.size());
  if (chunk.num_values < 0 || chunk.num_values > room) {
    return DataLoss("parquet: column " + out->name + " says it has " +
                    std::to_string(chunk.num_values) + " more values; this reader takes " +
                    std::to_string(kMaxColumnValues) + " rows at most");
  }
  std::int64_t seen = 0;
  while (seen < chunk.num_values) {
    if (pos >= bytes.size()) return DataLoss("parquet: a page offset is past the end");
    CompactReader r(bytes, pos);
    const PageHeader h = ReadPageHeader(r);
    if (!r.ok() || h.compressed < 0 || r.pos() + h.compressed > bytes.size())
      return DataLoss("parquet: a page header of " + out->name + " is damaged");
    if (h.type != kDataPage) return Unimplemented("parquet: page type " + std::to_string(h.type));
    if (h.values < 0 || h.values > chunk.num_values - seen) {
      return DataLoss("parquet: a page of " + out->name + " holds more values than its column");
    }
    if (h.encoding != kPlain) return Unimplemented("parquet: a non-PLAIN page in " + out->name);
    std::string_view page = bytes.substr(r.pos(), static_cast<std::size_t>(h.compressed));
    pos = r.pos() + static_cast<std::size_t>(h.compressed);
    std::vector<bool> present;
    if (schema.repetition == kOptional) {
      std::uint32_t n = 0;
      if (page.size() < 4) return DataLoss("parquet: a page of " + out->name + " is short");
      std::memcpy(&n, page.data(), 4);
      if (n > page.size() - 4 || !ReadLevels(page.substr(4, n), h.values, &present))
        return DataLoss("parquet: the levels of " + out->name + " are damaged");
      page.remove_prefix(4 + n);
    } else {
      present.assign(static_cast<std::size_t>(h.values), true);
    }
    std::size_t at = 0;
    for (bool p : present) {
      if (!p) {
        out->values.emplace_back();
        continue;
      }
      if (at + width > page.size()) return DataLoss("parquet: " + out->name + " is short");
      double v = 0;
      if (chunk.type == kTypeInt64) {
        std::int64_t i;
        std::memcpy(&i, page.data() + at, 8);
        v = static_cast<double>(i);
      } else if (chunk.type == kTypeInt32) {
        std::int32_t i;
        std::memcpy(&i, page.data() + at, 4);
        v = i;
      } else if (chunk.type == kTypeFloat) {
        float f;
        std::memcpy(&f, page.data() + at, 4);
        v = f;
      } else {
        std::memcpy(&v, page.data() + at, 8);
      }
      out->values.push_back(v);
      at += width;
    }
    seen += h.values;
  }
  return OkStatus();
}

}  // namespace

Result<std::string> EncodeParquet(const std::vector<NumericColumn>& columns) {
  const std::size_t rows = columns.empty() ? 0 : columns[0].values.size();
  for (const NumericColumn& c : columns) {
    if (c.name.empty()) return InvalidArgument("parquet: a column has no name");
    if (c.values.size() != rows)
      return InvalidArgument("parquet: column " + c.name + " has " +
                             std::to_string(c.values.size()) + " rows, not " +
                             std::to_string(rows));
  }
  std::string out = "PAR1";
  std::vector<ChunkInfo> chunks;
  for (const NumericColumn& c : columns) {
    const std::string page = DefinitionLevels(c.values) + PlainValues(c);
    CompactWriter h;
    h.I32(1, kDataPage);
    h.I32(2, static_cast<std::int32_t>(page.size()));
    h.I32(3, static_cast<std::int32_t>(page.size()));
    h.BeginStruct(5);
    h.I32(1, static_cast<std::int32_t>(rows));
    h.I32(2, kPlain);
    h.I32(3, kRle);
    h.I32(4, kRle);
    h.EndStruct();
    h.Stop();
    ChunkInfo chunk{static_cast<std::int64_t>(out.size()),
                    static_cast<std::int64_t>(h.bytes().size() + page.size())};
    out += h.bytes() + page;
    chunks.push_back(chunk);
  }
  const std::string footer = Footer(columns, chunks, static_cast<std::int64_t>(rows));
  const auto n = static_cast<std::uint32_t>(footer.size());
  char len[4];
  std::memcpy(len, &n, 4);
  out += footer;
  out.append(len, 4);
  out += "PAR1";
  return out;
}

Result<std::vector<NumericColumn>> DecodeParquet(const std::string& bytes) {
  if (bytes.size() < 12 || bytes.compare(0, 4, "PAR1") != 0 ||
      bytes.compare(bytes.size() - 4, 4, "PAR1") != 0)
    return DataLoss("parquet: not a Parquet file (no PAR1 magic)");
  std::uint32_t n = 0;
  std::memcpy(&n, bytes.data() + bytes.size() - 8, 4);
  if (n > bytes.size() - 12) return DataLoss("parquet: the footer length is past the start");
  const std::string_view view(bytes);
  ENTRENAR_ASSIGN_OR_RETURN(FileMeta meta, ReadFooter(view, bytes.size() - 8 - n));
  std::vector<NumericColumn> columns;
  for (const SchemaColumn& s : meta.schema) {
    if (s.type != kTypeInt64 && s.type != kTypeDouble && s.type != kTypeInt32 &&
        s.type != kTypeFloat)
      return Unimplemented("parquet: column " + s.name + " is not numeric");
    if (s.repetition != kRequired && s.repetition != kOptional)
      return Unimplemented("parquet: repeated column " + s.name);
    columns.push_back({s.name, s.type == kTypeInt64 || s.type == kTypeInt32, {}});
  }
  for (const auto& group : meta.row_groups) {
    if (group.size() != columns.size()) return DataLoss("parquet: a row group lacks columns");
    for (std::size_t i = 0; i < group.size(); ++i) {
      if (group[i].type != meta.schema[i].type)
        return DataLoss("parquet: column " + columns[i].name + " changes type");
      ENTRENAR_RETURN_IF_ERROR(ReadChunk(view, group[i], meta.schema[i], &columns[i]));
    }
    for (const NumericColumn& c : columns) {
      if (c.values.size() != columns.front().values.size()) {
        return DataLoss("parquet: column " + c.name + " has " + std::to_string(c.values.size()) +
                        " values where " + columns.front().name + " has " +
                        std::to_string(columns.front().values.size()));
      }
    }
  }
  return columns;
}

Status WriteParquetFile(const std::string& path, const std::vector<NumericColumn>& columns) {
  ENTRENAR_ASSIGN_OR_RETURN(std::string bytes, EncodeParquet(columns));
  return WriteFileAtomic(path, bytes);
}

}  // namespace entrenar::formats
