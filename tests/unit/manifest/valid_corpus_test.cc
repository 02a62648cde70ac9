// Every manifest we ship or quote from the spec validates: tests/data/manifests/valid (the
// SPEC.md §2-§15 snippets inside a minimal root), examples/, and every `init` template.
#include <catch2/catch.hpp>

#include "entrenar/manifest/init_templates.h"
#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"

namespace entrenar::manifest {
namespace {

const std::string kSource = ENTRENAR_SOURCE_DIR;

// The valid corpus and the shipped examples.
std::vector<std::string> CorpusAndExamples() {
  std::vector<std::string> files =
      testing::ListFiles(kSource + "/tests/data/manifests/valid", ".yaml");
  for (const std::string& f : testing::ListFiles(kSource + "/examples", ".yaml"))
    files.push_back(f);
  return files;
}

TEST_CASE("The valid manifest corpus validates without errors", "[unit][manifest]") {
  const std::vector<std::string> files =
      testing::ListFiles(kSource + "/tests/data/manifests/valid", ".yaml");
  REQUIRE(files.size() >= 15);
  for (const std::string& f : files) {
    INFO(f);
    LoadResult r = testing::Load(testing::ReadFile(f));
    INFO(testing::Describe(r.diagnostics));
    CHECK(r.ok());
  }
}

TEST_CASE("Every valid manifest's resolved form is valid and a fixed point", "[unit][manifest]") {
  const std::vector<std::string> files = CorpusAndExamples();
  for (const std::string& f : files) {
    INFO(f);
    LoadResult r = testing::Load(testing::ReadFile(f));
    REQUIRE(r.ok());
    const std::string resolved = ToYaml(*r.manifest);
    LoadResult again = testing::Load(resolved);
    INFO(resolved);
    INFO(testing::Describe(again.diagnostics));
    REQUIRE(again.ok());
    CHECK(ToYaml(*again.manifest) == resolved);
    CHECK(ToJson(*again.manifest) == ToJson(*r.manifest));
  }
}

TEST_CASE("The written-keys form loads to the same manifest and writes only what was written",
          "[unit][manifest]") {
  const std::vector<std::string> files = CorpusAndExamples();
  for (const std::string& f : files) {
    INFO(f);
    LoadResult r = testing::Load(testing::ReadFile(f));
    REQUIRE(r.ok());
    const std::string written = ToWrittenYaml(*r.manifest);
    LoadResult again = testing::Load(written);
    INFO(written);
    INFO(testing::Describe(again.diagnostics));
    REQUIRE(again.ok());
    CHECK(ToJson(*again.manifest) == ToJson(*r.manifest));
    // The same keys count as written, so the engine's support check sees the same manifest.
    std::vector<std::string> before, after;
    for (const auto& [k, v] : r.manifest->locations) before.push_back(k);
    for (const auto& [k, v] : again.manifest->locations) after.push_back(k);
    CHECK(before == after);
  }
}

TEST_CASE("The examples validate", "[unit][manifest]") {
  const std::vector<std::string> files = testing::ListFiles(kSource + "/examples", ".yaml");
  REQUIRE_FALSE(files.empty());
  for (const std::string& f : files) {
    INFO(f);
    LoadResult r = LoadFile(f);
    INFO(testing::Describe(r.diagnostics));
    CHECK(r.ok());
    CHECK(r.diagnostics.empty());  // not even a warning in what we ship
  }
}

TEST_CASE("Every init template validates as is, without warnings", "[unit][manifest]") {
  const std::vector<std::string> names = InitTemplateNames();
  CHECK(names == std::vector<std::string>{"minimal", "classifier", "regression", "lora", "qlora",
                                          "transformer"});
  for (const std::string& name : names) {
    INFO(name);
    Result<std::string> text = InitTemplate(name);
    REQUIRE(text.ok());
    CHECK(text.value().rfind("# ", 0) == 0);  // commented
    LoadResult r = testing::Load(text.value());
    INFO(testing::Describe(r.diagnostics));
    CHECK(r.ok());
    CHECK(r.diagnostics.empty());
  }
  Result<std::string> bad = InitTemplate("qlroa");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("did you mean `qlora`") != std::string::npos);
}

}  // namespace
}  // namespace entrenar::manifest
