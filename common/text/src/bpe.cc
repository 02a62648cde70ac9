// Byte-level BPE (tokenizer.json) and GPT-2's pre-tokenization.
#include "entrenar/text/bpe.h"

#include <algorithm>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"

namespace entrenar::text {
namespace {

struct CodeRange {
  char32_t lo, hi;
};
#include "unicode_tables.inc"

template <std::size_t N>
bool InRanges(const CodeRange (&ranges)[N], char32_t c) {
  const auto it = std::upper_bound(std::begin(ranges), std::end(ranges), c,
                                   [](char32_t v, const CodeRange& r) { return v < r.lo; });
  return it != std::begin(ranges) && c <= std::prev(it)->hi;
}

// One code point at `i` and its length in bytes; an invalid sequence is one byte, U+FFFD.
std::pair<char32_t, std::size_t> Decode(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return {0xFFFD, 1};
  char32_t c = n == 1 ? b : n == 2 ? (b & 0x1f) : n == 3 ? (b & 0x0f) : (b & 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    const auto cont = static_cast<unsigned char>(s[i + k]);
    if ((cont >> 6) != 2) return {0xFFFD, 1};
    c = (c << 6) | (cont & 0x3f);
  }
  return {c, n};
}

std::string Encode(char32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xc0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xe0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  }
  return out;
}

// GPT-2's reversible map from bytes to printable characters (bytes_to_unicode).
const std::vector<std::string>& ByteChars() {
  static const std::vector<std::string> table = [] {
    std::vector<std::string> t(256);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      t[static_cast<std::size_t>(b)] = Encode(printable ? static_cast<char32_t>(b) : next++);
    }
    return t;
  }();
  return table;
}

enum class Kind { kLetter, kNumber, kSpace, kOther };

Kind Classify(char32_t c) {
  if (IsWhiteSpace(c)) return Kind::kSpace;
  if (IsLetter(c)) return Kind::kLetter;
  if (IsNumber(c)) return Kind::kNumber;
  return Kind::kOther;
}

// The end of the run of `kind` starting at `i`.
std::size_t RunEnd(std::string_view s, std::size_t i, Kind kind) {
  while (i < s.size()) {
    const auto [c, n] = Decode(s, i);
    if (Classify(c) != kind) break;
    i += n;
  }
  return i;
}

// The length of a contraction ('s 't 're 've 'm 'll 'd) at `i`, or 0.
std::size_t Contraction(std::string_view s, std::size_t i) {
  if (s[i] != '\'' || i + 1 >= s.size()) return 0;
  const char a = s[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 < s.size()) {
    const char b = s[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  }
  return 0;
}

}  // namespace

bool IsLetter(char32_t c) { return InRanges(kLetters, c); }
bool IsNumber(char32_t c) { return InRanges(kNumbers, c); }
bool IsWhiteSpace(char32_t c) { return InRanges(kWhiteSpace, c); }

std::vector<std::string_view> SplitGpt2(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t end = i + Contraction(s, i);
    if (end == i) {
      // ` ?X+` for letters, numbers and others: an optional ASCII space, then a run.
      const std::size_t start = s[i] == ' ' && i + 1 < s.size() ? i + 1 : i;
      const Kind kind = Classify(Decode(s, start).first);
      if (kind != Kind::kSpace) end = RunEnd(s, start, kind);
      if (end == i) {  // whitespace: \s+(?!\S) leaves the last one before a non-space, else \s+
        end = RunEnd(s, i, Kind::kSpace);
        if (end < s.size()) {
          std::size_t last = i;  // the start of the run's last code point
          for (std::size_t k = i; k < end; k += Decode(s, k).second) last = k;
          if (last > i) end = last;
        }
      }
    }
    out.push_back(s.substr(i, end - i));
    i = end;
  }
  return out;
}

// Larger than any real vocabulary (Gemma's 256k), small enough that a table of this many
// tokens fits in memory.
constexpr std::int32_t kMaxTokenId = 1 << 22;

