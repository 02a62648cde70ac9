// SentencePiece models (`.model`), read and applied by our own code: the ModelProto is decoded
// from protobuf's wire format (the few fields encoding needs), and text is encoded as
// SentencePiece's BPE (merge the adjacent pair whose piece scores highest) or Unigram (the
// Viterbi path of highest total score) model does, with byte fallback. Tests check every
// token against spm_encode. Linking libsentencepiece itself is not an option: it carries its
// own copy of protobuf-lite, which clashes with the libprotobuf LibTorch and gRPC load.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <unordered_map>

#include "entrenar/base/files.h"
#include "entrenar/text/tokenizer.h"

namespace entrenar::text {
namespace {

// protobuf wire format: a cursor over one message's bytes.
class Wire {
 public:
  explicit Wire(std::string_view bytes) : b_(bytes) {}
  bool Done() const { return i_ >= b_.size(); }
  bool ok() const { return ok_; }
  // The next field's number and wire type; false at the end or on damage.
  bool Next(std::uint32_t* field, std::uint32_t* type) {
    if (Done()) return false;
    const std::uint64_t key = Varint();
    *field = static_cast<std::uint32_t>(key >> 3);
    *type = static_cast<std::uint32_t>(key & 7);
    return ok_;
  }
  std::uint64_t Varint() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i_ >= b_.size()) return Fail();
      const auto c = static_cast<unsigned char>(b_[i_++]);
      v |= static_cast<std::uint64_t>(c & 0x7f) << shift;
      if (c < 0x80) return v;
    }
    return Fail();
  }
  std::string_view Bytes() {
    const std::uint64_t n = Varint();
    if (!ok_ || n > b_.size() - i_) return Fail(), std::string_view();
    const std::string_view out = b_.substr(i_, n);
    i_ += n;
    return out;
  }
  float Fixed32() {
    if (b_.size() - i_ < 4) return static_cast<float>(Fail());
    float f;
    std::memcpy(&f, b_.data() + i_, 4);
    i_ += 4;
    return f;
  }
  void Skip(std::uint32_t type) {
    if (type == 0)
      Varint();
    else if (type == 1)
      i_ = b_.size() - i_ >= 8 ? i_ + 8 : (Fail(), i_);
    else if (type == 2)
      Bytes();
    else if (type == 5)
      Fixed32();
    else
      Fail();
  }

 private:
  std::uint64_t Fail() {
    ok_ = false;
    i_ = b_.size();
    return 0;
  }
  std::string_view b_;
  std::size_t i_ = 0;
  bool ok_ = true;
};

enum PieceType {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6
};

// Byte length of the UTF-8 character starting with `c` (1 for a stray byte).
std::size_t CharLength(unsigned char c) {
  if (c >= 0xf0 && c < 0xf8) return 4;
  if (c >= 0xe0) return c < 0xf0 ? 3 : 1;
  if (c >= 0xc0) return 2;
  return 1;
}

const std::string kSpace = "\xe2\x96\x81";  // U+2581, SentencePiece's escaped space

}  // namespace

struct SentencePieceTokenizer::Impl {
  struct Piece {
    std::string text;
    float score = 0;
    std::int32_t type = kNormal;
  };
  std::vector<Piece> pieces;
  std::unordered_map<std::string, std::int32_t> ids;               // pieces that text can become
  std::vector<std::pair<std::string, std::int32_t>> user_defined;  // longest first
  std::int32_t byte_ids[256];
  int model_type = 1;  // 1 unigram, 2 BPE
  bool byte_fallback = false;
  std::int32_t unk = 0, bos = 1, eos = 2;
  std::string normalizer = "nmt_nfkc";
  bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
  float min_score = 0;

  Status Parse(std::string_view bytes, const std::string& path);
  std::string Normalize(std::string_view text) const;
  std::vector<std::string> Symbols(const std::string& s) const;
  std::vector<std::string> Bpe(const std::string& s) const;
  std::vector<std::string> Unigram(const std::string& s) const;
  void Emit(const std::string& piece, std::vector<std::int32_t>* out) const;
};

