// TensorBoard event files: TFRecord framing around hand-encoded Event protocol buffers.
#include "entrenar/formats/tfevents.h"

#include <unistd.h>

#include <array>
#include <cstring>
#include <ctime>
#include <filesystem>

namespace entrenar::formats {
namespace {

constexpr std::array<std::uint32_t, 256> MakeTable() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<std::uint32_t, 256> kTable = MakeTable();

void Varint(std::string* out, std::uint64_t v) {
  while (v >= 0x80) {
    *out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  *out += static_cast<char>(v);
}

void Tag(std::string* out, int field, int wire_type) {
  Varint(out, static_cast<std::uint64_t>(field << 3 | wire_type));
}

void Bytes(std::string* out, int field, const std::string& s) {
  Tag(out, field, 2);
  Varint(out, s.size());
  *out += s;
}

template <typename T>
void Fixed(std::string* out, int field, T v, int wire_type) {
  Tag(out, field, wire_type);
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}

// A protocol buffer reader for the few fields of Event, Summary and Summary.Value.
class WireReader {
 public:
  explicit WireReader(std::string_view b) : b_(b) {}
  bool done() const { return pos_ >= b_.size() || !ok_; }
  bool ok() const { return ok_; }
  // The next field: number and wire type.
  std::pair<int, int> Next() {
    const std::uint64_t key = Varint();
    return {static_cast<int>(key >> 3), static_cast<int>(key & 7)};
  }
  std::uint64_t Varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) break;
      const auto byte = static_cast<unsigned char>(b_[pos_++]);
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    ok_ = false;
    return 0;
  }
  std::string_view Take(std::size_t n) {
    if (n > b_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view s = b_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string_view LengthDelimited() { return Take(Varint()); }
  void Skip(int wire_type) {
    if (wire_type == 0) {
      Varint();
    } else if (wire_type == 1) {
      Take(8);
    } else if (wire_type == 2) {
      LengthDelimited();
    } else if (wire_type == 5) {
      Take(4);
    } else {
      ok_ = false;
    }
  }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

template <typename T>
T Load(std::string_view s) {
  T v{};
  if (s.size() == sizeof(T)) std::memcpy(&v, s.data(), sizeof(T));
  return v;
}

bool DecodeValue(std::string_view bytes, ScalarEvent* e) {
  WireReader r(bytes);
  std::string tag;
  float value = 0;
  bool simple = false;
  while (!r.done()) {
    const auto [field, wire] = r.Next();
    if (field == 1 && wire == 2) {
      tag = std::string(r.LengthDelimited());
    } else if (field == 2 && wire == 5) {
      value = Load<float>(r.Take(4));
      simple = true;
    } else {
      r.Skip(wire);
    }
  }
  if (simple) e->scalars[tag] = value;
  return r.ok();
}

bool DecodeEvent(std::string_view bytes, ScalarEvent* e) {
  WireReader r(bytes);
  while (!r.done()) {
    const auto [field, wire] = r.Next();
    if (field == 1 && wire == 1) {
      e->wall_time = Load<double>(r.Take(8));
    } else if (field == 2 && wire == 0) {
      e->step = static_cast<std::int64_t>(r.Varint());
    } else if (field == 3 && wire == 2) {
      e->file_version = std::string(r.LengthDelimited());
    } else if (field == 5 && wire == 2) {
      WireReader summary(r.LengthDelimited());
      while (!summary.done()) {
        const auto [sf, sw] = summary.Next();
        if (sf == 1 && sw == 2) {
          if (!DecodeValue(summary.LengthDelimited(), e)) return false;
        } else {
          summary.Skip(sw);
        }
      }
      if (!summary.ok()) return false;
    } else {
      r.Skip(wire);
    }
  }
  return r.ok();
}

}  // namespace

std::uint32_t Crc32c(const void* data, std::size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = 0xffffffffu;
  for (std::size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

std::uint32_t MaskedCrc32c(const void* data, std::size_t n) {
  const std::uint32_t c = Crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string EncodeEvent(const ScalarEvent& e) {
  std::string out;
  Fixed(&out, 1, e.wall_time, 1);
  if (e.step != 0) {
    Tag(&out, 2, 0);
    Varint(&out, static_cast<std::uint64_t>(e.step));
  }
  if (!e.file_version.empty()) Bytes(&out, 3, e.file_version);
  if (!e.scalars.empty()) {
    std::string summary;
    for (const auto& [tag, value] : e.scalars) {
      std::string v;
      Bytes(&v, 1, tag);
      Fixed(&v, 2, value, 5);
      Bytes(&summary, 1, v);
    }
    Bytes(&out, 5, summary);
  }
  return out;
}

std::string EncodeRecord(const std::string& data) {
  std::string out(16, '\0');
  const std::uint64_t n = data.size();
  std::memcpy(out.data(), &n, 8);
  const std::uint32_t len_crc = MaskedCrc32c(out.data(), 8);
  std::memcpy(out.data() + 8, &len_crc, 4);
  out.resize(12);
  out += data;
  const std::uint32_t data_crc = MaskedCrc32c(data.data(), data.size());
  char buf[4];
  std::memcpy(buf, &data_crc, 4);
  out.append(buf, 4);
  return out;
}

Result<std::vector<ScalarEvent>> DecodeEventFile(const std::string& bytes) {
  std::vector<ScalarEvent> events;
  std::size_t pos = 0;
  while (bytes.size() - pos >= 12) {
    std::uint64_t n = 0;
    std::uint32_t len_crc = 0, data_crc = 0;
    std::memcpy(&n, bytes.data() + pos, 8);
    std::memcpy(&len_crc, bytes.data() + pos + 8, 4);
    if (len_crc != MaskedCrc32c(bytes.data() + pos, 8))
      return DataLoss("tfevents: bad length CRC at byte " + std::to_string(pos));
    if (n > bytes.size() - pos - 12 || bytes.size() - pos - 12 - n < 4) break;  // truncated
    const char* data = bytes.data() + pos + 12;
    std::memcpy(&data_crc, data + n, 4);
    if (data_crc != MaskedCrc32c(data, n))
      return DataLoss("tfevents: bad data CRC at byte " + std::to_string(pos));
    ScalarEvent e;
    if (!DecodeEvent(std::string_view(data, n), &e))
      return DataLoss("tfevents: a damaged Event at byte " + std::to_string(pos));
    events.push_back(std::move(e));
    pos += 12 + n + 4;
  }
  return events;
}

Result<EventFileWriter> EventFileWriter::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("cannot create " + dir + ": " + ec.message());
  char host[256] = "localhost";
  gethostname(host, sizeof(host) - 1);
  const double now = static_cast<double>(std::time(nullptr));
  EventFileWriter w;
  w.path_ = dir + "/events.out.tfevents." + std::to_string(static_cast<long long>(now)) + "." +
            host + "." + std::to_string(getpid());
  w.out_.open(w.path_, std::ios::binary | std::ios::app);
  if (!w.out_) return Internal("cannot write " + w.path_);
  ScalarEvent first;
  first.wall_time = now;
  first.file_version = "brain.Event:2";
  w.Add(first);
  ENTRENAR_RETURN_IF_ERROR(w.Flush());
  return w;
}

void EventFileWriter::Add(const ScalarEvent& e) { out_ << EncodeRecord(EncodeEvent(e)); }

Status EventFileWriter::Flush() {
  out_.flush();
  if (!out_) return Internal("cannot write " + path_);
  return OkStatus();
}

}  // namespace entrenar::formats
