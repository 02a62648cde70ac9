// Parquet page contents (Encodings.md): decompression with Debian's snappy, zlib and zstd, the
// RLE / bit-packed hybrid, PLAIN, dictionary indices, DELTA_BINARY_PACKED,
// DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT. Every read is checked against
// the bytes left; a count from the file never sizes an allocation before the bytes for it are
// known to be there.
#include "parquet_pages.h"

#include <zlib.h>
#include <zstd.h>

#include <cmath>
#include <cstring>

#include <snappy-c.h>

namespace entrenar::formats::parquet {
namespace {

std::uint64_t Load64(std::string_view d, std::size_t at) {
  std::uint64_t v = 0;
  if (at < d.size()) std::memcpy(&v, d.data() + at, std::min<std::size_t>(8, d.size() - at));
  return v;  // little-endian machines only (as the rest of the formats library)
}

// `width` (0 to 64) bits from bit `bit` of `d`, least significant first; bytes past the end read
// as zeros (the caller has checked the span).
std::uint64_t Bits(std::string_view d, std::size_t bit, int width) {
  if (width == 0) return 0;
  const std::size_t byte = bit / 8;
  const int shift = static_cast<int>(bit % 8);
  std::uint64_t v = Load64(d, byte) >> shift;
  if (shift + width > 64) v |= Load64(d, byte + 8) << (64 - shift);
  return width == 64 ? v : v & ((std::uint64_t{1} << width) - 1);
}

bool Uleb(std::string_view d, std::size_t* pos, std::uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= d.size()) return false;
    const auto byte = static_cast<unsigned char>(d[(*pos)++]);
    *v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}

std::int64_t UnZigZag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// DELTA_BINARY_PACKED: appends its values to `out` (at most `max_count`) and advances `*pos`
// past the last miniblock used.
std::string DeltaBinaryPacked(std::string_view d, std::size_t* pos, std::size_t max_count,
                              std::vector<std::int64_t>* out) {
  std::uint64_t block = 0, minis = 0, total = 0, first = 0;
  if (!Uleb(d, pos, &block) || !Uleb(d, pos, &minis) || !Uleb(d, pos, &total) ||
      !Uleb(d, pos, &first))
    return "a DELTA_BINARY_PACKED header is cut short";
  if (block == 0 || block % 128 != 0 || minis == 0 || block % minis != 0 ||
      (block / minis) % 32 != 0 || block > (1u << 20))
    return "a DELTA_BINARY_PACKED header has a bad block size";
  if (total > max_count) return "DELTA_BINARY_PACKED says it holds more values than its page";
  const std::uint64_t per_mini = block / minis;
  if (total == 0) return "";
  std::uint64_t last = static_cast<std::uint64_t>(UnZigZag(first));
  out->push_back(static_cast<std::int64_t>(last));
  std::size_t left = static_cast<std::size_t>(total) - 1;
  while (left > 0) {
    std::uint64_t min_delta_z = 0;
    if (!Uleb(d, pos, &min_delta_z) || minis > d.size() - *pos)
      return "a DELTA_BINARY_PACKED block is cut short";
    const auto min_delta = static_cast<std::uint64_t>(UnZigZag(min_delta_z));
    const std::string_view widths = d.substr(*pos, minis);
    *pos += minis;
    for (std::size_t m = 0; m < minis && left > 0; ++m) {
      const int w = static_cast<unsigned char>(widths[m]);
      if (w > 64) return "a DELTA_BINARY_PACKED miniblock is wider than 64 bits";
      const std::size_t bytes = per_mini * static_cast<std::size_t>(w) / 8;
      if (bytes > d.size() - *pos) return "a DELTA_BINARY_PACKED miniblock is cut short";
      const std::string_view mini = d.substr(*pos, bytes);
      for (std::size_t i = 0; i < per_mini && left > 0; ++i, --left) {
        last += min_delta + Bits(mini, i * static_cast<std::size_t>(w), w);
        out->push_back(static_cast<std::int64_t>(last));
      }
      *pos += bytes;
    }
  }
  return "";
}

double Pow10(int scale) { return std::pow(10.0, scale); }

// A big-endian two's complement integer (a DECIMAL in bytes) as a double.
double BigEndianDecimal(std::string_view b, int scale) {
  if (b.empty()) return 0;
  double v = static_cast<signed char>(b[0]);
  for (std::size_t i = 1; i < b.size(); ++i) v = v * 256 + static_cast<unsigned char>(b[i]);
  return v / Pow10(scale);
}

double Float16(std::uint16_t h) {
  const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  const double sign = (h & 0x8000) ? -1 : 1;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? NAN : sign * INFINITY;
  return sign * std::ldexp(mant + 1024, exp - 25);
}

// Appends one integer of an INT32 / INT64 / BOOLEAN leaf.
void PushInteger(const Leaf& leaf, std::int64_t raw, Values* out) {
  if (leaf.type == kInt32) {
    raw = leaf.is_unsigned ? static_cast<std::int64_t>(static_cast<std::uint32_t>(raw))
                           : static_cast<std::int32_t>(raw);
  }
  if (leaf.decimal_scale >= 0) {
    out->doubles.push_back(static_cast<double>(raw) / Pow10(leaf.decimal_scale));
  } else if (leaf.type == kInt64 && leaf.is_unsigned) {
    out->doubles.push_back(static_cast<double>(static_cast<std::uint64_t>(raw)));
  } else {
    out->integers.push_back(raw);
  }
}

// Appends one byte string of a BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY leaf.
void PushBytes(const Leaf& leaf, std::string_view b, Values* out) {
  if (leaf.decimal_scale >= 0) {
    out->doubles.push_back(BigEndianDecimal(b, leaf.decimal_scale));
  } else if (leaf.float16 && b.size() == 2) {
    std::uint16_t h = 0;
    std::memcpy(&h, b.data(), 2);
    out->doubles.push_back(Float16(h));
  } else {
    out->bytes.emplace_back(b);
  }
}

// The width in bytes of one PLAIN value of a fixed-width leaf (0 for BYTE_ARRAY and BOOLEAN).
std::size_t FixedWidth(const Leaf& leaf) {
  switch (leaf.type) {
    case kInt32:
    case kFloat:
      return 4;
    case kInt64:
    case kDouble:
      return 8;
    case kInt96:
      return 12;
    case kFixedLenByteArray:
      return leaf.type_length > 0 ? static_cast<std::size_t>(leaf.type_length) : 0;
    default:
      return 0;
  }
}

void PushFixed(const Leaf& leaf, const char* p, Values* out) {
  switch (leaf.type) {
    case kInt32: {
      std::int32_t v;
      std::memcpy(&v, p, 4);
      return PushInteger(leaf, v, out);
    }
    case kInt64: {
      std::int64_t v;
      std::memcpy(&v, p, 8);
      return PushInteger(leaf, v, out);
    }
    case kFloat: {
      float v;
      std::memcpy(&v, p, 4);
      out->doubles.push_back(v);
      return;
    }
    case kDouble: {
      double v;
      std::memcpy(&v, p, 8);
      out->doubles.push_back(v);
      return;
    }
    case kInt96: {  // nanoseconds of the day, then the Julian day
      std::int64_t nanos;
      std::int32_t day;
      std::memcpy(&nanos, p, 8);
      std::memcpy(&day, p + 8, 4);
      out->integers.push_back((static_cast<std::int64_t>(day) - 2440588) * 86400000000000LL +
                              nanos);
      return;
    }
    default:
      return PushBytes(leaf, std::string_view(p, FixedWidth(leaf)), out);
  }
}

std::string Plain(const Leaf& leaf, std::string_view d, std::size_t count, Values* out) {
  if (leaf.type == kBoolean) {
    if (count > d.size() * 8) return "the page's booleans are cut short";
    for (std::size_t i = 0; i < count; ++i) out->integers.push_back((d[i / 8] >> (i % 8)) & 1);
    return "";
  }
  if (leaf.type == kByteArray) {
    std::size_t pos = 0;
    for (std::size_t i = 0; i < count; ++i) {
      std::uint32_t n = 0;
      if (d.size() - pos < 4) return "the page's strings are cut short";
      std::memcpy(&n, d.data() + pos, 4);
      pos += 4;
      if (n > d.size() - pos) return "a string is longer than its page";
      PushBytes(leaf, d.substr(pos, n), out);
      pos += n;
    }
    return "";
  }
  const std::size_t w = FixedWidth(leaf);
  if (w == 0) return "a FIXED_LEN_BYTE_ARRAY column has no length";
  if (count > d.size() / w) return "the page's values are cut short";
  if (count == 0) return "";
  if (leaf.type == kDouble) {  // the common case, without a call per value
    const std::size_t at = out->doubles.size();
    out->doubles.resize(at + count);
    std::memcpy(out->doubles.data() + at, d.data(), count * 8);
    return "";
  }
  if (leaf.type == kInt64 && leaf.decimal_scale < 0 && !leaf.is_unsigned) {
    const std::size_t at = out->integers.size();
    out->integers.resize(at + count);
    std::memcpy(out->integers.data() + at, d.data(), count * 8);
    return "";
  }
  for (std::size_t i = 0; i < count; ++i) PushFixed(leaf, d.data() + i * w, out);
  return "";
}

std::string Dictionary(const Leaf& leaf, std::string_view d, std::size_t count, const Values* dict,
                       Values* out) {
  if (!dict) return "a dictionary-encoded page comes without a dictionary page";
  if (d.empty()) return count ? "a dictionary-encoded page is empty" : "";
  const int width = static_cast<unsigned char>(d[0]);
  if (width > 32) return "dictionary indices are wider than 32 bits";
  std::vector<std::uint32_t> idx;
  if (!DecodeHybrid(d.substr(1), width, count, &idx)) return "the dictionary indices are cut short";
  const ParquetKind kind = KindOf(leaf);
  const std::size_t n = dict->size(kind);
  for (std::uint32_t i : idx) {
    if (i >= n) return "a dictionary index is past the dictionary's end";
  }
  for (std::uint32_t i : idx) {
    if (kind == ParquetKind::kDouble) {
      out->doubles.push_back(dict->doubles[i]);
    } else if (kind == ParquetKind::kBytes) {
      out->bytes.push_back(dict->bytes[i]);
    } else {
      out->integers.push_back(dict->integers[i]);
    }
  }
  return "";
}

std::string DeltaLengths(std::string_view d, std::size_t* pos, std::size_t count,
                         std::vector<std::int64_t>* lengths) {
  std::string err = DeltaBinaryPacked(d, pos, count, lengths);
  if (!err.empty()) return err;
  if (lengths->size() != count) return "a page holds fewer lengths than values";
  for (std::int64_t n : *lengths) {
    if (n < 0) return "a string has a negative length";
  }
  return "";
}

std::string DeltaLengthByteArray(const Leaf& leaf, std::string_view d, std::size_t count,
                                 Values* out) {
  std::size_t pos = 0;
  std::vector<std::int64_t> lengths;
  std::string err = DeltaLengths(d, &pos, count, &lengths);
  if (!err.empty()) return err;
  for (std::int64_t n : lengths) {
    if (static_cast<std::uint64_t>(n) > d.size() - pos) return "a string is longer than its page";
    PushBytes(leaf, d.substr(pos, static_cast<std::size_t>(n)), out);
    pos += static_cast<std::size_t>(n);
  }
  return "";
}

std::string DeltaByteArray(const Leaf& leaf, std::string_view d, std::size_t count, Values* out) {
  std::size_t pos = 0;
  std::vector<std::int64_t> prefixes, suffixes;
  std::string err = DeltaLengths(d, &pos, count, &prefixes);
  if (err.empty()) err = DeltaLengths(d, &pos, count, &suffixes);
  if (!err.empty()) return err;
  std::string last;
  for (std::size_t i = 0; i < count; ++i) {
    const auto p = static_cast<std::uint64_t>(prefixes[i]);
    const auto s = static_cast<std::uint64_t>(suffixes[i]);
    if (p > last.size()) return "a DELTA_BYTE_ARRAY prefix is longer than the value before it";
    if (s > d.size() - pos) return "a string is longer than its page";
    last.resize(static_cast<std::size_t>(p));
    last.append(d.substr(pos, static_cast<std::size_t>(s)));
    pos += static_cast<std::size_t>(s);
    PushBytes(leaf, last, out);
  }
  return "";
}

std::string ByteStreamSplit(const Leaf& leaf, std::string_view d, std::size_t count, Values* out) {
  const std::size_t w = leaf.type == kBoolean || leaf.type == kByteArray ? 0 : FixedWidth(leaf);
  if (w == 0) return "BYTE_STREAM_SPLIT on a column of variable width";
  if (count > d.size() / w) return "the page's values are cut short";
  std::string plain(count * w, '\0');
  for (std::size_t i = 0; i < count; ++i) {
    for (std::size_t b = 0; b < w; ++b) plain[i * w + b] = d[b * count + i];
  }
  return Plain(leaf, plain, count, out);
}

std::string IntegerDeltas(const Leaf& leaf, std::string_view d, std::size_t count, Values* out) {
  if (leaf.type != kInt32 && leaf.type != kInt64) return "DELTA_BINARY_PACKED on a non-integer";
  std::vector<std::int64_t> raw;
  std::size_t pos = 0;
  std::string err = DeltaBinaryPacked(d, &pos, count, &raw);
  if (!err.empty()) return err;
  if (raw.size() < count) return "a page holds fewer values than it says";
  for (std::int64_t v : raw) PushInteger(leaf, v, out);
  return "";
}

std::string RleBooleans(std::string_view d, std::size_t count, Values* out) {
  std::uint32_t n = 0;
  if (d.size() < 4) return "the page's booleans are cut short";
  std::memcpy(&n, d.data(), 4);
  if (n > d.size() - 4) return "the page's booleans are cut short";
  std::vector<std::uint32_t> bits;
  if (!DecodeHybrid(d.substr(4, n), 1, count, &bits)) return "the page's booleans are cut short";
  out->integers.insert(out->integers.end(), bits.begin(), bits.end());
  return "";
}

Status Inflate(std::string_view in, std::size_t size, std::string* out) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 32) != Z_OK) return Internal("zlib: cannot start");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out->data());
  z.avail_out = static_cast<uInt>(size);
  int rc = Z_OK;
  while (true) {
    rc = inflate(&z, Z_FINISH);
    // Several gzip members one after another (some writers) are one stream.
    if (rc == Z_STREAM_END && z.avail_in > 0 && z.avail_out > 0 && inflateReset(&z) == Z_OK)
      continue;
    break;
  }
  const std::size_t got = size - z.avail_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || got != size) return DataLoss("a GZIP page is damaged");
  return OkStatus();
}

}  // namespace

