#include <sstream>

#include <catch2/catch.hpp>

#include "entrenar/text/tokenizer.h"

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::text {
namespace {

const std::string kSource = ENTRENAR_SOURCE_DIR;

// A SentencePiece model trained by spm_train on the example corpus.
std::string TrainModel(const std::string& dir, const std::string& type,
                       const std::string& normalization = "identity",
                       const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {"/usr/bin/spm_train",
                                   "--input=" + kSource + "/examples/data/instruct.jsonl",
                                   "--model_prefix=" + dir + "/" + type,
                                   "--vocab_size=500",
                                   "--model_type=" + type,
                                   "--byte_fallback=true",
                                   "--character_coverage=1.0",
                                   "--minloglevel=2",
                                   "--normalization_rule_name=" + normalization};
  args.insert(args.end(), extra.begin(), extra.end());
  testing::ProcessResult r = testing::RunProcess(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return dir + "/" + type + ".model";
}

std::vector<std::int32_t> SpmEncode(const std::string& model, const std::string& text) {
  testing::ProcessResult r = testing::RunProcess(
      {"/usr/bin/spm_encode", "--model=" + model, "--output_format=id"}, text + "\n");
  REQUIRE(r.exit_code == 0);
  std::istringstream in(r.out);
  std::vector<std::int32_t> ids;
  for (std::int32_t id = 0; in >> id;) ids.push_back(id);
  return ids;
}

const std::vector<std::string> kTexts = {
    "Reverse the order of the words.",
    "17 and 25 make 42",
    "  two  spaces ",
    "",
    "Unicode: \xc3\xbcn\xc3\xaf\xc3\xa7\xc3\xb6"
    "d\xc3\xa9 and \xe2\x82\xac 5 \xf0\x9f\x99\x82",
    "### Instruction:\nAdd the two numbers.\n\n### Input:\n37 and 10\n\n### Response:\n47",
    "{\"instruction\": \"Count the words.\", \"input\": \"river green\", \"output\": \"2\"}"};

TEST_CASE("SentencePiece BPE and Unigram models encode token for token as spm_encode does",
          "[unit][text]") {
  testing::TempDir dir;
  for (const std::string type : {"bpe", "unigram"}) {
    const std::string model = TrainModel(dir.path, type);
    Result<std::unique_ptr<Tokenizer>> tok = LoadTokenizer(model);
    INFO(type);
    REQUIRE(tok.ok());
    REQUIRE(dynamic_cast<SentencePieceTokenizer*>(tok->get()) != nullptr);
    CHECK((*tok)->VocabSize() == 500);
    CHECK((*tok)->BosId() == 1);  // spm_train's defaults: <unk> 0, <s> 1, </s> 2
    CHECK((*tok)->EosId() == 2);
    for (const std::string& text : kTexts) {
      if (text.find('\n') != std::string::npos) continue;  // spm_encode reads lines
      INFO(text);
      CHECK((*tok)->Encode(text) == SpmEncode(model, text));
    }
    // Byte fallback: characters outside the pieces come back byte for byte.
    const std::string rare = "\xf0\x9f\x99\x82 \xe2\x82\xac";
    CHECK((*tok)->Decode((*tok)->Encode(rare)) == rare);
    CHECK((*tok)->Decode((*tok)->Encode(kTexts[0])) == kTexts[0]);
    const auto* sp = dynamic_cast<SentencePieceTokenizer*>(tok->get());
    CHECK(sp->Piece(1) == "<s>");
    CHECK(sp->GgufType(0) == 2);  // unknown
    CHECK(sp->GgufType(1) == 3);  // control
    CHECK(sp->GgufType(3) == 6);  // <0x00>, a byte
  }
  // LLaMA's setting: spaces kept as they are.
  const std::string keep =
      TrainModel(dir.path, "bpe", "identity",
                 {"--remove_extra_whitespaces=false", "--model_prefix=" + dir.path + "/keep"});
  Result<std::unique_ptr<Tokenizer>> tok = LoadTokenizer(dir.path + "/keep.model");
  REQUIRE(tok.ok());
  CHECK((*tok)->Encode("  two  spaces ") == SpmEncode(dir.path + "/keep.model", "  two  spaces "));
  CHECK((*tok)->Decode((*tok)->Encode("  two  spaces ")) == "  two  spaces ");
}

TEST_CASE("A SentencePiece model with a normalization table is refused by name", "[unit][text]") {
  testing::TempDir dir;
  const std::string model = TrainModel(dir.path, "bpe", "nmt_nfkc");
  Result<std::unique_ptr<Tokenizer>> tok = LoadTokenizer(model);
  REQUIRE_FALSE(tok.ok());
  CHECK(tok.status().code() == StatusCode::kUnimplemented);
  CHECK(tok.status().message().find("the `nmt_nfkc` normalization") != std::string::npos);
}

TEST_CASE("A file that is not a SentencePiece model is refused by name", "[unit][text]") {
  testing::TempDir dir;
  CHECK(LoadTokenizer(dir.path + "/missing.model").status().code() == StatusCode::kNotFound);
  const std::string junk = dir.path + "/junk.model";
  testing::RunProcess({"/bin/sh", "-c", "echo not a model > " + junk});
  Result<std::unique_ptr<Tokenizer>> r = LoadTokenizer(junk);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find(junk + " is not a SentencePiece model") == 0);
}

}  // namespace
}  // namespace entrenar::text
