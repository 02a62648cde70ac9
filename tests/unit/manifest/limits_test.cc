// A manifest costs bounded memory and time to read, whatever its author wrote (issue: one
// manifest killed entrenard through Validate, which anyone on the socket may call).
#include "entrenar/manifest/limits.h"

#include <chrono>
#include <string>

#include <catch2/catch.hpp>

#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"

namespace entrenar::manifest {
namespace {

// The first error's message, "" when there is none.
std::string FirstError(const LoadResult& r) {
  for (const Diagnostic& d : r.diagnostics) {
    if (d.severity == Severity::kError) return d.message;
  }
  return "";
}

// Ten levels of anchors, each nine aliases of the one before: 9^10 values once expanded.
std::string BillionLaughs() {
  std::string text = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < 10; ++i) {
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int k = 0; k < 9; ++k) text += (k ? ", *l" : "*l") + std::to_string(i - 1);
    text += "]\n";
  }
  return text;
}

TEST_CASE("An alias inside its own anchor is refused at its line, not expanded forever",
          "[unit][manifest]") {
  for (const std::string body : {"a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a [1, {b: [*a]}]\n"}) {
    const LoadResult r = testing::Load(testing::Root(body));
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(FirstError(r), Catch::Contains("refers to a value that contains it"));
    CHECK(r.diagnostics[0].location.line == 4);
  }
}

TEST_CASE("An override (--set) with a recursive alias is refused", "[unit][manifest]") {
  const LoadResult r = testing::Load(testing::Root(), {"seed=&a [*a]"});
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(FirstError(r), Catch::Contains("contains it"));
}

TEST_CASE("A billion laughs or a merge-key bomb stops at the value limit, fast",
          "[unit][manifest]") {
  std::string merge = "m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8}\n";
  for (int i = 1; i < 10; ++i) {
    merge += "m" + std::to_string(i) + ": &m" + std::to_string(i) + " {";
    for (int k = 0; k < 8; ++k) {
      merge +=
          std::string(k ? ", " : "") + "k" + std::to_string(k) + ": *m" + std::to_string(i - 1);
    }
    merge += ", <<: *m" + std::to_string(i - 1) + "}\n";
  }
  for (const std::string& body : {BillionLaughs(), merge}) {
    const auto start = std::chrono::steady_clock::now();
    const LoadResult r = testing::Load(testing::Root(body));
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(FirstError(r), Catch::Contains("more than " + std::to_string(Limits::kMaxNodes) +
                                              " values (aliases expanded)"));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
  }
}

TEST_CASE("Aliases that do not nest past the limit still work", "[unit][manifest]") {
  const LoadResult r = testing::Load(testing::Root(
      "data: {source: x.csv, target: y}\nmodel:\n  architecture:\n    type: sequential\n"
      "    layers:\n      - linear: &l {in_features: 4, out_features: 4}\n      - linear: *l\n"));
  CHECK(FirstError(r).find("values (aliases expanded)") == std::string::npos);
  CHECK(FirstError(r).find("contains it") == std::string::npos);
}

TEST_CASE("Depth, size and UTF-8 are checked before anything else", "[unit][manifest]") {
  const LoadResult deep =
      testing::Load(testing::Root("a: " + std::string(100, '[') + std::string(100, ']') + "\n"));
  CHECK_THAT(FirstError(deep), Catch::Contains("nest deeper than 64"));

  const LoadResult big = testing::Load(testing::Root("# " + std::string(Limits::kMaxBytes, 'x')));
  CHECK_THAT(FirstError(big), Catch::Contains("a manifest may have"));

  const LoadResult latin1 = testing::Load(testing::Root("name: caf\xe9\n"));
  REQUIRE_FALSE(latin1.ok());
  CHECK_THAT(FirstError(latin1), Catch::Contains("not UTF-8") && Catch::Contains("0xE9"));
  CHECK(latin1.diagnostics[0].location.line == 4);
  CHECK(latin1.diagnostics[0].location.column == 10);
}

TEST_CASE("Chained column ranges stop at the column limit", "[unit][manifest]") {
  const LoadResult r = testing::Load(
      testing::Root("data:\n  source: x.csv\n  target: y\n  preprocessing:\n"
                    "    - normalize: {columns: [c_0, ..., c_1000000, ..., c_2000000]}\n"));
  REQUIRE_FALSE(r.ok());
  CHECK_THAT(FirstError(r),
             Catch::Contains("more than " + std::to_string(Limits::kMaxColumns) + " columns"));
}

TEST_CASE("Many unknown keys cost little and report a bounded list", "[unit][manifest]") {
  std::string body;
  for (int i = 0; i < 60000; ++i) body += "k" + std::to_string(i) + ": 1\n";
  const auto start = std::chrono::steady_clock::now();
  const LoadResult r = testing::Load(testing::Root(body));
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(r.ok());
  CHECK(r.diagnostics.size() == Limits::kMaxDiagnostics + 1);
  CHECK_THAT(r.diagnostics.back().message, Catch::Contains("more errors"));
  CHECK(took < std::chrono::seconds(30));  // was quadratic: 23 s for 100k keys
}

}  // namespace
}  // namespace entrenar::manifest
