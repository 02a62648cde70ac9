// tests/data/manifests/invalid: each file states the errors it must produce, one line each:
//   # expect: PATH: MESSAGE-FRAGMENT
//   # hint: HINT-FRAGMENT           (optional, applies to the expect line above it)
// The error's line is the line marked with a trailing `# <-` comment, or `# line: N`.
#include <regex>

#include <catch2/catch.hpp>

#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"

namespace entrenar::manifest {
namespace {

struct Expectation {
  std::string path;
  std::string message;
  std::vector<std::string> hints;
};

struct Case {
  std::vector<Expectation> expect;
  int line = 0;
  std::vector<std::string> overrides;
};

Case ParseCase(const std::string& text) {
  Case c;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  static const std::regex kExpect(R"(^# expect: ([^ ]*): (.*)$)");
  static const std::regex kHint(R"(^# hint: (.*)$)");
  static const std::regex kLine(R"(^# line: (\d+)$)");
  static const std::regex kSet(R"(^# set: (.*)$)");
  while (std::getline(in, line)) {
    ++n;
    std::smatch m;
    if (std::regex_match(line, m, kExpect)) {
      c.expect.push_back({m[1], m[2], {}});
    } else if (std::regex_match(line, m, kHint) && !c.expect.empty()) {
      c.expect.back().hints.push_back(m[1]);
    } else if (std::regex_match(line, m, kLine)) {
      c.line = std::stoi(m[1]);
    } else if (std::regex_match(line, m, kSet)) {
      c.overrides.push_back(m[1]);
    } else if (line.find("# <-") != std::string::npos && c.line == 0) {
      c.line = n;
    }
  }
  return c;
}

TEST_CASE("Each invalid manifest is rejected with its key path, line and message",
          "[unit][manifest]") {
  const std::vector<std::string> files = testing::ListFiles(
      std::string(ENTRENAR_SOURCE_DIR) + "/tests/data/manifests/invalid", ".yaml");
  CHECK(files.size() >= 60);
  for (const std::string& f : files) {
    const std::string text = testing::ReadFile(f);
    const Case c = ParseCase(text);
    INFO(f);
    REQUIRE_FALSE(c.expect.empty());
    LoadResult r = testing::Load(text, c.overrides);
    INFO(testing::Describe(r.diagnostics));
    CHECK_FALSE(r.ok());
    for (const Expectation& e : c.expect) {
      INFO("expect " << e.path << ": " << e.message);
      const Diagnostic* d = nullptr;
      for (const Diagnostic& cand : r.diagnostics) {
        if (cand.severity == Severity::kError && cand.path == e.path &&
            cand.message.find(e.message) != std::string::npos) {
          d = &cand;
        }
      }
      REQUIRE(d != nullptr);
      if (c.line > 0) CHECK(d->location.line == c.line);
      for (const std::string& h : e.hints) {
        INFO("hint " << h);
        CHECK(std::any_of(d->hints.begin(), d->hints.end(),
                          [&](const std::string& x) { return x.find(h) != std::string::npos; }));
      }
    }
  }
}

}  // namespace
}  // namespace entrenar::manifest
