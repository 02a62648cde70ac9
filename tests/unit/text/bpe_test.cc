#include "entrenar/text/bpe.h"

#include <fstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::text {
namespace {

const std::string kSource = ENTRENAR_SOURCE_DIR;

std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  for (std::string_view w : SplitGpt2(text)) out.emplace_back(w);
  return out;
}

TEST_CASE("GPT-2's pre-tokenization splits words, numbers, symbols and spaces", "[unit][text]") {
  CHECK(Words("Hello world") == std::vector<std::string>{"Hello", " world"});
  CHECK(Words("it's 42") == std::vector<std::string>{"it", "'s", " 42"});
  CHECK(Words("a  b") == std::vector<std::string>{"a", " ", " b"});
  CHECK(Words("x\n\n  y") == std::vector<std::string>{"x", "\n\n ", " y"});
  CHECK(Words("end   ") == std::vector<std::string>{"end", "   "});
  CHECK(Words("caf\xc3\xa9!!") == std::vector<std::string>{"caf\xc3\xa9", "!!"});
  CHECK(Words("\xce\xb1\xce\xb2 12\xc2\xbd") ==  // Greek letters; 12 and ½ are numbers
        std::vector<std::string>{"\xce\xb1\xce\xb2", " 12\xc2\xbd"});
  CHECK(IsLetter(U'\u6f22'));
  CHECK(IsNumber(U'\u0663'));  // Arabic-Indic three
  CHECK(IsWhiteSpace(U'\u3000'));
  CHECK_FALSE(IsLetter(U'1'));
}

// A varied corpus: English prose with contractions and numbers, code, accented Latin, Greek,
// Cyrillic, CJK, emoji, runs of spaces, tabs and newlines, the special token, odd punctuation.
std::vector<std::string> Corpus() {
  std::vector<std::string> texts = {
      "Hello world",
      "It's the users' choice: they'll say \"we've done it\", I'd say 'NO'.",
      "  leading spaces, trailing spaces   ",
      "tabs\tand\nnew\n\nlines\r\n",
      "numbers 3.14159, 1,000,000 and 2nd 21st v1.2.3",
      "def f(x):\n    return x ** 2  # square\n",
      "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9 \xc3\x9c"
      "bergr\xc3\xb6\xc3\x9f"
      "e",
      "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac \xd1\x80\xd1\x83\xd1\x81"
      "\xd1\x81\xd0\xba\xd0\xb8\xd0\xb9 \xe6\xbc\xa2\xe5\xad\x97 \xe3\x81\x8b\xe3\x81\xaa",
      "emoji \xf0\x9f\x99\x82\xf0\x9f\x9a\x80 and \xe2\x9c\x93 marks",
      "special <|endoftext|> token<|endoftext|>glued",
      "punctuation!?... (brackets) [more] {braces} <tags> @user #tag $5 50% a&b",
      "",
      " ",
      "GNU GENERAL PUBLIC LICENSE Version 3, 29 June 2007",
  };
  std::ifstream gpl("/usr/share/common-licenses/GPL-3");
  std::string line;
  for (int i = 0; i < 120 && std::getline(gpl, line); ++i) texts.push_back(line + "\n");
  return texts;
}

TEST_CASE("byte-level BPE matches @huggingface/tokenizers token for token", "[unit][text]") {
  testing::TempDir dir;
  const std::string tok = dir.path + "/tokenizer.json";
  const auto trained = testing::RunProcess({"/usr/bin/python3", kSource + "/tools/bpe_train.py",
                                            "/usr/share/common-licenses/GPL-3", "500", tok});
  INFO(trained.err);
  REQUIRE(trained.exit_code == 0);
  Result<BpeTokenizer> t = BpeTokenizer::FromFile(tok);
  REQUIRE(t.ok());
  CHECK(t->TokenId("<|endoftext|>") == static_cast<std::int32_t>(t->VocabSize()) - 1);
  const std::vector<std::string> texts = Corpus();
  std::ofstream(dir.path + "/texts.json") << nlohmann::json(texts).dump();
  const auto js =
      testing::RunProcess({"/usr/bin/env", "node", kSource + "/tests/formats/tokenize_js.mjs", tok,
                           dir.path + "/texts.json"});
  INFO(js.err);
  REQUIRE(js.exit_code == 0);
  const auto reference = nlohmann::json::parse(js.out);
  REQUIRE(reference.size() == texts.size());
  std::size_t tokens = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    INFO("text " << i << ": " << texts[i]);
    const std::vector<std::int32_t> ours = t->Encode(texts[i]);
    CHECK(ours == reference[i].get<std::vector<std::int32_t>>());
    CHECK(t->Decode(ours) == texts[i]);  // byte-level: lossless
    tokens += ours.size();
  }
  CHECK(tokens > 1000);
}

TEST_CASE("tokenizers outside byte-level BPE are refused by name", "[unit][text]") {
  CHECK(BpeTokenizer::FromJson("{\"model\": {\"type\": \"Unigram\"}}").status().code() ==
        StatusCode::kUnimplemented);
  CHECK(BpeTokenizer::FromJson("{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, "
                               "\"pre_tokenizer\": {\"type\": \"Metaspace\"}}")
            .status()
            .message()
            .find("pre_tokenizer Metaspace") != std::string::npos);
  CHECK(BpeTokenizer::FromJson("[1, 2]").status().code() == StatusCode::kInvalidArgument);
  CHECK(BpeTokenizer::FromFile("/nonexistent/tokenizer.json").status().code() ==
        StatusCode::kNotFound);
}

TEST_CASE("a tokenizer.json of the wrong shape is an error, never an exception", "[unit][text]") {
  const char* const bad[] = {
      R"({"model": []})",
      R"({"model": "BPE"})",
      R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "normalizer": [1]})",
      R"({"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": 3})",
      R"({"model": {"type": "BPE", "vocab": {"a": 2147483647}, "merges": []},
          "pre_tokenizer": {"type": "ByteLevel"}})",
      R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
          "pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": [{"id": -1, "content": "x"}]})",
      R"({"model": {"type": "BPE", "vocab": {}, "merges": []},
          "pre_tokenizer": {"type": "ByteLevel"}, "added_tokens": {}})",
      R"({"model": {"type": "BPE", "vocab": [], "merges": [[1]]},
          "pre_tokenizer": {"type": "ByteLevel"}})",
  };
  for (const char* text : bad) {
    INFO(text);
    Result<BpeTokenizer> t = Result<BpeTokenizer>(InvalidArgument("unset"));
    REQUIRE_NOTHROW(t = BpeTokenizer::FromJson(text));
    CHECK(t.status().code() == StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace entrenar::text
