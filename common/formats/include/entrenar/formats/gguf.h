#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::formats {

// A GGUF metadata value (gguf.md: the value types of the key/value section).
struct GgufValue {
  enum class Type : std::uint32_t {
    kU8 = 0,
    kI8 = 1,
    kU16 = 2,
    kI16 = 3,
    kU32 = 4,
    kI32 = 5,
    kF32 = 6,
    kBool = 7,
    kString = 8,
    kArray = 9,
    kU64 = 10,
    kI64 = 11,
    kF64 = 12
  };
  Type type = Type::kU32;
  std::uint64_t u = 0;        // unsigned integers and bool
  std::int64_t i = 0;         // signed integers
  double f = 0;               // floats
  std::string s;              // strings
  Type element = Type::kU32;  // arrays: the element type
  std::vector<GgufValue> array;

  static GgufValue U32(std::uint32_t v);
  static GgufValue U64(std::uint64_t v);
  static GgufValue I32(std::int32_t v);
  static GgufValue F32(float v);
  static GgufValue Bool(bool v);
  static GgufValue String(std::string v);
  static GgufValue Strings(const std::vector<std::string>& v);
  static GgufValue F32s(const std::vector<float>& v);
  static GgufValue I32s(const std::vector<std::int32_t>& v);
};

// Tensor encodings (ggml_type numbers) entrenar reads and writes.
enum class GgmlType : std::uint32_t { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8 };

// "F32", "F16", "Q4_0", "Q8_0".
std::string GgmlTypeName(GgmlType t);

// One tensor: `shape` in PyTorch order (outermost first; the file stores it reversed, ne[0]
// innermost), `data` its encoded bytes.
struct GgufTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  GgmlType type = GgmlType::kF32;
  std::string data;

  std::int64_t NumElements() const;
};

// A GGUF file (version 3): metadata in order, then tensors in order.
struct Gguf {
  std::vector<std::pair<std::string, GgufValue>> metadata;
  std::vector<GgufTensor> tensors;
  std::uint32_t alignment = 32;  // general.alignment

  const GgufValue* Find(const std::string& key) const;
  const GgufTensor* FindTensor(const std::string& name) const;
};

// Serializes to GGUF v3: header, key/values (general.alignment added when not 32), tensor infos,
// padding, then each tensor's data at an aligned offset. Returns kInvalidArgument for a tensor
// whose bytes do not match its shape and type, or a quantized tensor whose innermost dimension
// is not a multiple of 32.
Result<std::string> EncodeGguf(const Gguf& g);
// Parses GGUF v2/v3 (little-endian). kDataLoss for a damaged file, kUnimplemented for a tensor
// type outside GgmlType.
Result<Gguf> DecodeGguf(const std::string& bytes);
// Atomic write (temporary name, then rename) and read.
Status WriteGgufFile(const std::string& path, const Gguf& g);
Result<Gguf> ReadGgufFile(const std::string& path);

// Encodes float32 values as `type` (ggml's blocks of 32 for Q8_0 and Q4_0: an f16 scale d =
// absmax / 127, resp. the signed value of largest magnitude / -8, then the rounded quants), and
// decodes them back. The value count must be a multiple of 32 for the quantized types.
Result<std::string> EncodeGgml(const std::vector<float>& values, GgmlType type);
Result<std::vector<float>> DecodeGgml(const std::string& data, GgmlType type, std::int64_t count);

// IEEE 754 half precision, round to nearest even.
std::uint16_t FloatToHalf(float f);
float HalfToFloat(std::uint16_t h);

}  // namespace entrenar::formats
