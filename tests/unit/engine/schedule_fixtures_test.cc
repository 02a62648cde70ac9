// Our learning-rate schedules against PyTorch's own schedulers: tests/data/schedules/
// pytorch_lr.json was written by generate.py beside it with Debian's python3-torch.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/engine/schedule.h"

#include "manifest_helpers.h"

namespace entrenar::engine {
namespace {

TEST_CASE("Learning-rate sequences match PyTorch's schedulers", "[unit][engine]") {
  const nlohmann::json cases = nlohmann::json::parse(testing::ReadFile(
      std::string(ENTRENAR_SOURCE_DIR) + "/tests/data/schedules/pytorch_lr.json"));
  REQUIRE(cases.size() >= 10);
  for (const nlohmann::json& c : cases) {
    INFO(c["name"].get<std::string>());
    // The fixture's scheduler config is JSON, which is YAML: it goes through the manifest reader.
    manifest::LoadResult r =
        testing::Load(testing::Root("scheduler: " + c["scheduler"].dump() + "\n"));
    INFO(testing::Describe(r.diagnostics));
    REQUIRE(r.ok());
    const double lr = c["lr"].get<double>();
    if (c.contains("metrics")) {  // plateau: the rate after each validation value
      PlateauTracker tracker;
      for (std::size_t i = 0; i < c["metrics"].size(); ++i) {
        INFO("validation " << i);
        tracker.Observe(r.manifest->scheduler, c["metrics"][i].get<double>());
        CHECK(lr * tracker.scale == Approx(c["lrs"][i].get<double>()).epsilon(1e-12));
      }
      continue;
    }
    const auto total = c["total_steps"].get<std::int64_t>();
    const auto& expected = c["lrs"];
    REQUIRE(expected.size() == static_cast<std::size_t>(total));
    for (std::int64_t step = 0; step < total; ++step) {
      INFO("step " << step);
      CHECK(LearningRateAt(r.manifest->scheduler, lr, step, total) ==
            Approx(expected[static_cast<std::size_t>(step)].get<double>())
                .epsilon(1e-9)
                .margin(1e-12));
    }
  }
}

}  // namespace
}  // namespace entrenar::engine
