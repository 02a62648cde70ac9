// The tokenizer of a path, whichever kind it is (see tokenizer.h).
#include "entrenar/text/tokenizer.h"

#include "entrenar/text/bpe.h"

namespace entrenar::text {

namespace {

// tokenizer.json's byte-level BPE behind the common interface.
class BpeAdapter : public Tokenizer {
 public:
  explicit BpeAdapter(BpeTokenizer tok) : tok_(std::move(tok)) {
    for (const char* n : {"<s>", "<|begin_of_text|>", "<bos>"}) {
      if (bos_ < 0) bos_ = tok_.TokenId(n);
    }
    for (const char* n : {"</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>"}) {
      if (eos_ < 0) eos_ = tok_.TokenId(n);
    }
  }
  std::vector<std::int32_t> Encode(std::string_view text) const override {
    return tok_.Encode(text);
  }
  std::string Decode(const std::vector<std::int32_t>& ids) const override {
    return tok_.Decode(ids);
  }
  std::size_t VocabSize() const override { return tok_.VocabSize(); }
  std::int32_t BosId() const override { return bos_; }
  std::int32_t EosId() const override { return eos_; }

 private:
  BpeTokenizer tok_;
  std::int32_t bos_ = -1, eos_ = -1;
};

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& path) {
  if (path.size() >= 6 && path.compare(path.size() - 6, 6, ".model") == 0) {
    ENTRENAR_ASSIGN_OR_RETURN(auto sp, SentencePieceTokenizer::FromFile(path));
    return std::unique_ptr<Tokenizer>(std::move(sp));
  }
  ENTRENAR_ASSIGN_OR_RETURN(BpeTokenizer bpe, BpeTokenizer::FromFile(path));
  return std::unique_ptr<Tokenizer>(std::make_unique<BpeAdapter>(std::move(bpe)));
}

}  // namespace entrenar::text