ParquetKind KindOf(const Leaf& leaf) {
  if (leaf.decimal_scale >= 0 || leaf.float16) return ParquetKind::kDouble;
  switch (leaf.type) {
    case kBoolean:
      return ParquetKind::kBoolean;
    case kInt64:
      return leaf.is_unsigned ? ParquetKind::kDouble : ParquetKind::kInteger;
    case kInt32:
    case kInt96:
      return ParquetKind::kInteger;
    case kFloat:
    case kDouble:
      return ParquetKind::kDouble;
    default:
      return ParquetKind::kBytes;
  }
}

std::size_t Values::size(ParquetKind kind) const {
  if (kind == ParquetKind::kDouble) return doubles.size();
  if (kind == ParquetKind::kBytes) return bytes.size();
  return integers.size();
}

int BitWidth(std::uint64_t max_level) {
  int w = 0;
  while (max_level >> w) ++w;
  return w;
}

Status Decompress(int codec, std::string_view in, std::size_t size, std::string* out) {
  out->resize(size);
  switch (codec) {
    case kUncompressed:
      if (in.size() != size) return DataLoss("a page's sizes disagree");
      if (size > 0) std::memcpy(out->data(), in.data(), size);
      return OkStatus();
    case kSnappy: {
      std::size_t n = 0;
      if (snappy_uncompressed_length(in.data(), in.size(), &n) != SNAPPY_OK || n != size ||
          snappy_uncompress(in.data(), in.size(), out->data(), &n) != SNAPPY_OK || n != size)
        return DataLoss("a SNAPPY page is damaged");
      return OkStatus();
    }
    case kGzip:
      return Inflate(in, size, out);
    case kZstd: {
      const std::size_t n = ZSTD_decompress(out->data(), size, in.data(), in.size());
      if (ZSTD_isError(n) || n != size) return DataLoss("a ZSTD page is damaged");
      return OkStatus();
    }
    default:
      return Unimplemented("pages compressed with " + CodecName(codec) +
                           " (entrenar reads UNCOMPRESSED, SNAPPY, GZIP and ZSTD; rewrite the "
                           "file with one of those, e.g. DuckDB's COPY ... (COMPRESSION zstd))");
  }
}

