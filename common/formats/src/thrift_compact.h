// The Thrift compact protocol, as Parquet's page headers and footer use it: a reader that never
// reads past its bytes (every failure makes ok() false and later reads return zeros) and the
// type ids. Internal to entrenar_formats.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace entrenar::formats::thrift {

// Compact protocol type ids.
constexpr int kTrue = 1, kFalse = 2, kByte = 3, kI16 = 4, kI32 = 5, kI64 = 6, kDouble = 7,
              kBinary = 8, kList = 9, kSet = 10, kMap = 11, kStruct = 12;

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
  // A field's integer or boolean value, whatever its width: a bool is in its type, a byte is
  // raw, wider integers are zigzag varints. Other types are skipped and read as 0.
  std::int64_t Value(int type) {
    if (type == kTrue || type == kFalse) return type == kTrue;
    if (type == kByte) return static_cast<signed char>(Byte());
    if (type == kI16 || type == kI32 || type == kI64) return Int();
    Skip(type);
    return 0;
  }
  // A list header whose count cannot exceed the bytes left (each element takes one at least).
  std::pair<int, std::size_t> BoundedList() {
    const auto [element, n] = List();
    if (n > b_.size() - pos_) {
      Fail();
      return {element, 0};
    }
    return {element, n};
  }
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

}  // namespace entrenar::formats::thrift