Status SentencePieceTokenizer::Impl::Parse(std::string_view bytes, const std::string& path) {
  Wire model(bytes);
  std::uint32_t f = 0, t = 0;
  bool has_charsmap = false;
  while (model.Next(&f, &t)) {
    if (f == 1 && t == 2) {  // SentencePiece {piece = 1, score = 2, type = 3}
      Wire p(model.Bytes());
      Piece piece;
      while (p.Next(&f, &t)) {
        if (f == 1 && t == 2)
          piece.text = std::string(p.Bytes());
        else if (f == 2 && t == 5)
          piece.score = p.Fixed32();
        else if (f == 3 && t == 0)
          piece.type = static_cast<std::int32_t>(p.Varint());
        else
          p.Skip(t);
      }
      if (!p.ok()) return InvalidArgument(path + " is not a SentencePiece model (damaged piece)");
      pieces.push_back(std::move(piece));
    } else if (f == 2 && t == 2) {  // TrainerSpec
      Wire s(model.Bytes());
      while (s.Next(&f, &t)) {
        if (t != 0)
          s.Skip(t);
        else if (f == 3)
          model_type = static_cast<int>(s.Varint());
        else if (f == 35)
          byte_fallback = s.Varint() != 0;
        else if (f == 40)
          unk = static_cast<std::int32_t>(s.Varint());
        else if (f == 41)
          bos = static_cast<std::int32_t>(s.Varint());
        else if (f == 42)
          eos = static_cast<std::int32_t>(s.Varint());
        else
          s.Varint();
      }
    } else if (f == 3 && t == 2) {  // NormalizerSpec
      Wire s(model.Bytes());
      while (s.Next(&f, &t)) {
        if (f == 1 && t == 2)
          normalizer = std::string(s.Bytes());
        else if (f == 2 && t == 2)
          has_charsmap = !s.Bytes().empty();
        else if (f == 3 && t == 0)
          add_dummy_prefix = s.Varint() != 0;
        else if (f == 4 && t == 0)
          remove_extra_whitespaces = s.Varint() != 0;
        else if (f == 5 && t == 0)
          escape_whitespaces = s.Varint() != 0;
        else
          s.Skip(t);
      }
    } else {
      model.Skip(t);
    }
  }
  if (!model.ok() || pieces.empty()) return InvalidArgument(path + " is not a SentencePiece model");
  if (model_type != 1 && model_type != 2) {
    return Unimplemented(path + ": SentencePiece model type " + std::to_string(model_type) +
                         " (unigram and BPE are built)");
  }
  if (has_charsmap || (normalizer != "identity" && !normalizer.empty())) {
    return Unimplemented(path + ": the `" + normalizer +
                         "` normalization (models with the identity normalizer, as LLaMA's and "
                         "Mistral's, are read; train with --normalization_rule_name=identity)");
  }
  // The special ids index the pieces: unk must name one, bos and eos one or none (-1).
  const auto piece = [&](std::int32_t id) {
    return id >= 0 && static_cast<std::size_t>(id) < pieces.size();
  };
  if (!piece(unk)) {
    return InvalidArgument(path + ": unk_id " + std::to_string(unk) + " is not one of its " +
                           std::to_string(pieces.size()) + " pieces");
  }
  for (const auto& [name, id] : {std::pair{"bos_id", bos}, std::pair{"eos_id", eos}}) {
    if (id != -1 && !piece(id)) {
      return InvalidArgument(path + ": " + name + " " + std::to_string(id) + " is not one of its " +
                             std::to_string(pieces.size()) + " pieces (nor -1, none)");
    }
  }
  std::fill(std::begin(byte_ids), std::end(byte_ids), -1);
  min_score = std::numeric_limits<float>::max();
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const Piece& p = pieces[i];
    const auto id = static_cast<std::int32_t>(i);
    if (p.type == kByte) {
      // `<0xAB>`: anything else is a damaged model, not a byte to index with.
      const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
      if (p.text.size() != 6 || p.text.rfind("<0x", 0) != 0 || !hex(p.text[3]) || !hex(p.text[4]) ||
          p.text[5] != '>') {
        return InvalidArgument(path + ": byte piece " + std::to_string(i) +
                               " is not written <0xHH>");
      }
      byte_ids[std::stoi(p.text.substr(3, 2), nullptr, 16)] = id;
    } else if (p.type == kNormal || p.type == kUserDefined) {
      ids.emplace(p.text, id);
      if (p.type == kUserDefined) user_defined.emplace_back(p.text, id);
      if (p.type == kNormal) min_score = std::min(min_score, p.score);
    }
  }
  std::stable_sort(user_defined.begin(), user_defined.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return OkStatus();
}

