#include <catch2/catch.hpp>

#include "entrenar/engine/trainer.h"

#include "manifest_helpers.h"

namespace entrenar::engine {
namespace {

std::vector<manifest::Diagnostic> Check(const std::string& body) {
  manifest::LoadResult r = testing::Load(testing::Root(body));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  return CheckSupport(*r.manifest);
}

const std::string kModel =
    "model:\n  architecture:\n    type: sequential\n    layers:\n"
    "      - linear: {in_features: 4, out_features: 3}\n";

TEST_CASE("A manifest the engine implements passes the support check", "[unit][engine]") {
  CHECK(Check("data:\n  source: d.csv\n" + kModel +
              "optimizer: {name: sgd, momentum: 0.9}\nscheduler: {name: step, step_size: 5}\n"
              "training:\n  max_steps: 10\n  gradient: {clip_norm: 1.0}\n")
            .empty());
}

TEST_CASE("Unimplemented keys and values stop the run with `not supported yet`", "[unit][engine]") {
  std::vector<manifest::Diagnostic> d =
      Check(kModel +
            "optimizer: {name: lamb}\ncallbacks:\n  - type: lr_monitor\n"
            "training:\n  mixed_precision: {enabled: true}\n");
  std::vector<std::string> messages;
  for (const auto& x : d) messages.push_back(x.message);
  CHECK(std::find(messages.begin(), messages.end(), "not supported yet: callbacks") !=
        messages.end());
  CHECK(std::find(messages.begin(), messages.end(),
                  "not supported yet: training.mixed_precision") != messages.end());
  CHECK(std::find(messages.begin(), messages.end(), "not supported yet: optimizer.name: lamb") !=
        messages.end());
  // A switched-off section asks nothing.
  CHECK(Check(kModel + "lora: {enabled: false, rank: 8}\n").empty());
  // No architecture: nothing to train yet.
  CHECK(Check("model:\n  source: ./base\n")[0].message.find("not supported yet: model") == 0);
}

}  // namespace
}  // namespace entrenar::engine