namespace {

// A token id as tokenizer.json writes it: an integer from 0 below kMaxTokenId (a float, such as
// 4.3e36, is no id: converting it would be undefined).
std::optional<std::int32_t> TokenIdOf(const nlohmann::json& v) {
  if (!v.is_number_integer() && !v.is_number_unsigned()) return std::nullopt;
  if (v.is_number_unsigned() && v.get<std::uint64_t>() >= kMaxTokenId) return std::nullopt;
  const std::int64_t id = v.get<std::int64_t>();
  if (id < 0 || id >= kMaxTokenId) return std::nullopt;
  return static_cast<std::int32_t>(id);
}

// `o[key]` when it is a string (or a bool), else `fallback`: json's value() throws for a value of
// another type, and a tokenizer.json is anyone's file.
std::string StringAt(const nlohmann::json& o, const char* key, const std::string& fallback) {
  const auto it = o.is_object() ? o.find(key) : o.end();
  return it != o.end() && it->is_string() ? it->get<std::string>() : fallback;
}
bool BoolAt(const nlohmann::json& o, const char* key, bool fallback) {
  const auto it = o.is_object() ? o.find(key) : o.end();
  return it != o.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

}  // namespace

Result<BpeTokenizer> BpeTokenizer::FromJson(std::string_view json) {
  const nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object() || !j.contains("model")) {
    return InvalidArgument("not a tokenizer.json (no `model`)");
  }
  const nlohmann::json& model = j["model"];
  const auto not_object = [&](const char* key) {
    return j.contains(key) && !j[key].is_null() && !j[key].is_object();
  };
  if (!model.is_object() || not_object("normalizer") || not_object("pre_tokenizer") ||
      (j.contains("added_tokens") && !j["added_tokens"].is_array())) {
    return InvalidArgument(
        "not a tokenizer.json (`model`, `normalizer` and `pre_tokenizer` are objects, "
        "`added_tokens` a list)");
  }
  if (StringAt(model, "type", "") != "BPE") {
    return Unimplemented("tokenizer.json: model type " + StringAt(model, "type", "?") +
                         " (byte-level BPE is supported)");
  }
  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    // LLaMA 2 / Mistral tokenizer.json files are SentencePiece models in disguise.
    return Unimplemented("tokenizer.json: normalizer " + StringAt(j["normalizer"], "type", "?") +
                         " (byte-level BPE is supported; for a SentencePiece-style tokenizer "
                         "give the model's tokenizer.model)");
  }
  const nlohmann::json pre = j.value("pre_tokenizer", nlohmann::json());
  if (pre.is_null() || StringAt(pre, "type", "") != "ByteLevel" ||
      !BoolAt(pre, "use_regex", true)) {
    return Unimplemented("tokenizer.json: pre_tokenizer " +
                         (pre.is_null() ? std::string("null") : StringAt(pre, "type", "?")) +
                         " (ByteLevel with GPT-2's pattern is supported)");
  }
  BpeTokenizer t;
  t.add_prefix_space_ = BoolAt(pre, "add_prefix_space", false);
  t.ignore_merges_ = BoolAt(model, "ignore_merges", false);
  try {
    for (const auto& [token, id] : model.at("vocab").items()) {
      const std::optional<std::int32_t> valid = TokenIdOf(id);
      if (!valid)
        return InvalidArgument("tokenizer.json: token id " + id.dump() + " (ids are 0 to " +
                               std::to_string(kMaxTokenId - 1) + ")");
      const std::int32_t index = *valid;
      t.vocab_[token] = index;
      if (t.id_to_token_.size() <= static_cast<std::size_t>(index))
        t.id_to_token_.resize(static_cast<std::size_t>(index) + 1);
      t.id_to_token_[static_cast<std::size_t>(index)] = token;
    }
    int rank = 0;
    for (const auto& m : model.at("merges")) {
      std::pair<std::string, std::string> pair;
      if (m.is_string()) {
        const std::string text = m.get<std::string>();
        const std::size_t space = text.find(' ');
        if (space == std::string::npos) return InvalidArgument("tokenizer.json: merge " + text);
        pair = {text.substr(0, space), text.substr(space + 1)};
      } else {
        pair = {m.at(0).get<std::string>(), m.at(1).get<std::string>()};
      }
      t.ranks_.emplace(std::move(pair), rank++);
    }
    for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
      const std::optional<std::int32_t> valid = TokenIdOf(a.at("id"));
      if (!valid) return InvalidArgument("tokenizer.json: added token id " + a.at("id").dump());
      const std::int32_t id = *valid;
      const std::string content = a.at("content").get<std::string>();
      t.added_.emplace_back(content, id);
      if (t.id_to_token_.size() <= static_cast<std::size_t>(id))
        t.id_to_token_.resize(static_cast<std::size_t>(id) + 1);
      t.id_to_token_[static_cast<std::size_t>(id)] = content;
    }
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      t.unk_ = t.TokenId(model["unk_token"].get<std::string>());
    }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("tokenizer.json: ") + e.what());
  }
  std::stable_sort(t.added_.begin(), t.added_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  return t;
}