// Identity normalization with SentencePiece's whitespace handling: extra spaces removed, a
// dummy space in front, spaces escaped as U+2581.
std::string SentencePieceTokenizer::Impl::Normalize(std::string_view text) const {
  std::string s(text);
  if (remove_extra_whitespaces) {
    std::string out;
    for (char c : s) {
      if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
      out += c;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    s = out;
  }
  if (s.empty()) return s;
  if (add_dummy_prefix) s.insert(s.begin(), ' ');
  if (!escape_whitespaces) return s;
  std::string out;
  for (char c : s) out += c == ' ' ? kSpace : std::string(1, c);
  return out;
}

// The characters of `s`, user-defined pieces kept whole.
std::vector<std::string> SentencePieceTokenizer::Impl::Symbols(const std::string& s) const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = 0;
    for (const auto& [text, id] : user_defined) {
      if (s.compare(i, text.size(), text) == 0) {
        n = text.size();
        break;
      }
    }
    if (n == 0) n = std::min(CharLength(static_cast<unsigned char>(s[i])), s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::vector<std::string> SentencePieceTokenizer::Impl::Bpe(const std::string& s) const {
  std::vector<std::string> sym = Symbols(s);
  while (sym.size() > 1) {
    float best = -std::numeric_limits<float>::infinity();
    std::size_t at = sym.size();
    for (std::size_t k = 0; k + 1 < sym.size(); ++k) {
      const auto it = ids.find(sym[k] + sym[k + 1]);
      if (it == ids.end() || pieces[static_cast<std::size_t>(it->second)].type != kNormal) continue;
      const float score = pieces[static_cast<std::size_t>(it->second)].score;
      if (score > best) {
        best = score;
        at = k;
      }
    }
    if (at == sym.size()) break;
    sym[at] += sym[at + 1];
    sym.erase(sym.begin() + static_cast<long>(at) + 1);
  }
  return sym;
}

// The segmentation with the highest total piece score; a character no piece covers is one
// unknown symbol, scored below every piece.
std::vector<std::string> SentencePieceTokenizer::Impl::Unigram(const std::string& s) const {
  const std::vector<std::string> chars = Symbols(s);
  std::vector<std::size_t> offset(chars.size() + 1, 0);
  for (std::size_t i = 0; i < chars.size(); ++i) offset[i + 1] = offset[i] + chars[i].size();
  const float unk_score = min_score - 10;
  std::vector<double> best(chars.size() + 1, -std::numeric_limits<double>::infinity());
  std::vector<std::size_t> from(chars.size() + 1, 0);
  best[0] = 0;
  for (std::size_t i = 0; i < chars.size(); ++i) {
    if (best[i] == -std::numeric_limits<double>::infinity()) continue;
    bool single = false;
    for (std::size_t j = i + 1; j <= chars.size(); ++j) {
      const auto it = ids.find(s.substr(offset[i], offset[j] - offset[i]));
      if (it == ids.end()) continue;
      single = single || j == i + 1;
      const double score = best[i] + pieces[static_cast<std::size_t>(it->second)].score;
      if (score > best[j]) {
        best[j] = score;
        from[j] = i;
      }
    }
    if (!single && best[i] + unk_score > best[i + 1]) {
      best[i + 1] = best[i] + unk_score;
      from[i + 1] = i;
    }
  }
  std::vector<std::string> out;
  for (std::size_t j = chars.size(); j > 0; j = from[j]) {
    out.push_back(s.substr(offset[from[j]], offset[j] - offset[from[j]]));
  }
  std::reverse(out.begin(), out.end());
  return out;
}

void SentencePieceTokenizer::Impl::Emit(const std::string& piece,
                                        std::vector<std::int32_t>* out) const {
  const auto it = ids.find(piece);
  if (it != ids.end()) {
    out->push_back(it->second);
  } else if (byte_fallback) {
    for (unsigned char c : piece) out->push_back(byte_ids[c] >= 0 ? byte_ids[c] : unk);
  } else if (out->empty() || out->back() != unk) {
    out->push_back(unk);  // consecutive unknown symbols become one <unk>
  }
}

SentencePieceTokenizer::SentencePieceTokenizer(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

Result<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::FromFile(
    const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return NotFound(path + " does not exist");
  ENTRENAR_ASSIGN_OR_RETURN(const std::string bytes, ReadWholeFile(path));
  return FromBytes(bytes, path);
}

Result<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::FromBytes(
    std::string_view bytes, const std::string& name) {
  auto impl = std::make_unique<Impl>();
  ENTRENAR_RETURN_IF_ERROR(impl->Parse(bytes, name));
  return std::unique_ptr<SentencePieceTokenizer>(new SentencePieceTokenizer(std::move(impl)));
}

std::vector<std::int32_t> SentencePieceTokenizer::Encode(std::string_view text) const {
  const std::string s = impl_->Normalize(text);
  std::vector<std::int32_t> out;
  for (const std::string& piece : impl_->model_type == 2 ? impl_->Bpe(s) : impl_->Unigram(s)) {
    impl_->Emit(piece, &out);
  }
  return out;
}

std::string SentencePieceTokenizer::Decode(const std::vector<std::int32_t>& ids) const {
  std::string out;
  for (std::int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= impl_->pieces.size()) continue;
    const Impl::Piece& p = impl_->pieces[static_cast<std::size_t>(id)];
    if (p.type == kControl || p.type == kUnused) continue;
    if (p.type == kUnknown) {
      out += " \xe2\x81\x87 ";  // SentencePiece's surface of <unk>
    } else if (p.type == kByte) {
      out += static_cast<char>(std::stoi(p.text.substr(3, 2), nullptr, 16));
    } else {
      out += p.text;
    }
  }
  std::string text;
  for (std::size_t i = 0; i < out.size();) {
    if (out.compare(i, kSpace.size(), kSpace) == 0) {
      text += ' ';
      i += kSpace.size();
    } else {
      text += out[i++];
    }
  }
  if (impl_->add_dummy_prefix && !text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

std::size_t SentencePieceTokenizer::VocabSize() const { return impl_->pieces.size(); }
std::int32_t SentencePieceTokenizer::BosId() const { return impl_->bos; }
std::int32_t SentencePieceTokenizer::EosId() const { return impl_->eos; }
std::string SentencePieceTokenizer::Piece(std::int32_t id) const {
  return impl_->pieces.at(static_cast<std::size_t>(id)).text;
}
float SentencePieceTokenizer::Score(std::int32_t id) const {
  return impl_->pieces.at(static_cast<std::size_t>(id)).score;
}
std::int32_t SentencePieceTokenizer::GgufType(std::int32_t id) const {
  return impl_->pieces.at(static_cast<std::size_t>(id)).type;
}

}  // namespace entrenar::text
