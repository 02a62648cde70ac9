#include "entrenar/manifest/schema.h"

#include <catch2/catch.hpp>

#include "manifest_helpers.h"

namespace entrenar::manifest {
namespace {

TEST_CASE("The committed JSON Schema is the generated one", "[unit][manifest]") {
  const std::string committed =
      testing::ReadFile(std::string(ENTRENAR_SOURCE_DIR) + "/schemas/entrenar-1.0.schema.json");
  // Regenerate with: build/bin/entrenar schema -o schemas/entrenar-1.0.schema.json
  CHECK(committed == JsonSchema());
}

TEST_CASE("The committed manifest reference is the generated one", "[unit][manifest]") {
  const std::string committed =
      testing::ReadFile(std::string(ENTRENAR_SOURCE_DIR) + "/docs/manifest.md");
  // Regenerate with: build/bin/entrenar schema --format markdown -o docs/manifest.md
  CHECK(committed == MarkdownReference());
}

TEST_CASE("The keys the engine does not run yet are marked in the description",
          "[unit][manifest]") {
  std::vector<std::string> paths;
  for (const NotBuiltKey& k : NotBuiltKeys()) {
    INFO(k.path);
    CHECK_FALSE(k.hint.empty());
    paths.push_back(k.path);
  }
  CHECK(paths == std::vector<std::string>{"data.augmentation[].back_translate"});
  CHECK(MarkdownReference().find("**Not supported yet:** back-translation needs translation") !=
        std::string::npos);
}

TEST_CASE("Key paths cover every section of the spec", "[unit][manifest]") {
  const std::vector<std::string> keys = KeyPaths();
  for (const char* k :
       {"entrenar", "data.split.stratify", "data.preprocessing[].normalize.method",
        "data.augmentation[].color_jitter.brightness", "data.loader.prefetch_factor",
        "model.architecture.layers[].linear.in_features", "model.freeze",
        "optimizer.param_groups[].params", "scheduler.warmup.start_lr",
        "scheduler.final_div_factor", "training.mixed_precision.loss_scale",
        "training.distributed.find_unused_parameters", "training.validation.cross_validation.folds",
        "lora.quant_type", "quantize.calibration.percentile",
        "monitoring.terminal.charts[].show_eta", "monitoring.alerts[].condition",
        "callbacks[].config.log_histogram", "output.registry.include_metrics"}) {
    INFO(k);
    CHECK(std::find(keys.begin(), keys.end(), k) != keys.end());
  }
  CHECK(keys.size() > 250);
}

}  // namespace
}  // namespace entrenar::manifest
