#include "entrenar/formats/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"

namespace entrenar::formats {
namespace {

struct DTypeInfo {
  DType type;
  const char* name;
  std::size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF64, "F64", 8},   {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};

// The header may not exceed this many bytes (as in the reference implementation).
constexpr std::uint64_t kMaxHeader = 100u << 20;

void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t GetU64(const std::string& in) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | static_cast<unsigned char>(in[static_cast<std::size_t>(i)]);
  return v;
}

Status Damaged(const std::string& why) { return DataLoss("not a valid safetensors file: " + why); }

}  // namespace

std::string DTypeName(DType t) {
  for (const DTypeInfo& d : kDTypes) {
    if (d.type == t) return d.name;
  }
  return "?";
}

std::size_t DTypeSize(DType t) {
  for (const DTypeInfo& d : kDTypes) {
    if (d.type == t) return d.size;
  }
  return 0;
}

std::int64_t Tensor::NumElements() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

const Tensor* Safetensors::Find(const std::string& name) const {
  for (const Tensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Result<std::string> EncodeSafetensors(const Safetensors& st) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!st.metadata.empty()) header["__metadata__"] = st.metadata;
  std::uint64_t offset = 0;
  for (const Tensor& t : st.tensors) {
    if (t.name.empty() || t.name == "__metadata__" || header.contains(t.name)) {
      return InvalidArgument("tensor name `" + t.name + "` is empty, reserved or repeated");
    }
    const auto expected = static_cast<std::uint64_t>(t.NumElements()) * DTypeSize(t.dtype);
    if (t.bytes.size() != expected) {
      return InvalidArgument("tensor `" + t.name + "` has " + std::to_string(t.bytes.size()) +
                             " bytes; its shape needs " + std::to_string(expected));
    }
    header[t.name] = {{"dtype", DTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out;
  out.reserve(8 + json.size() + offset);
  PutU64(out, json.size());
  out += json;
  for (const Tensor& t : st.tensors) out += t.bytes;
  return out;
}

Result<Safetensors> DecodeSafetensors(const std::string& bytes) {
  if (bytes.size() < 8) return Damaged("shorter than its 8-byte header length");
  const std::uint64_t n = GetU64(bytes);
  if (n > kMaxHeader || n > bytes.size() - 8) {
    return Damaged("header length " + std::to_string(n) + " exceeds the file");
  }
  nlohmann::json header =
      nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(n), nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object())
    return Damaged("the header is not a JSON object");
  const std::uint64_t data_size = bytes.size() - 8 - n;
  Safetensors st;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return Damaged("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) return Damaged("metadata value `" + m.key() + "` is not a string");
        st.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    const nlohmann::json& e = *it;
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") ||
        !e.contains("data_offsets") || !e["dtype"].is_string() || !e["shape"].is_array() ||
        !e["data_offsets"].is_array() || e["data_offsets"].size() != 2) {
      return Damaged("entry `" + it.key() + "` lacks dtype, shape or data_offsets");
    }
    Tensor t;
    t.name = it.key();
    const std::string dtype = e["dtype"].get<std::string>();
    const DTypeInfo* info = nullptr;
    for (const DTypeInfo& d : kDTypes) {
      if (dtype == d.name) info = &d;
    }
    if (!info) return Damaged("tensor `" + t.name + "` has unsupported dtype " + dtype);
    t.dtype = info->type;
    std::uint64_t elements = 1;
    for (const nlohmann::json& d : e["shape"]) {
      if (!d.is_number_unsigned()) return Damaged("tensor `" + t.name + "` has a bad shape");
      const auto dim = d.get<std::uint64_t>();
      if (dim != 0 && elements > std::numeric_limits<std::uint64_t>::max() / 16 / dim) {
        return Damaged("tensor `" + t.name + "` is impossibly large");
      }
      elements *= dim;
      t.shape.push_back(static_cast<std::int64_t>(dim));
    }
    const nlohmann::json& off = e["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
      return Damaged("tensor `" + t.name + "` has bad data_offsets");
    }
    const auto begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
    if (begin > end || end > data_size || end - begin != elements * info->size) {
      return Damaged("tensor `" + t.name + "` has data_offsets [" + std::to_string(begin) + ", " +
                     std::to_string(end) + "] that do not fit its shape or the file");
    }
    t.bytes = bytes.substr(8 + n + begin, end - begin);
    spans.emplace_back(begin, end);
    st.tensors.push_back(std::move(t));
  }
  // The tensors must tile the data section: no gaps, no overlaps.
  std::vector<std::size_t> order(spans.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return spans[a] < spans[b]; });
  std::uint64_t expected = 0;
  for (std::size_t i : order) {
    if (spans[i].first != expected) return Damaged("tensor data overlaps or leaves gaps");
    expected = spans[i].second;
  }
  if (expected != data_size) return Damaged("trailing bytes after the last tensor");
  // Keep the file's data order, which is the order writers intend.
  std::vector<Tensor> sorted;
  for (std::size_t i : order) sorted.push_back(std::move(st.tensors[i]));
  st.tensors = std::move(sorted);
  return st;
}

Status WriteSafetensorsFile(const std::string& path, const Safetensors& st) {
  ENTRENAR_ASSIGN_OR_RETURN(std::string bytes, EncodeSafetensors(st));
  return WriteFileAtomic(path, bytes);
}

Result<Safetensors> ReadSafetensorsFile(const std::string& path) {
  ENTRENAR_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  Result<Safetensors> st = DecodeSafetensors(bytes);
  if (!st.ok()) return Status(st.status().code(), path + ": " + st.status().message());
  return st;
}

Tensor MakeF32Tensor(std::string name, std::vector<std::int64_t> shape,
                     const std::vector<float>& values) {
  Tensor t;
  t.name = std::move(name);
  t.dtype = DType::kF32;
  t.shape = std::move(shape);
  t.bytes.resize(values.size() * 4);
  // x86-64 and aarch64 are little-endian, as the format is.
  std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
  return t;
}

std::vector<float> F32Values(const Tensor& t) {
  std::vector<float> v(t.bytes.size() / 4);
  std::memcpy(v.data(), t.bytes.data(), v.size() * 4);
  return v;
}

}  // namespace entrenar::formats
