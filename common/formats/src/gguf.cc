// GGUF (llama.cpp's model file, docs/gguf.md of ggml): header, typed key/values, tensor infos and
// aligned tensor data; ggml's F16, Q8_0 and Q4_0 encodings.
#include "entrenar/formats/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "entrenar/base/files.h"

namespace entrenar::formats {
namespace {

using Type = GgufValue::Type;
constexpr std::uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr std::int64_t kBlock = 32;

// Bytes of `count` elements of `type`.
std::int64_t EncodedSize(GgmlType type, std::int64_t count) {
  switch (type) {
    case GgmlType::kF32:
      return count * 4;
    case GgmlType::kF16:
      return count * 2;
    case GgmlType::kQ8_0:
      return count / kBlock * (2 + 32);
    case GgmlType::kQ4_0:
      return count / kBlock * (2 + 16);
  }
  return -1;
}

class Writer {
 public:
  template <typename T>
  void Put(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    out_.append(buf, sizeof(T));
  }
  void Str(const std::string& s) {
    Put<std::uint64_t>(s.size());
    out_ += s;
  }
  void Value(const GgufValue& v) {
    switch (v.type) {
      case Type::kU8:
      case Type::kBool:
        return Put<std::uint8_t>(static_cast<std::uint8_t>(v.u));
      case Type::kI8:
        return Put<std::int8_t>(static_cast<std::int8_t>(v.i));
      case Type::kU16:
        return Put<std::uint16_t>(static_cast<std::uint16_t>(v.u));
      case Type::kI16:
        return Put<std::int16_t>(static_cast<std::int16_t>(v.i));
      case Type::kU32:
        return Put<std::uint32_t>(static_cast<std::uint32_t>(v.u));
      case Type::kI32:
        return Put<std::int32_t>(static_cast<std::int32_t>(v.i));
      case Type::kF32:
        return Put<float>(static_cast<float>(v.f));
      case Type::kU64:
        return Put<std::uint64_t>(v.u);
      case Type::kI64:
        return Put<std::int64_t>(v.i);
      case Type::kF64:
        return Put<double>(v.f);
      case Type::kString:
        return Str(v.s);
      case Type::kArray:
        Put<std::uint32_t>(static_cast<std::uint32_t>(v.element));
        Put<std::uint64_t>(v.array.size());
        for (const GgufValue& e : v.array) Value(e);
        return;
    }
  }
  void Pad(std::size_t alignment) {
    while (out_.size() % alignment) out_ += '\0';
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& b) : b_(b) {}
  bool ok() const { return ok_; }
  std::size_t pos() const { return pos_; }
  template <typename T>
  T Get() {
    T v{};
    if (sizeof(T) > b_.size() - pos_) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string Str() {
    const auto n = Get<std::uint64_t>();
    if (!ok_ || n > b_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  GgufValue Value(Type type, int depth = 0) {
    GgufValue v;
    v.type = type;
    switch (type) {
      case Type::kU8:
      case Type::kBool:
        v.u = Get<std::uint8_t>();
        break;
      case Type::kI8:
        v.i = Get<std::int8_t>();
        break;
      case Type::kU16:
        v.u = Get<std::uint16_t>();
        break;
      case Type::kI16:
        v.i = Get<std::int16_t>();
        break;
      case Type::kU32:
        v.u = Get<std::uint32_t>();
        break;
      case Type::kI32:
        v.i = Get<std::int32_t>();
        break;
      case Type::kF32:
        v.f = Get<float>();
        break;
      case Type::kU64:
        v.u = Get<std::uint64_t>();
        break;
      case Type::kI64:
        v.i = Get<std::int64_t>();
        break;
      case Type::kF64:
        v.f = Get<double>();
        break;
      case Type::kString:
        v.s = Str();
        break;
      case Type::kArray: {
        v.element = static_cast<Type>(Get<std::uint32_t>());
        const auto n = Get<std::uint64_t>();
        // Every element takes at least one byte: a count past the end is damage.
        if (depth > 4 || n > b_.size() - pos_) {
          ok_ = false;
          break;
        }
        for (std::uint64_t k = 0; k < n && ok_; ++k) v.array.push_back(Value(v.element, depth + 1));
        break;
      }
      default:
        ok_ = false;
    }
    return v;
  }

 private:
  const std::string& b_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

void EncodeQ8(const float* x, std::string* out) {
  float amax = 0;
  for (int i = 0; i < kBlock; ++i) amax = std::max(amax, std::fabs(x[i]));
  const float d = amax / 127;
  const float id = d != 0 ? 1 / d : 0;
  const std::uint16_t dh = FloatToHalf(d);
  out->append(reinterpret_cast<const char*>(&dh), 2);
  for (int i = 0; i < kBlock; ++i) out->push_back(static_cast<char>(std::lround(x[i] * id)));
}

void EncodeQ4(const float* x, std::string* out) {
  float amax = 0, max = 0;  // the value of largest magnitude, with its sign
  for (int i = 0; i < kBlock; ++i) {
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      max = x[i];
    }
  }
  const float d = max / -8;
  const float id = d != 0 ? 1 / d : 0;
  const std::uint16_t dh = FloatToHalf(d);
  out->append(reinterpret_cast<const char*>(&dh), 2);
  for (int j = 0; j < kBlock / 2; ++j) {
    const auto q0 = static_cast<std::uint8_t>(std::min(15, static_cast<int>(x[j] * id + 8.5f)));
    const auto q1 =
        static_cast<std::uint8_t>(std::min(15, static_cast<int>(x[j + kBlock / 2] * id + 8.5f)));
    out->push_back(static_cast<char>(q0 | (q1 << 4)));
  }
}

// A power of two; llama.cpp writes 32. Past 1 MiB no real file goes, and padding to a huge one
// (2^31 fits the key's u32) would make a tiny file gigabytes when written again.
bool GoodAlignment(std::uint32_t a) { return a != 0 && (a & (a - 1)) == 0 && a <= (1u << 20); }

}  // namespace

GgufValue GgufValue::U32(std::uint32_t v) {
  GgufValue g;
  g.type = Type::kU32;
  g.u = v;
  return g;
}
GgufValue GgufValue::U64(std::uint64_t v) {
  GgufValue g;
  g.type = Type::kU64;
  g.u = v;
  return g;
}
GgufValue GgufValue::I32(std::int32_t v) {
  GgufValue g;
  g.type = Type::kI32;
  g.i = v;
  return g;
}
GgufValue GgufValue::F32(float v) {
  GgufValue g;
  g.type = Type::kF32;
  g.f = v;
  return g;
}
GgufValue GgufValue::Bool(bool v) {
  GgufValue g;
  g.type = Type::kBool;
  g.u = v ? 1 : 0;
  return g;
}
GgufValue GgufValue::String(std::string v) {
  GgufValue g;
  g.type = Type::kString;
  g.s = std::move(v);
  return g;
}
GgufValue GgufValue::Strings(const std::vector<std::string>& v) {
  GgufValue g;
  g.type = Type::kArray;
  g.element = Type::kString;
  for (const std::string& s : v) g.array.push_back(String(s));
  return g;
}
GgufValue GgufValue::F32s(const std::vector<float>& v) {
  GgufValue g;
  g.type = Type::kArray;
  g.element = Type::kF32;
  for (float f : v) g.array.push_back(F32(f));
  return g;
}
GgufValue GgufValue::I32s(const std::vector<std::int32_t>& v) {
  GgufValue g;
  g.type = Type::kArray;
  g.element = Type::kI32;
  for (std::int32_t i : v) g.array.push_back(I32(i));
  return g;
}

std::string GgmlTypeName(GgmlType t) {
  switch (t) {
    case GgmlType::kF32:
      return "F32";
    case GgmlType::kF16:
      return "F16";
    case GgmlType::kQ4_0:
      return "Q4_0";
    case GgmlType::kQ8_0:
      return "Q8_0";
  }
  return "?";
}

std::int64_t GgufTensor::NumElements() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

const GgufValue* Gguf::Find(const std::string& key) const {
  for (const auto& [k, v] : metadata) {
    if (k == key) return &v;
  }
  return nullptr;
}

const GgufTensor* Gguf::FindTensor(const std::string& name) const {
  for (const GgufTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::uint16_t FloatToHalf(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint32_t sign = (x >> 16) & 0x8000;
  const std::uint32_t abs = x & 0x7fffffff;
  if (abs > 0x7f800000) return static_cast<std::uint16_t>(sign | 0x7e00);   // NaN
  if (abs >= 0x477ff000) return static_cast<std::uint16_t>(sign | 0x7c00);  // overflow: inf
  if (abs < 0x38800000) {  // a half subnormal (or zero): scale into 10 bits, round to even
    const float scaled = std::fabs(f) * 16777216.0f;  // 2^24
    return static_cast<std::uint16_t>(sign | static_cast<std::uint32_t>(std::nearbyint(scaled)));
  }
  const std::uint32_t mantissa_odd = (abs >> 13) & 1;
  const std::uint32_t rounded = abs + 0xfff + mantissa_odd;
  return static_cast<std::uint16_t>(sign | ((rounded - 0x38000000) >> 13));
}

float HalfToFloat(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000) << 16;
  const std::uint32_t exp = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  float out;
  if (exp == 0) {
    out = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -out : out;
  }
  const std::uint32_t bits = exp == 31 ? sign | 0x7f800000 | (mantissa << 13)
                                       : sign | ((exp + 112) << 23) | (mantissa << 13);
  std::memcpy(&out, &bits, 4);
  return out;
}

Result<std::string> EncodeGgml(const std::vector<float>& values, GgmlType type) {
  std::string out;
  const auto n = static_cast<std::int64_t>(values.size());
  if ((type == GgmlType::kQ8_0 || type == GgmlType::kQ4_0) && n % kBlock != 0) {
    return InvalidArgument(GgmlTypeName(type) + " needs a multiple of 32 values, not " +
                           std::to_string(n));
  }
  out.reserve(static_cast<std::size_t>(EncodedSize(type, n)));
  for (std::int64_t i = 0; i < n;) {
    switch (type) {
      case GgmlType::kF32:
        out.append(reinterpret_cast<const char*>(values.data()), values.size() * 4);
        return out;
      case GgmlType::kF16: {
        const std::uint16_t h = FloatToHalf(values[static_cast<std::size_t>(i++)]);
        out.append(reinterpret_cast<const char*>(&h), 2);
        break;
      }
      case GgmlType::kQ8_0:
        EncodeQ8(values.data() + i, &out);
        i += kBlock;
        break;
      case GgmlType::kQ4_0:
        EncodeQ4(values.data() + i, &out);
        i += kBlock;
        break;
    }
  }
  return out;
}

Result<std::vector<float>> DecodeGgml(const std::string& data, GgmlType type, std::int64_t count) {
  if ((type == GgmlType::kQ8_0 || type == GgmlType::kQ4_0) && count % kBlock != 0)
    return InvalidArgument("a quantized tensor's size must be a multiple of 32");
  if (EncodedSize(type, count) != static_cast<std::int64_t>(data.size()))
    return DataLoss(GgmlTypeName(type) + " data of " + std::to_string(data.size()) +
                    " bytes does not hold " + std::to_string(count) + " values");
  std::vector<float> out(static_cast<std::size_t>(count));
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  for (std::int64_t i = 0; i < count;) {
    std::uint16_t h;
    switch (type) {
      case GgmlType::kF32:
        std::memcpy(out.data(), p, data.size());
        return out;
      case GgmlType::kF16:
        std::memcpy(&h, p + 2 * i, 2);
        out[static_cast<std::size_t>(i++)] = HalfToFloat(h);
        break;
      case GgmlType::kQ8_0: {
        const unsigned char* b = p + i / kBlock * 34;
        std::memcpy(&h, b, 2);
        const float d = HalfToFloat(h);
        for (int j = 0; j < kBlock; ++j) {
          out[static_cast<std::size_t>(i + j)] =
              d * static_cast<float>(static_cast<std::int8_t>(b[2 + j]));
        }
        i += kBlock;
        break;
      }
      case GgmlType::kQ4_0: {
        const unsigned char* b = p + i / kBlock * 18;
        std::memcpy(&h, b, 2);
        const float d = HalfToFloat(h);
        for (int j = 0; j < kBlock / 2; ++j) {
          out[static_cast<std::size_t>(i + j)] = d * static_cast<float>((b[2 + j] & 0x0f) - 8);
          out[static_cast<std::size_t>(i + j + kBlock / 2)] =
              d * static_cast<float>((b[2 + j] >> 4) - 8);
        }
        i += kBlock;
        break;
      }
    }
  }
  return out;
}

Result<std::string> EncodeGguf(const Gguf& g) {
  if (!GoodAlignment(g.alignment))
    return InvalidArgument("gguf: the alignment must be a power of two up to 1 MiB");
  Writer w;
  w.Put<std::uint32_t>(kMagic);
  w.Put<std::uint32_t>(3);
  w.Put<std::uint64_t>(g.tensors.size());
  const bool add_alignment = g.alignment != 32 && !g.Find("general.alignment");
  w.Put<std::uint64_t>(g.metadata.size() + (add_alignment ? 1 : 0));
  for (const auto& [key, value] : g.metadata) {
    w.Str(key);
    w.Put<std::uint32_t>(static_cast<std::uint32_t>(value.type));
    w.Value(value);
  }
  if (add_alignment) {
    w.Str("general.alignment");
    w.Put<std::uint32_t>(static_cast<std::uint32_t>(Type::kU32));
    w.Put<std::uint32_t>(g.alignment);
  }
  std::uint64_t offset = 0;
  for (const GgufTensor& t : g.tensors) {
    const std::int64_t n = t.NumElements();
    const bool quantized = t.type == GgmlType::kQ8_0 || t.type == GgmlType::kQ4_0;
    if (quantized && (t.shape.empty() || t.shape.back() % kBlock != 0))
      return InvalidArgument("gguf: " + t.name +
                             ": a quantized tensor's innermost dimension "
                             "must be a multiple of 32");
    if (EncodedSize(t.type, n) != static_cast<std::int64_t>(t.data.size()))
      return InvalidArgument("gguf: " + t.name + " has " + std::to_string(t.data.size()) +
                             " bytes, not what its shape and type need");
    w.Str(t.name);
    w.Put<std::uint32_t>(static_cast<std::uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) {
      w.Put<std::uint64_t>(static_cast<std::uint64_t>(*it));
    }
    w.Put<std::uint32_t>(static_cast<std::uint32_t>(t.type));
    w.Put<std::uint64_t>(offset);
    offset += (t.data.size() + g.alignment - 1) / g.alignment * g.alignment;
  }
  w.Pad(g.alignment);
  for (const GgufTensor& t : g.tensors) {
    w.bytes() += t.data;
    w.Pad(g.alignment);
  }
  return std::move(w.bytes());
}

Result<Gguf> DecodeGguf(const std::string& bytes) {
  Reader r(bytes);
  if (r.Get<std::uint32_t>() != kMagic || !r.ok()) return DataLoss("gguf: no GGUF magic");
  const auto version = r.Get<std::uint32_t>();
  if (version != 2 && version != 3)
    return Unimplemented("gguf: version " + std::to_string(version) + " (2 and 3 are read)");
  const auto tensors = r.Get<std::uint64_t>();
  const auto kvs = r.Get<std::uint64_t>();
  if (!r.ok() || tensors > bytes.size() || kvs > bytes.size())
    return DataLoss("gguf: the header is damaged");
  Gguf g;
  std::set<std::string> keys, names;  // llama.cpp refuses a file that names either twice
  for (std::uint64_t k = 0; k < kvs && r.ok(); ++k) {
    std::string key = r.Str();
    const auto type = static_cast<Type>(r.Get<std::uint32_t>());
    GgufValue v = r.Value(type);
    if (r.ok() && !keys.insert(key).second) return DataLoss("gguf: two metadata keys are " + key);
    if (key == "general.alignment" && v.type == Type::kU32)
      g.alignment = static_cast<std::uint32_t>(v.u);
    g.metadata.emplace_back(std::move(key), std::move(v));
  }
  if (!r.ok()) return DataLoss("gguf: the metadata is damaged");
  if (!GoodAlignment(g.alignment)) {
    return DataLoss("gguf: general.alignment is " + std::to_string(g.alignment) +
                    ", not a power of two up to 1 MiB");
  }
  std::vector<std::uint64_t> offsets;
  for (std::uint64_t k = 0; k < tensors && r.ok(); ++k) {
    GgufTensor t;
    t.name = r.Str();
    const auto dims = r.Get<std::uint32_t>();
    if (dims > 8) return DataLoss("gguf: " + t.name + " has " + std::to_string(dims) + " dims");
    for (std::uint32_t d = 0; d < dims; ++d) {
      t.shape.insert(t.shape.begin(), static_cast<std::int64_t>(r.Get<std::uint64_t>()));
    }
    const auto type = r.Get<std::uint32_t>();
    if (type != 0 && type != 1 && type != 2 && type != 8)
      return Unimplemented("gguf: " + t.name + " has ggml type " + std::to_string(type));
    t.type = static_cast<GgmlType>(type);
    if (r.ok() && !names.insert(t.name).second)
      return DataLoss("gguf: two tensors are named " + t.name);
    const bool quantized = t.type == GgmlType::kQ8_0 || t.type == GgmlType::kQ4_0;
    if (r.ok() && quantized && (t.shape.empty() || t.shape.back() % kBlock != 0)) {
      return DataLoss("gguf: " + t.name +
                      " is quantized but its innermost dimension is not a multiple of 32");
    }
    offsets.push_back(r.Get<std::uint64_t>());
    g.tensors.push_back(std::move(t));
  }
  if (!r.ok()) return DataLoss("gguf: the tensor infos are damaged");
  const std::size_t data = (r.pos() + g.alignment - 1) / g.alignment * g.alignment;
  for (std::size_t k = 0; k < g.tensors.size(); ++k) {
    GgufTensor& t = g.tensors[k];
    std::int64_t n = 1;
    for (std::int64_t d : t.shape) {
      if (d < 0 || (d > 0 && n > (std::int64_t{1} << 40) / d))
        return DataLoss("gguf: " + t.name + " has an impossible shape");
      n *= d;
    }
    const std::int64_t size = EncodedSize(t.type, n);
    if (offsets[k] > bytes.size() || data + offsets[k] > bytes.size() ||
        static_cast<std::uint64_t>(size) > bytes.size() - data - offsets[k])
      return DataLoss("gguf: " + t.name + "'s data is past the end of the file");
    t.data = bytes.substr(data + offsets[k], static_cast<std::size_t>(size));
  }
  return g;
}

Status WriteGgufFile(const std::string& path, const Gguf& g) {
  ENTRENAR_ASSIGN_OR_RETURN(std::string bytes, EncodeGguf(g));
  return WriteFileAtomic(path, bytes);
}

Result<Gguf> ReadGgufFile(const std::string& path) {
  ENTRENAR_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path));
  return DecodeGguf(bytes);
}

}  // namespace entrenar::formats
