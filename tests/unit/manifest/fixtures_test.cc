// The compatibility corpus of paiml/entrenar (../shared/fixtures, present in CI): every manifest
// its index marks valid validates here, and every invalid one is rejected naming the same key,
// except for the differences documented in docs/compatibility.md.
#include <filesystem>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include <catch2/catch.hpp>

#include "entrenar/base/strings.h"
#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"

namespace entrenar::manifest {
namespace {

const std::string kCorpus = std::string(ENTRENAR_SHARED_DIR) + "/fixtures/paiml-entrenar";

struct Row {
  std::string file;
  std::string asserted;
  std::string stage1;
};

std::vector<Row> ReadIndex() {
  std::vector<Row> rows;
  std::istringstream in(testing::ReadFile(kCorpus + "/INDEX.md"));
  std::string line;
  static const std::regex kRow(R"(^\| `([^`]+\.yaml)` \| [^|]* \| ([^|]*) \| ([^|]*) \|)");
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, kRow)) {
      rows.push_back({m[1], std::string(Trim(m[2].str())), std::string(Trim(m[3].str()))});
    }
  }
  return rows;
}

// Valid upstream, rejected here on purpose (docs/compatibility.md says why), with the key named.
const std::map<std::string, std::string> kDocumentedDifferences = {
    {"15_validate_accepts_valid_lora_config.yaml", "lora.enabled"},  // LoRA needs a model
    {"27_validate_accepts_lora_with_pattern.yaml", "lora.enabled"},
    {"38_parse_lora_config.yaml", "lora.enabled"},
    {"48_parse_citl_config.yaml", "citl"},  // extension sections are unknown keys here
    {"49_parse_rag_config.yaml", "rag"},
    {"50_parse_graph_config.yaml", "graph"},
    {"51_parse_distillation_config.yaml", "distillation"},
    {"52_parse_inspect_config.yaml", "inspect"},
    {"53_parse_privacy_config.yaml", "privacy"},
    {"54_parse_audit_config.yaml", "audit"},
    {"55_parse_session_config.yaml", "session"},
    {"56_parse_stress_config.yaml", "stress"},
    {"57_parse_benchmark_config.yaml", "benchmark"},
    {"58_parse_debug_config.yaml", "debug"},
    {"59_parse_signing_config.yaml", "signing"},
    {"60_parse_verification_config.yaml", "verification"},
    {"61_parse_strict_mode.yaml", "strict_validation"},
    {"68_manifest_with_publish_section.yaml", "publish"},
    {"69_full_manifest_roundtrip_from_yaml.yaml", "data.tokenizer"},  // text keys live in tokenize
};

// The key an upstream error message names, as a predicate on our diagnostic paths.
std::function<bool(const std::string&)> ExpectedKey(const Row& row) {
  std::smatch m;
  if (std::regex_search(row.stage1, m, std::regex(R"(Invalid range for ([a-z_.]+)(\[\d+\])?:)"))) {
    const std::string key = m[1].str() + m[2].str();
    return [key](const std::string& p) { return p == key; };
  }
  if (std::regex_search(row.stage1, m, std::regex(R"(Empty required field: ([a-z_.]+))"))) {
    const std::string key = m[1];
    return [key](const std::string& p) { return p == key; };
  }
  if (std::regex_search(
          row.stage1, m,
          std::regex(R"(Mutually exclusive fields specified: ([a-z_.]+) and ([a-z_.]+))"))) {
    const std::string a = m[1], b = m[2];
    return [a, b](const std::string& p) { return p == a || p == b; };
  }
  if (row.stage1.find("Invalid split ratios") != std::string::npos) {
    return [](const std::string& p) { return p == "data.split"; };
  }
  if (row.stage1.find("Unsupported entrenar version") != std::string::npos ||
      row.file.find("63_") == 0) {
    return [](const std::string& p) { return p == "entrenar"; };
  }
  if (row.stage1.find("Invalid quantization bits") != std::string::npos) {
    return [](const std::string& p) { return p == "quantize.bits" || p == "lora.quantize_bits"; };
  }
  if (row.stage1.find("Invalid scheduler") != std::string::npos) {
    return [](const std::string& p) { return p == "scheduler.name"; };
  }
  if (row.stage1.find("Invalid optimizer") != std::string::npos) {
    return [](const std::string& p) { return p == "optimizer.name"; };
  }
  return nullptr;  // a parse error: any error will do
}

