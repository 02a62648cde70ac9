// The parameter names validate predicts for a sequential model (plan, torch-free) are the names
// of the model the engine builds.
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "entrenar/engine/shape.h"
#include "entrenar/manifest/load.h"
#include "entrenar/plan/params.h"

#include "manifest_helpers.h"
#include "model.h"

namespace entrenar::engine {
namespace {

TEST_CASE("plan::SequentialParameterNames names what BuildModel builds", "[unit][engine]") {
  const std::string layers =
      "      - reshape: [1, 8, 8]\n"
      "      - conv2d: {in_channels: 1, out_channels: 4, kernel_size: 3, bias: false}\n"
      "      - batchnorm: {num_features: 4}\n"
      "      - activation: relu\n"
      "      - max_pool2d: {kernel_size: 2}\n"
      "      - flatten\n"
      "      - linear: {in_features: 36, out_features: 6}\n"
      "      - layernorm: {normalized_shape: 6}\n"
      "      - dropout: {p: 0.1}\n"
      "      - linear: {in_features: 6, out_features: 3, bias: false}\n"
      "      - activation: softmax\n";
  manifest::LoadResult r = testing::Load(
      testing::Root("model:\n  architecture:\n    type: sequential\n    layers:\n" + layers));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  const manifest::ArchitectureConfig& a = *r.manifest->model.architecture;
  Result<std::vector<Shape>> shapes = InferShapes(a, {64});
  REQUIRE(shapes.ok());
  torch::nn::Sequential model = BuildModel(*r.manifest, {64}, *shapes);
  std::vector<std::string> built;
  for (const auto& p : model->named_parameters()) built.push_back("layers." + p.key());
  REQUIRE(built == plan::SequentialParameterNames(a));
  REQUIRE(built.size() == 8);
}

TEST_CASE("plan::ParameterMatches takes a full name, the inner name or a prefix",
          "[unit][engine]") {
  REQUIRE(plan::ParameterMatches("layers.0.weight", "layers.0.weight"));
  REQUIRE(plan::ParameterMatches("0.*", "layers.0.bias"));
  REQUIRE(plan::ParameterMatches("layers.0", "layers.0.bias"));
  REQUIRE_FALSE(plan::ParameterMatches("layers.1", "layers.10.bias"));
  REQUIRE_FALSE(plan::ParameterMatches("model.encoder.*", "layers.0.weight"));
}

}  // namespace
}  // namespace entrenar::engine
