// A Hugging Face tokenizer.json (byte-level BPE). Properties: no crash; a tokenizer that loads
// encodes a few texts (ASCII, multi-byte UTF-8, broken UTF-8) to ids below its vocabulary size
// and decodes them again.

#include <string>
#include <vector>

#include "entrenar/text/bpe.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using entrenar::text::BpeTokenizer;
  Result<BpeTokenizer> t = BpeTokenizer::FromJson(entrenar::fuzz::AsString(data, size));
  if (!t.ok()) return 0;
  for (const std::string text :
       {"Hello, world! 123", "caf\xc3\xa9 \xe2\x82\xac  \n\t", "\xff\xfe broken \xc3", ""}) {
    const std::vector<std::int32_t> ids = t->Encode(text);
    for (std::int32_t id : ids)
      FUZZ_CHECK(id >= 0 && static_cast<std::size_t>(id) < t->VocabSize());
    (void)t->Decode(ids);
  }
  return 0;
}