TEST_CASE("The paiml-entrenar yaml_mode corpus gets the same verdicts", "[unit][manifest]") {
  if (!std::filesystem::exists(kCorpus + "/INDEX.md")) {
    WARN("fixture corpus not found at " << kCorpus << "; skipped");
    return;
  }
  const std::vector<Row> rows = ReadIndex();
  int valid = 0, invalid = 0, different = 0;
  for (const Row& row : rows) {
    const std::string path = kCorpus + "/yaml_mode/" + row.file;
    if (!std::filesystem::exists(path)) continue;
    INFO(row.file);
    LoadResult r = LoadFile(path);
    INFO(testing::Describe(r.diagnostics));
    auto diff = kDocumentedDifferences.find(row.file);
    if (diff != kDocumentedDifferences.end()) {
      REQUIRE_FALSE(r.ok());
      CHECK(testing::FindError(r.diagnostics, diff->second));
      ++different;
    } else if (row.asserted == "valid") {
      CHECK(r.ok());
      ++valid;
    } else {
      REQUIRE_FALSE(r.ok());
      auto expected = ExpectedKey(row);
      if (expected) {
        const bool named =
            std::any_of(r.diagnostics.begin(), r.diagnostics.end(), [&](const Diagnostic& d) {
              return d.severity == Severity::kError && expected(d.path);
            });
        CHECK(named);
      }
      ++invalid;
    }
  }
  CHECK(valid >= 25);  // 26 in the 5d021a95 snapshot
  CHECK(invalid >= 25);
  CHECK(different == static_cast<int>(kDocumentedDifferences.size()));
}

TEST_CASE("The spec's own examples in the corpus validate", "[unit][manifest]") {
  if (!std::filesystem::exists(kCorpus)) return;
  for (const char* f : {"d01_spec_s11_llama2_alpaca_qlora.yaml", "d02_spec_appendixB_after.yaml",
                        "d03_book_complete_example.yaml"}) {
    INFO(f);
    LoadResult r = LoadFile(kCorpus + "/docs_examples/" + f);
    INFO(testing::Describe(r.diagnostics));
    CHECK(r.ok());
  }
  // Appendix A lists defaults without name and version; with them added it validates.
  std::string appendix =
      testing::ReadFile(kCorpus + "/docs_examples/d04_spec_appendixA_defaults.yaml");
  LoadResult r = testing::Load(appendix + "\nname: defaults\nversion: \"1.0.0\"\n");
  INFO(testing::Describe(r.diagnostics));
  CHECK(r.ok());
}

TEST_CASE("Legacy TrainSpec files in the corpus are rejected clearly", "[unit][manifest]") {
  const std::string dir = kCorpus + "/legacy_trainspec";
  if (!std::filesystem::exists(dir)) return;
  std::vector<std::string> files = testing::ListFiles(dir + "/examples_yaml", ".yaml");
  for (const std::string& f : testing::ListFiles(dir, ".yaml")) files.push_back(f);
  REQUIRE(files.size() >= 25);
  for (const std::string& f : files) {
    INFO(f);
    LoadResult r = LoadFile(f);
    REQUIRE_FALSE(r.ok());
    const std::string& msg = r.diagnostics[0].message;
    CHECK((msg.find("not an entrenar 1.0 manifest") != std::string::npos ||
           msg.find("not valid YAML") != std::string::npos));
  }
}

}  // namespace
}  // namespace entrenar::manifest
