#include "entrenar/engine/text_data.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "entrenar/base/random.h"
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

namespace augment {

// Text data with beginning (1) and end (2) tokens and the given steps; no tokenizer needed.
TextData Data(bool instruction, std::vector<TextStep> steps) {
  TextData d;
  d.bos_id = 1;
  d.eos_id = 2;
  d.instruction = instruction;
  d.augmentation = std::move(steps);
  return d;
}

// BOS, tokens first..last, EOS; plain text: every token after the first is a target.
TextExample Plain(std::int32_t first, std::int32_t last) {
  TextExample e;
  e.ids.push_back(1);
  for (std::int32_t t = first; t <= last; ++t) e.ids.push_back(t);
  e.ids.push_back(2);
  e.target.assign(e.ids.size(), 1);
  e.target[0] = 0;
  return e;
}

// Whether every target of `out` is true text after deletions: the token that followed its
// predecessor in `original` (tokens told apart by segment and id, unique in these tests).
bool TargetsTrue(const TextExample& original, const TextExample& out) {
  const auto where = [](const TextExample& e, std::size_t i) {
    return std::pair{e.segment.empty() ? 0 : e.segment[i], e.ids[i]};
  };
  std::map<std::pair<std::int32_t, std::int32_t>, std::size_t> at;
  for (std::size_t i = 0; i < original.ids.size(); ++i) at[where(original, i)] = i;
  for (std::size_t i = 1; i < out.ids.size(); ++i) {
    if (out.target[i] && at.at(where(out, i)) != at.at(where(out, i - 1)) + 1) return false;
  }
  return true;
}

bool Subsequence(const std::vector<std::int32_t>& part, const std::vector<std::int32_t>& whole) {
  std::size_t at = 0;
  for (const std::int32_t t : whole) at += at < part.size() && part[at] == t;
  return at == part.size();
}

}  // namespace augment

TEST_CASE("random_delete drops each token at its probability, never BOS or EOS, one kept",
          "[unit][engine]") {
  const TextExample e = augment::Plain(10, 59);  // 50 tokens between BOS and EOS
  const TextData d = augment::Data(false, {{TextStep::Kind::kDelete, 0.3}});
  std::size_t dropped = 0, targets = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    const TextExample out = AugmentText(d, e, rng);
    REQUIRE(out.ids.size() == out.target.size());
    CHECK(out.ids.front() == 1);
    CHECK(out.ids.back() == 2);
    CHECK(augment::Subsequence(out.ids, e.ids));  // in order
    CHECK(out.target[0] == 0);
    // Plain text learns only true successions: what follows a gap is no target.
    CHECK(augment::TargetsTrue(e, out));
    dropped += e.ids.size() - out.ids.size();
    targets += static_cast<std::size_t>(std::count(out.target.begin(), out.target.end(), 1));
  }
  CHECK(dropped > 2800);  // 0.3 x 50 x 200 = 3000, sd 46
  CHECK(dropped < 3200);
  // A kept token (and EOS) is a target when its predecessor was kept too: about 0.7 x 36.
  CHECK(targets > 200 * 22);
  CHECK(targets < 200 * 30);
  std::mt19937_64 rng(1);
  CHECK(AugmentText(augment::Data(false, {{TextStep::Kind::kDelete, 1.0}}), e, rng).ids.size() ==
        3);  // BOS, one token, EOS
  CHECK(AugmentText(augment::Data(false, {{TextStep::Kind::kDelete, 0.0}}), e, rng).ids == e.ids);
  // The same generator state gives the same tokens; each epoch's (the trainer's seeding) others.
  std::mt19937_64 a(7), b(7);
  CHECK(AugmentText(d, e, a).ids == AugmentText(d, e, b).ids);
  std::mt19937_64 epoch0(SampleSeed(42, 0, 3)), epoch1(SampleSeed(42, 1, 3));
  CHECK(AugmentText(d, e, epoch0).ids != AugmentText(d, e, epoch1).ids);
}

TEST_CASE("random_swap moves an instruction record's prompt tokens only, the answer untouched",
          "[unit][engine]") {
  TextExample e = augment::Plain(10, 39);  // prompt 10..29, answer 30..39
  for (std::size_t i = 0; i < e.ids.size(); ++i) e.target[i] = e.ids[i] >= 30 || e.ids[i] == 2;
  const auto changed = [&](double p) {
    const TextData d = augment::Data(true, {{TextStep::Kind::kSwap, p}});
    double total = 0;
    for (std::uint64_t seed = 0; seed < 200; ++seed) {
      std::mt19937_64 rng(seed);
      const TextExample out = AugmentText(d, e, rng);
      REQUIRE(out.ids.size() == e.ids.size());
      CHECK(out.target == e.target);  // the answer still counts, all of it
      CHECK(std::equal(e.ids.begin() + 21, e.ids.end(), out.ids.begin() + 21));  // answer, EOS
      CHECK(out.ids[0] == 1);
      std::vector<std::int32_t> prompt(out.ids.begin() + 1, out.ids.begin() + 21);
      std::sort(prompt.begin(), prompt.end());
      CHECK(std::equal(prompt.begin(), prompt.end(), e.ids.begin() + 1));  // the same tokens
      for (std::size_t i = 1; i < 21; ++i) total += out.ids[i] != e.ids[i];
    }
    return total / 200;
  };
  CHECK(changed(0) == 0);
  const double some = changed(0.2);  // about 4 swaps of 20 tokens
  CHECK(some > 3);
  CHECK(some < 10);
  CHECK(changed(1) > 15);
}