bool DecodeHybrid(std::string_view data, int width, std::size_t count,
                  std::vector<std::uint32_t>* out) {
  out->clear();
  if (width < 0 || width > 32) return false;
  const std::size_t value_bytes = (static_cast<std::size_t>(width) + 7) / 8;
  std::size_t pos = 0;
  while (out->size() < count) {
    std::uint64_t header = 0;
    if (!Uleb(data, &pos, &header)) return false;
    const std::size_t left = count - out->size();
    if (header & 1) {  // bit-packed: groups of 8 values, `width` bytes each group
      const std::uint64_t groups = header >> 1;
      if (groups > (data.size() - pos) / std::max(1, width) + 1) return false;
      const std::size_t values = std::min<std::size_t>(static_cast<std::size_t>(groups) * 8, left);
      // The last group may be cut short by a writer: only the values wanted must be there.
      if ((values * static_cast<std::size_t>(width) + 7) / 8 > data.size() - pos) return false;
      const std::string_view run = data.substr(pos);
      for (std::size_t i = 0; i < values; ++i)
        out->push_back(
            static_cast<std::uint32_t>(Bits(run, i * static_cast<std::size_t>(width), width)));
      pos += std::min<std::size_t>(
          static_cast<std::size_t>(groups) * static_cast<std::size_t>(width), data.size() - pos);
    } else {  // a run of one value
      if (value_bytes > data.size() - pos) return false;
      std::uint32_t v = 0;
      std::memcpy(&v, data.data() + pos, value_bytes);
      pos += value_bytes;
      out->insert(out->end(), std::min<std::uint64_t>(header >> 1, left), v);
    }
  }
  return true;
}

