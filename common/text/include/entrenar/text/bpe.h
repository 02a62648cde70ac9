#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::text {

// Unicode classes the pre-tokenizer needs (\p{L}, \p{N}, \s), from generated tables.
bool IsLetter(char32_t c);
bool IsNumber(char32_t c);
bool IsWhiteSpace(char32_t c);

// Splits text as GPT-2's byte-level pre-tokenizer does, with the pattern
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Invalid UTF-8 bytes count as symbols ([^\s\p{L}\p{N}]).
std::vector<std::string_view> SplitGpt2(std::string_view text);

// A Hugging Face tokenizer.json with a byte-level BPE model (GPT-2, RoBERTa and their kind):
// added tokens split out first (longest match), then the ByteLevel pre-tokenizer (GPT-2's
// pattern, `add_prefix_space`), bytes mapped to GPT-2's printable characters, and BPE merges
// applied lowest rank first (`ignore_merges`: a word that is a token is kept whole).
class BpeTokenizer {
 public:
  // Returns kInvalidArgument for JSON that is not a tokenizer, kUnimplemented naming a model,
  // normalizer or pre-tokenizer this implementation does not have.
  static Result<BpeTokenizer> FromJson(std::string_view json);
  static Result<BpeTokenizer> FromFile(const std::string& path);

  // Token ids of `text`, without special tokens added around it.
  std::vector<std::int32_t> Encode(std::string_view text) const;
  // The text of `ids` (bytes of byte-level tokens, added tokens as written).
  std::string Decode(const std::vector<std::int32_t>& ids) const;

  std::size_t VocabSize() const { return id_to_token_.size(); }
  // -1 when `token` is not in the vocabulary.
  std::int32_t TokenId(const std::string& token) const;
  // The vocabulary by id, byte-level tokens as tokenizer.json writes them ("Ġthe"); added
  // tokens as written.
  const std::vector<std::string>& tokens() const { return id_to_token_; }
  // The merges, lowest rank (applied first) first, each "left right".
  std::vector<std::string> Merges() const;
  // Whether `id` is an added token (`<|endoftext|>`, ...).
  bool IsAdded(std::int32_t id) const;

 private:
  void EncodeWord(std::string_view word, std::vector<std::int32_t>* out) const;

  std::unordered_map<std::string, std::int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::map<std::pair<std::string, std::string>, int> ranks_;
  std::vector<std::pair<std::string, std::int32_t>> added_;  // longest first
  bool add_prefix_space_ = false;
  bool ignore_merges_ = false;
  std::int32_t unk_ = -1;
};

}  // namespace entrenar::text