TEST_CASE("Text steps in packed windows stay inside each segment, whose first token is no target",
          "[unit][engine]") {
  // A window: the end of one example (no BOS: it began in the window before), then another.
  TextExample e;
  e.ids = {11, 12, 13, 2, 1, 20, 21, 22, 23, 2};
  e.segment = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1};
  e.target = {0, 1, 1, 1, 0, 1, 1, 1, 1, 1};
  const TextData swap = augment::Data(false, {{TextStep::Kind::kSwap, 0.5}});
  const TextData drop = augment::Data(false, {{TextStep::Kind::kDelete, 0.4}});
  const TextData both =
      augment::Data(false, {{TextStep::Kind::kSwap, 0.5}, {TextStep::Kind::kDelete, 0.6}});
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    std::mt19937_64 rng(seed);
    const TextExample s = AugmentText(swap, e, rng);
    CHECK(s.segment == e.segment);
    std::vector<std::int32_t> first(s.ids.begin(), s.ids.begin() + 3);
    std::sort(first.begin(), first.end());
    CHECK(first == std::vector<std::int32_t>{11, 12, 13});
    CHECK(s.ids[3] == 2);
    CHECK(s.ids[4] == 1);
    for (std::size_t i = 0; i < s.ids.size(); ++i) {
      if (s.ids[i] != e.ids[i]) CHECK(s.target[i] == 0);  // a moved token is no target
    }
    CHECK(augment::TargetsTrue(e, AugmentText(drop, e, rng)));
    const TextExample d = AugmentText(both, e, rng);
    REQUIRE(d.segment.size() == d.ids.size());
    REQUIRE(d.target.size() == d.ids.size());
    // Each segment keeps a token besides its BOS and EOS; its first token is no target.
    CHECK(std::count(d.segment.begin(), d.segment.end(), 0) >= 2);
    CHECK(std::count(d.segment.begin(), d.segment.end(), 1) >= 3);
    for (std::size_t i = 0; i < d.ids.size(); ++i) {
      if (i == 0 || d.segment[i] != d.segment[i - 1]) CHECK(d.target[i] == 0);
    }
  }
}

TEST_CASE("Instruction records keep their template's text: only the fields' tokens move",
          "[unit][engine]") {
  const manifest::Manifest m = Manifest(TextManifest("instruct.jsonl"));
  Result<TextData> d = PrepareText(m, kData, 42);
  REQUIRE(d.ok());
  d->augmentation = {{TextStep::Kind::kSwap, 1.0}, {TextStep::Kind::kDelete, 0.5}};
  for (std::size_t r = 0; r < 40; ++r) {
    const TextExample& e = d->train[r];
    REQUIRE(e.fixed.size() == e.ids.size());
    // The movable tokens are the prompt's middle: the template's head and tail stay fixed.
    const auto first = std::find(e.fixed.begin(), e.fixed.end(), 0) - e.fixed.begin();
    const auto last = e.fixed.rend() - std::find(e.fixed.rbegin(), e.fixed.rend(), 0);
    REQUIRE(first < last);
    const std::string head = Decode({e.ids.begin(), e.ids.begin() + first});
    const std::string tail = Decode({e.ids.begin() + last, e.ids.end()});
    CHECK(head.rfind("Below is an instruction", 0) == 0);
    CHECK(head.substr(head.size() - 17) == "### Instruction:\n");
    const std::string response = "### Response:\n" + e.answer;
    CHECK(tail.find(response) != std::string::npos);
    std::mt19937_64 rng(r);
    const TextExample out = AugmentText(*d, e, rng);
    CHECK(Decode({out.ids.begin(), out.ids.begin() + first}) == head);
    const auto kept_tail = static_cast<long>(e.ids.size()) - last;
    CHECK(Decode({out.ids.end() - kept_tail, out.ids.end()}) == tail);
    CHECK(Counted(out) == Counted(e));  // the answer and its end, all targets
  }
}

TEST_CASE("An epoch's augmented examples depend on the epoch and the row, not on the batch",
          "[unit][engine]") {
  TextData d = augment::Data(false, {{TextStep::Kind::kSwap, 0.3}, {TextStep::Kind::kDelete, 0.2}});
  d.seed = 9;
  for (std::int32_t k = 0; k < 4; ++k) d.train.push_back(augment::Plain(10 + 40 * k, 39 + 40 * k));
  const auto ids = [](const std::vector<TextExample>& v) {
    std::vector<std::vector<std::int32_t>> out;
    for (const TextExample& e : v) out.push_back(e.ids);
    return out;
  };
  const auto epoch0 = ids(AugmentedExamples(d, {0, 1, 2, 3}, 0));
  CHECK(epoch0 == ids(AugmentedExamples(d, {0, 1, 2, 3}, 0)));
  CHECK(epoch0 != ids(AugmentedExamples(d, {0, 1, 2, 3}, 1)));
  // A row in another batch, or alone, is the same: batches can be built in any order.
  CHECK(ids(AugmentedExamples(d, {3, 1}, 0)) == decltype(epoch0){epoch0[3], epoch0[1]});
}

}  // namespace
}  // namespace entrenar::engine