std::string DecodeValues(const Leaf& leaf, int encoding, std::string_view data, std::size_t count,
                         const Values* dictionary, Values* out) {
  switch (encoding) {
    case kPlain:
      return Plain(leaf, data, count, out);
    case kPlainDictionary:
    case kRleDictionary:
      return Dictionary(leaf, data, count, dictionary, out);
    case kRle:
      if (leaf.type != kBoolean) return "RLE values in a column that is not boolean";
      return RleBooleans(data, count, out);
    case kDeltaBinaryPacked:
      return IntegerDeltas(leaf, data, count, out);
    case kDeltaLengthByteArray:
      if (leaf.type != kByteArray) return "DELTA_LENGTH_BYTE_ARRAY on a column of fixed width";
      return DeltaLengthByteArray(leaf, data, count, out);
    case kDeltaByteArray:
      if (leaf.type != kByteArray && leaf.type != kFixedLenByteArray)
        return "DELTA_BYTE_ARRAY on a column that is not bytes";
      return DeltaByteArray(leaf, data, count, out);
    case kByteStreamSplit:
      return ByteStreamSplit(leaf, data, count, out);
    default:
      return "values in encoding " + std::to_string(encoding) + ", which entrenar cannot read";
  }
}

}  // namespace entrenar::formats::parquet
