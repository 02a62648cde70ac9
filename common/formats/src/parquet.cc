// Writing Apache Parquet for flat numeric tables (the metrics files): the file layout (PAR1,
// column chunks, footer, length, PAR1), Snappy-compressed data pages v1 and the Thrift compact
// protocol for the page headers and the footer. Reading is parquet_read.cc's.
#include "entrenar/formats/parquet.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <tuple>

#include <snappy-c.h>

#include "entrenar/base/files.h"

#include "parquet_meta.h"
#include "thrift_compact.h"

namespace entrenar::formats {
namespace {

using parquet::kDataPage, parquet::kOptional, parquet::kPlain, parquet::kRle, parquet::kSnappy;
using thrift::kBinary, thrift::kI32, thrift::kI64, thrift::kList, thrift::kStruct;
constexpr int kTypeInt64 = parquet::kInt64, kTypeDouble = parquet::kDouble;

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
  std::int64_t offset = 0, size = 0, uncompressed = 0;
};

std::string Snappy(const std::string& in) {
  std::size_t n = snappy_max_compressed_length(in.size());
  std::string out(n, '\0');
  if (snappy_compress(in.data(), in.size(), out.data(), &n) != SNAPPY_OK) return {};
  out.resize(n);
  return out;
}

void WriteColumnMeta(CompactWriter& w, const NumericColumn& c, const ChunkInfo& chunk) {
  w.BeginStruct(3);  // ColumnChunk.meta_data
  w.I32(1, c.integer ? kTypeInt64 : kTypeDouble);
  w.BeginList(2, kI32, 2);
  w.ListI32(kPlain);
  w.ListI32(kRle);
  w.BeginList(3, kBinary, 1);
  w.RawBinary(c.name);
  w.I32(4, kSnappy);
  w.I64(5, static_cast<std::int64_t>(c.values.size()));
  w.I64(6, chunk.uncompressed);
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
    const std::string packed = Snappy(page);
    if (packed.empty()) return Internal("parquet: snappy could not compress a page");
    CompactWriter h;
    h.I32(1, kDataPage);
    h.I32(2, static_cast<std::int32_t>(page.size()));
    h.I32(3, static_cast<std::int32_t>(packed.size()));
    h.BeginStruct(5);
    h.I32(1, static_cast<std::int32_t>(rows));
    h.I32(2, kPlain);
    h.I32(3, kRle);
    h.I32(4, kRle);
    h.EndStruct();
    h.Stop();
    const auto header = static_cast<std::int64_t>(h.bytes().size());
    ChunkInfo chunk{static_cast<std::int64_t>(out.size()),
                    header + static_cast<std::int64_t>(packed.size()),
                    header + static_cast<std::int64_t>(page.size())};
    out += h.bytes() + packed;
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

Status WriteParquetFile(const std::string& path, const std::vector<NumericColumn>& columns) {
  ENTRENAR_ASSIGN_OR_RETURN(std::string bytes, EncodeParquet(columns));
  return WriteFileAtomic(path, bytes);
}

}  // namespace entrenar::formats
