#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::text {

// What a language model's data needs of a tokenizer, whichever kind it is.
class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of `text`, without special tokens added around it.
  virtual std::vector<std::int32_t> Encode(std::string_view text) const = 0;
  virtual std::string Decode(const std::vector<std::int32_t>& ids) const = 0;
  virtual std::size_t VocabSize() const = 0;
  // The ids that start and end a sequence, -1 when the tokenizer has none.
  virtual std::int32_t BosId() const = 0;
  virtual std::int32_t EosId() const = 0;
};

// A SentencePiece model (`.model`, e.g. LLaMA 2's tokenizer.model): BPE or Unigram, byte fallback,
// the identity normalizer (our own reader and encoder, checked against spm_encode).
class SentencePieceTokenizer : public Tokenizer {
 public:
  // kNotFound for a missing file, kInvalidArgument for one that is not a SentencePiece model.
  static Result<std::unique_ptr<SentencePieceTokenizer>> FromFile(const std::string& path);
  // The model in `bytes`; errors name `name`.
  static Result<std::unique_ptr<SentencePieceTokenizer>> FromBytes(std::string_view bytes,
                                                                   const std::string& name);
  ~SentencePieceTokenizer() override;

  std::vector<std::int32_t> Encode(std::string_view text) const override;
  std::string Decode(const std::vector<std::int32_t>& ids) const override;
  std::size_t VocabSize() const override;
  std::int32_t BosId() const override;
  std::int32_t EosId() const override;

  // For GGUF export (tokenizer.ggml.model `llama`): each piece, its score, and its type in
  // GGUF's numbering (1 normal, 2 unknown, 3 control, 6 byte).
  std::string Piece(std::int32_t id) const;
  float Score(std::int32_t id) const;
  std::int32_t GgufType(std::int32_t id) const;

 private:
  struct Impl;
  explicit SentencePieceTokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The tokenizer in `path`: a SentencePiece model when it ends in `.model`, else a Hugging Face
// tokenizer.json (byte-level BPE, see bpe.h).
Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path);

}  // namespace entrenar::text
