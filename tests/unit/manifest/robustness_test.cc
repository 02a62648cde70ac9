// Hostile and damaged input never crashes the loader: it returns a manifest or at least one
// error, every diagnostic says something, and nothing throws. (Run under ASan by .ci/run.)
#include <random>

#include <catch2/catch.hpp>

#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"

namespace entrenar::manifest {
namespace {

void ExpectAnswer(const std::string& text) {
  LoadResult r = testing::Load(text);
  if (r.ok()) return;
  REQUIRE(HasErrors(r.diagnostics));
  for (const Diagnostic& d : r.diagnostics) {
    CHECK_FALSE(d.message.empty());
    CHECK_FALSE(d.location.file.empty());
  }
}

std::string Mutate(std::string text, std::mt19937& rng) {
  static const std::string kChars = ":-[]{}\"'#&*!|>%@` \n\t{{}}.,0a9";
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  const int edits = 1 + static_cast<int>(pick(4));
  for (int e = 0; e < edits && !text.empty(); ++e) {
    const std::size_t at = pick(text.size());
    switch (pick(4)) {
      case 0:
        text.erase(at, 1 + pick(8));
        break;
      case 1:
        text.insert(at, 1, kChars[pick(kChars.size())]);
        break;
      case 2: {  // duplicate a line
        const std::size_t start =
            text.rfind('\n', at) == std::string::npos ? 0 : text.rfind('\n', at) + 1;
        const std::size_t end = text.find('\n', at);
        text.insert(start, text.substr(start, end == std::string::npos ? std::string::npos
                                                                       : end - start + 1));
        break;
      }
      default:
        text[at] = kChars[pick(kChars.size())];
        break;
    }
  }
  return text;
}

TEST_CASE("Randomly damaged manifests get diagnostics, never a crash", "[unit][manifest]") {
  std::vector<std::string> corpus;
  for (const std::string& f : testing::ListFiles(
           std::string(ENTRENAR_SOURCE_DIR) + "/tests/data/manifests/valid", ".yaml")) {
    corpus.push_back(testing::ReadFile(f));
  }
  REQUIRE_FALSE(corpus.empty());
  std::mt19937 rng(20261124);
  for (int i = 0; i < 5000; ++i) {
    const std::string text = Mutate(corpus[static_cast<std::size_t>(i) % corpus.size()], rng);
    INFO(text);
    ExpectAnswer(text);
  }
}

TEST_CASE("Deep nesting and huge values are refused cleanly", "[unit][manifest]") {
  const std::string root = testing::Root();
  ExpectAnswer(root + "description: " + std::string(20000, '[') + std::string(20000, ']') + "\n");
  ExpectAnswer(root + "description: \"{{ " + std::string(3000, '(') + "1" + std::string(3000, ')') +
               " }}\"\n");
  ExpectAnswer(root + "description: \"{{ " + std::string(3000, '-') + "1 }}\"\n");
  std::string sum = "1";
  for (int i = 0; i < 3000; ++i) sum += "+1";
  ExpectAnswer(root + "description: \"{{ " + sum + " }}\"\n");
  ExpectAnswer(root + "model:\n  device: cuda:" + std::string(100000, '1') + "\n");
  ExpectAnswer(root + "data:\n  preprocessing:\n    - drop:\n        columns: [x_1, ..., x_" +
               std::string(40, '9') + "]\n");
  ExpectAnswer(root + "lora:\n  target_modules_pattern: \"" + std::string(5000, '(') + "\"\n");
  ExpectAnswer(root + std::string(100000, 'k') + ": 1\n");
  ExpectAnswer(std::string("\0\x01\xff", 3));
}

}  // namespace
}  // namespace entrenar::manifest
