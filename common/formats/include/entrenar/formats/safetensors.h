#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::formats {

// Element types of the safetensors format, by their header names.
enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F32", "BF16", ...
std::string DTypeName(DType t);
// Bytes per element.
std::size_t DTypeSize(DType t);

// One named tensor: its type, shape and raw little-endian bytes (row-major).
struct Tensor {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::string bytes;

  std::int64_t NumElements() const;
};

// The contents of a .safetensors file: tensors in file order and free-form string metadata.
// Plain value type.
struct Safetensors {
  std::vector<Tensor> tensors;
  std::map<std::string, std::string> metadata;

  const Tensor* Find(const std::string& name) const;
};

// Serializes to the safetensors layout: an 8-byte little-endian header length, the JSON header
// (padded with spaces to a multiple of 8 bytes), then the tensors' bytes in order.
// Returns kInvalidArgument for duplicate names or bytes that do not match a shape.
Result<std::string> EncodeSafetensors(const Safetensors& st);

// Parses safetensors bytes, checking the header's size, JSON, dtypes, shapes and that the data
// offsets tile the data section exactly. Returns kDataLoss (with the reason) for a damaged file.
Result<Safetensors> DecodeSafetensors(const std::string& bytes);

// Writes `st` to `path` atomically (a temporary name in the same directory, then rename), so a
// reader never sees a half-written file.
Status WriteSafetensorsFile(const std::string& path, const Safetensors& st);
// Reads and decodes `path`. Returns kNotFound for a missing file.
Result<Safetensors> ReadSafetensorsFile(const std::string& path);

// Helpers for float32 tensors (the engine's common case).
Tensor MakeF32Tensor(std::string name, std::vector<std::int64_t> shape,
                     const std::vector<float>& values);
std::vector<float> F32Values(const Tensor& t);

}  // namespace entrenar::formats
