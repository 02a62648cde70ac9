// What a Parquet page holds, decoded: decompression, the RLE / bit-packed hybrid (levels and
// dictionary indices) and the value encodings, each bounded by the bytes it is given. Internal
// to entrenar_formats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/formats/parquet.h"

#include "parquet_meta.h"

namespace entrenar::formats::parquet {

// The kind a leaf's values are read as (ParquetKind's rules).
ParquetKind KindOf(const Leaf& leaf);

// Decompresses `in` (compressed with `codec`) into `*out`, which must come out exactly `size`
// bytes long. kUnimplemented for LZO, Brotli and LZ4; kDataLoss for damaged bytes.
Status Decompress(int codec, std::string_view in, std::size_t size, std::string* out);

// Decodes `count` values of `width` bits (0 to 32) of the RLE / bit-packed hybrid encoding.
// False when `data` ends first.
bool DecodeHybrid(std::string_view data, int width, std::size_t count,
                  std::vector<std::uint32_t>* out);

// The number of bits of the hybrid encoding for levels up to `max_level`.
int BitWidth(std::uint64_t max_level);

// A page's values, by kind (ParquetColumn's storage without the nulls).
struct Values {
  std::vector<std::int64_t> integers;
  std::vector<double> doubles;
  std::vector<std::string> bytes;
  std::size_t size(ParquetKind kind) const;
};

// Decodes `count` values of `leaf` encoded with `encoding` from `data`, appending to `*out`.
// `dictionary` is the chunk's dictionary page (for the dictionary encodings; null if none).
// Returns an error message (empty on success).
std::string DecodeValues(const Leaf& leaf, int encoding, std::string_view data, std::size_t count,
                         const Values* dictionary, Values* out);

}  // namespace entrenar::formats::parquet