Result<BpeTokenizer> BpeTokenizer::FromFile(const std::string& path) {
  ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path));
  Result<BpeTokenizer> t = FromJson(text);
  if (!t.ok()) return Status(t.status().code(), path + ": " + t.status().message());
  return t;
}

std::int32_t BpeTokenizer::TokenId(const std::string& token) const {
  const auto it = vocab_.find(token);
  if (it != vocab_.end()) return it->second;
  for (const auto& [content, id] : added_) {
    if (content == token) return id;
  }
  return -1;
}

void BpeTokenizer::EncodeWord(std::string_view word, std::vector<std::int32_t>* out) const {
  std::string mapped;
  std::vector<std::string> symbols;
  for (unsigned char b : word) {
    symbols.push_back(ByteChars()[b]);
    mapped += symbols.back();
  }
  if (ignore_merges_) {
    if (auto it = vocab_.find(mapped); it != vocab_.end()) return out->push_back(it->second);
  }
  // Byte-level symbols are bytes, but a merge works on whole characters of the mapped text:
  // one symbol per byte is exactly one character per byte.
  for (;;) {
    int best = std::numeric_limits<int>::max();
    std::size_t at = 0;
    for (std::size_t k = 0; k + 1 < symbols.size(); ++k) {
      const auto it = ranks_.find({symbols[k], symbols[k + 1]});
      if (it != ranks_.end() && it->second < best) {
        best = it->second;
        at = k;
      }
    }
    if (best == std::numeric_limits<int>::max()) break;
    symbols[at] += symbols[at + 1];
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  for (const std::string& s : symbols) {
    const auto it = vocab_.find(s);
    if (it != vocab_.end()) {
      out->push_back(it->second);
    } else if (unk_ >= 0) {
      out->push_back(unk_);
    }
  }
}

std::vector<std::int32_t> BpeTokenizer::Encode(std::string_view text) const {
  std::vector<std::int32_t> out;
  std::size_t i = 0, segment = 0;
  auto flush = [&](std::size_t end) {
    if (end == segment) return;
    std::string piece(text.substr(segment, end - segment));
    if (add_prefix_space_ && piece[0] != ' ') piece.insert(piece.begin(), ' ');
    for (std::string_view word : SplitGpt2(piece)) EncodeWord(word, &out);
  };
  while (i < text.size()) {
    bool matched = false;
    for (const auto& [content, id] : added_) {
      if (!content.empty() && text.compare(i, content.size(), content) == 0) {
        flush(i);
        out.push_back(id);
        i += content.size();
        segment = i;
        matched = true;
        break;
      }
    }
    if (!matched) ++i;
  }
  flush(text.size());
  return out;
}

std::string BpeTokenizer::Decode(const std::vector<std::int32_t>& ids) const {
  static const std::unordered_map<std::string, unsigned char> bytes = [] {
    std::unordered_map<std::string, unsigned char> m;
    for (int b = 0; b < 256; ++b)
      m[ByteChars()[static_cast<std::size_t>(b)]] = static_cast<unsigned char>(b);
    return m;
  }();
  std::string out;
  for (std::int32_t id : ids) {
    if (id < 0 || static_cast<std::size_t>(id) >= id_to_token_.size()) continue;
    const std::string& token = id_to_token_[static_cast<std::size_t>(id)];
    if (!vocab_.count(token)) {  // an added token: as written
      out += token;
      continue;
    }
    for (std::size_t k = 0; k < token.size();) {
      const auto [c, n] = text::Decode(token, k);
      const auto it = bytes.find(token.substr(k, n));
      if (it != bytes.end()) out += static_cast<char>(it->second);
      k += n;
      (void)c;
    }
  }
  return out;
}

std::vector<std::string> BpeTokenizer::Merges() const {
  std::vector<std::string> out(ranks_.size());
  for (const auto& [pair, rank] : ranks_) {
    out[static_cast<std::size_t>(rank)] = pair.first + " " + pair.second;
  }
  // A merge listed twice keeps its first rank and leaves a gap.
  out.erase(std::remove(out.begin(), out.end(), std::string()), out.end());
  return out;
}

bool BpeTokenizer::IsAdded(std::int32_t id) const {
  return std::any_of(added_.begin(), added_.end(), [id](const auto& a) { return a.second == id; });
}

}  // namespace entrenar::text
