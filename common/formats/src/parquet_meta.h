// Parquet's footer (FileMetaData) as the reader needs it: the schema's leaves with their levels
// and how their values are to be read, and each row group's column chunks. Internal to
// entrenar_formats; the format's enums are here for the writer too.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::formats::parquet {

// Physical types.
constexpr int kBoolean = 0, kInt32 = 1, kInt64 = 2, kInt96 = 3, kFloat = 4, kDouble = 5,
              kByteArray = 6, kFixedLenByteArray = 7;
// Field repetition.
constexpr int kRequired = 0, kOptional = 1, kRepeated = 2;
// Encodings.
constexpr int kPlain = 0, kPlainDictionary = 2, kRle = 3, kBitPacked = 4, kDeltaBinaryPacked = 5,
              kDeltaLengthByteArray = 6, kDeltaByteArray = 7, kRleDictionary = 8,
              kByteStreamSplit = 9;
// Page types.
constexpr int kDataPage = 0, kIndexPage = 1, kDictionaryPage = 2, kDataPageV2 = 3;
// Compression codecs.
constexpr int kUncompressed = 0, kSnappy = 1, kGzip = 2, kLzo = 3, kBrotli = 4, kLz4 = 5, kZstd = 6,
              kLz4Raw = 7;

// The name of codec `c` ("SNAPPY"), for errors.
std::string CodecName(int c);

// A leaf of the schema: one column chunk per row group holds its values.
struct Leaf {
  std::string path;  // dotted, from the top-level field
  std::string name;  // the column's name: the path, or for a list the list field's path
  int type = -1;     // physical
  int type_length = 0;
  int max_def = 0, max_rep = 0;
  // A list leaf (max_rep 1): definition levels below list_def mean a null list (or an ancestor's
  // null), from list_def to element_def - 1 an empty list, element_def and up an element.
  int list_def = 0, element_def = 0;
  bool text = false;       // UTF-8 string, enum or JSON
  int decimal_scale = -1;  // a DECIMAL's scale, or -1
  bool is_unsigned = false;
  bool float16 = false;
  std::string unsupported;  // why this leaf cannot be read (a map, a list of lists), or empty
};

struct Chunk {
  int type = -1;
  std::string path;
  int codec = kUncompressed;
  std::int64_t num_values = 0;
  std::int64_t data_page_offset = -1, dictionary_page_offset = -1;
  std::int64_t total_compressed_size = 0;
  bool has_file_path = false;  // the chunk lives in another file
};

struct RowGroup {
  std::int64_t rows = 0;
  std::vector<Chunk> chunks;  // one per leaf, in schema order
};

struct FileMeta {
  std::int64_t rows = 0;
  std::vector<Leaf> leaves;
  std::vector<RowGroup> row_groups;
};

// Parses the footer's Thrift bytes. kDataLoss (naming `file`) for a damaged footer.
Result<FileMeta> ParseFileMeta(std::string_view footer, const std::string& file);

}  // namespace entrenar::formats::parquet
