#include "entrenar/engine/text_data.h"

#include <algorithm>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>

#include "entrenar/text/bpe.h"

#include "manifest_helpers.h"
#include "temp_dir.h"

namespace entrenar::engine {
namespace {

const std::string kData = std::string(ENTRENAR_SOURCE_DIR) + "/examples/data";
const std::string kTokenizer = kData + "/instruct_tokenizer.json";

manifest::Manifest Manifest(const std::string& body) {
  manifest::LoadResult r = testing::Load(testing::Root(body));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  return *r.manifest;
}

std::string TextManifest(const std::string& source, const std::string& tokenize_extra = "") {
  return "data:\n  source: " + source +
         "\n  split: {train: 0.8, val: 0.2}\n  preprocessing:\n    - tokenize: {tokenizer: " +
         kTokenizer + tokenize_extra + "}\n";
}

std::string Decode(const std::vector<std::int32_t>& ids) {
  static const text::BpeTokenizer tok = *text::BpeTokenizer::FromFile(kTokenizer);
  return tok.Decode(ids);
}

// The tokens of `e` whose prediction counts in the loss.
std::vector<std::int32_t> Counted(const TextExample& e) {
  std::vector<std::int32_t> out;
  for (std::size_t i = 0; i < e.ids.size(); ++i) {
    if (e.target[i]) out.push_back(e.ids[i]);
  }
  return out;
}

TEST_CASE("A prompt template fills fields, keeps doubled braces, and names unknown fields",
          "[unit][engine]") {
  const std::vector<std::string> cols = {"instruction", "input", "output"};
  const std::vector<std::string> vals = {"Add.", "1 and 2", "3"};
  CHECK(*FormatPrompt("Q: {instruction} ({input}) {{x}}", cols, vals) == "Q: Add. (1 and 2) {x}");
  Result<std::string> bad = FormatPrompt("{instrucion}", cols, vals);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("did you mean `instruction`") != std::string::npos);
  CHECK_FALSE(FormatPrompt("{instruction", cols, vals).ok());
}

TEST_CASE("Alpaca records become prompt and answer tokens, the loss on the answer and its end",
          "[unit][engine]") {
  const manifest::Manifest m = Manifest(TextManifest("instruct.jsonl"));
  Result<TextData> d = PrepareText(m, kData, 42);
  INFO(d.status().message());
  REQUIRE(d.ok());
  CHECK(d->instruction);
  CHECK(d->train.size() + d->val.size() == 506);
  CHECK(d->val.size() == 101);
  REQUIRE(d->eos_id >= 0);
  for (const TextExample& e : d->train) {
    REQUIRE(e.ids.size() == e.target.size());
    std::vector<std::int32_t> answer = Counted(e);
    REQUIRE_FALSE(answer.empty());
    CHECK(answer.back() == d->eos_id);
    answer.pop_back();
    CHECK(Decode(answer) == e.answer);
    // The prompt is the Alpaca template, with or without the input section.
    const std::string prompt =
        Decode({e.ids.begin(), e.ids.end() - static_cast<long>(answer.size()) - 1});
    CHECK(prompt == e.prompt);
    CHECK(prompt.rfind("Below is an instruction", 0) == 0);
    CHECK(prompt.size() > 14);
    CHECK(prompt.substr(prompt.size() - 14) == "### Response:\n");
  }
  const auto no_input = std::find_if(d->train.begin(), d->train.end(), [](const TextExample& e) {
    return e.prompt.find("### Input:") == std::string::npos;
  });
  REQUIRE(no_input != d->train.end());
  CHECK(no_input->prompt.find("Name something") != std::string::npos);
}

TEST_CASE("Plain text trains on every token, and packing fills max_length windows",
          "[unit][engine]") {
  testing::TempDir dir;
  std::ofstream(dir.path + "/t.jsonl") << "{\"text\": \"red green blue\"}\n"
                                          "{\"text\": \"The river runs under the bridge.\"}\n"
                                          "{\"text\": \"Count the words.\"}\n"
                                          "{\"text\": \"black white\"}\n"
                                          "{\"text\": \"a\"}\n";
  const std::string body = "data:\n  train: " + dir.path +
                           "/t.jsonl\n  preprocessing:\n    - tokenize: {tokenizer: " + kTokenizer;
  Result<TextData> plain = PrepareText(Manifest(body + "}\n"), dir.path, 1);
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->instruction);
  REQUIRE(plain->train.size() == 5);
  std::size_t total = 0;
  for (const TextExample& e : plain->train) {
    CHECK(e.target[0] == 0);  // nothing predicts the first token
    CHECK(std::count(e.target.begin(), e.target.end(), 1) == static_cast<long>(e.ids.size()) - 1);
    CHECK(e.ids.back() == plain->eos_id);
    total += e.ids.size();
  }
  CHECK(Decode({plain->train[1].ids.begin(), plain->train[1].ids.end() - 1}) ==
        "The river runs under the bridge.");
  Result<TextData> packed =
      PrepareText(Manifest(body + ", max_length: 4, padding: none}\n"), dir.path, 1);
  REQUIRE(packed.ok());
  std::size_t packed_total = 0;
  for (std::size_t i = 0; i < packed->train.size(); ++i) {
    const TextExample& e = packed->train[i];
    if (i + 1 < packed->train.size()) CHECK(e.ids.size() == 4);
    CHECK(e.target[0] == 0);
    // Segments: which example each token is from, counted from 0 in each window; a new one
    // starts exactly where an example's first token (not counted in the loss) is.
    REQUIRE(e.segment.size() == e.ids.size());
    CHECK(e.segment[0] == 0);
    for (std::size_t t = 1; t < e.ids.size(); ++t) {
      CHECK(e.segment[t] - e.segment[t - 1] == (e.target[t] ? 0 : 1));
    }
    packed_total += e.ids.size();
  }
  // Every token is kept, in order, across windows.
  CHECK(packed_total == total);
  CHECK(packed->train[0].ids[0] == plain->train[0].ids[0]);
}

TEST_CASE("Long records are truncated or refused, with the file and line", "[unit][engine]") {
  Result<TextData> cut =
      PrepareText(Manifest(TextManifest("instruct.jsonl", ", max_length: 40")), kData, 42);
  REQUIRE(cut.ok());
  CHECK(cut->truncated > 0);
  for (const TextExample& e : cut->train) CHECK(e.ids.size() <= 40);
  // A record whose answer was cut away entirely is left out.
  CHECK(cut->train.size() + cut->val.size() < 506);
  Result<TextData> refused = PrepareText(
      Manifest(TextManifest("instruct.jsonl", ", max_length: 40, truncation: false")), kData, 42);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("instruct.jsonl:") != std::string::npos);
  CHECK(refused.status().message().find("data.preprocessing[0].tokenize.max_length (40)") !=
        std::string::npos);
}

TEST_CASE("Bad text data is named: a missing text field, a template field, a missing tokenizer",
          "[unit][engine]") {
  testing::TempDir dir;
  std::ofstream(dir.path + "/t.jsonl") << "{\"body\": \"red green blue\"}\n";
  const std::string body = "data:\n  train: " + dir.path +
                           "/t.jsonl\n  preprocessing:\n    - tokenize: {tokenizer: " + kTokenizer;
  Result<TextData> no_text = PrepareText(Manifest(body + "}\n"), dir.path, 1);
  REQUIRE_FALSE(no_text.ok());
  CHECK(no_text.status().message().find("data.preprocessing[0].tokenize.column: column `text`") ==
        0);
  CHECK(PrepareText(Manifest(body + ", column: body}\n"), dir.path, 1).ok());
  Result<TextData> tmpl = PrepareText(
      Manifest(TextManifest("instruct.jsonl", ", template: \"Q: {question}\"")), kData, 42);
  REQUIRE_FALSE(tmpl.ok());
  CHECK(tmpl.status().message().find("data.preprocessing[0].tokenize.template: `{question}` names "
                                     "no field") == 0);
  Result<TextData> missing = PrepareText(
      Manifest("data:\n  source: instruct.jsonl\n  preprocessing:\n    - tokenize: {tokenizer: "
               "llama.model}\n"),
      kData, 42);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message().find("data.preprocessing[0].tokenize.tokenizer: ") == 0);
}

}  // namespace
}  // namespace entrenar::engine
