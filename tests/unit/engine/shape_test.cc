#include "entrenar/engine/shape.h"

#include <catch2/catch.hpp>

#include "entrenar/manifest/load.h"

#include "manifest_helpers.h"

namespace entrenar::engine {
namespace {

manifest::ArchitectureConfig Layers(const std::string& layers) {
  manifest::LoadResult r = testing::Load(
      testing::Root("model:\n  architecture:\n    type: sequential\n    layers:\n" + layers));
  INFO(testing::Describe(r.diagnostics));
  REQUIRE(r.ok());
  return *r.manifest->model.architecture;
}

std::string Error(const std::string& layers, const Shape& input) {
  Result<std::vector<Shape>> s = InferShapes(Layers(layers), input);
  REQUIRE_FALSE(s.ok());
  return s.status().message();
}

TEST_CASE("Shapes flow through convolutions, pooling and flatten", "[unit][engine]") {
  Result<std::vector<Shape>> s =
      InferShapes(Layers("      - reshape: [1, 8, 8]\n"
                         "      - conv2d: {in_channels: 1, out_channels: 4, kernel_size: 3}\n"
                         "      - batchnorm: {num_features: 4}\n"
                         "      - activation: relu\n"
                         "      - max_pool2d: {kernel_size: 2}\n"
                         "      - conv2d: {in_channels: 4, out_channels: 2, kernel_size: 2, "
                         "stride: 2, padding: 1}\n"
                         "      - flatten\n"
                         "      - linear: {in_features: 8, out_features: 3}\n"),
                  {64});
  REQUIRE(s.ok());
  CHECK(*s == std::vector<Shape>{
                  {1, 8, 8}, {4, 6, 6}, {4, 6, 6}, {4, 6, 6}, {4, 3, 3}, {2, 2, 2}, {8}, {3}});
}

TEST_CASE("One-dimensional layers, -1 in reshape and embeddings", "[unit][engine]") {
  Result<std::vector<Shape>> s =
      InferShapes(Layers("      - reshape: [2, -1]\n"
                         "      - conv1d: {in_channels: 2, out_channels: 3, kernel_size: 5}\n"
                         "      - avg_pool1d: {kernel_size: 2, stride: 1}\n"
                         "      - max_pool1d: {kernel_size: 3, padding: 1}\n"),
                  {20});
  REQUIRE(s.ok());
  CHECK(*s == std::vector<Shape>{{2, 10}, {3, 6}, {3, 5}, {3, 2}});
  Result<std::vector<Shape>> e =
      InferShapes(Layers("      - embedding: {num_embeddings: 10, embedding_dim: 4}\n"
                         "      - layernorm: {normalized_shape: 4}\n"
                         "      - flatten: {start_dim: 1, end_dim: 2}\n"),
                  {3});
  REQUIRE(e.ok());
  CHECK(*e == std::vector<Shape>{{3, 4}, {3, 4}, {12}});
}

TEST_CASE("Shape mismatches name the layer, its input and a fix", "[unit][engine]") {
  CHECK(Error("      - linear: {in_features: 10, out_features: 3}\n", {64}) ==
        "model.architecture.layers[0] (linear): in_features is 10 but its input is 64 "
        "(features); set linear.in_features to 64");
  CHECK(Error("      - conv2d: {in_channels: 1, out_channels: 4, kernel_size: 3}\n", {64}) ==
        "model.architecture.layers[0] (conv2d): expects channels x height x width but its "
        "input is 64; add `- reshape: [1, 8, 8]` before it");
  CHECK(Error("      - conv1d: {in_channels: 2, out_channels: 4, kernel_size: 3}\n", {64}) ==
        "model.architecture.layers[0] (conv1d): expects channels x length but its input is 64; "
        "add `- reshape: [2, 32]` before it");
  CHECK(Error("      - reshape: [-1, 8, 8]\n"
              "      - conv2d: {in_channels: 1, out_channels: 4, kernel_size: 3}\n",
              {192}) ==
        "model.architecture.layers[1] (conv2d): in_channels is 1 but its input is 3x8x8; set "
        "in_channels to 3");
  CHECK(Error("      - reshape: [1, 4, 4]\n"
              "      - conv2d: {in_channels: 1, out_channels: 4, kernel_size: 5}\n",
              {16}) ==
        "model.architecture.layers[1] (conv2d): kernel_size 5 is larger than the input "
        "1x4x4 (with padding 0); use a smaller kernel_size or more padding");
  CHECK(Error("      - reshape: [5, 5]\n", {64}) ==
        "model.architecture.layers[0] (reshape): shape 5x5 does not hold the input 64 (64 "
        "values)");
  CHECK(Error("      - linear: {in_features: 4, out_features: 4}\n"
              "      - embedding: {num_embeddings: 10, embedding_dim: 4}\n",
              {4}) ==
        "model.architecture.layers[1] (embedding): an embedding looks up integer ids, so it "
        "must be the first layer");
  CHECK(Error("      - reshape: [-1, 8, 8]\n      - batchnorm: {num_features: 8}\n", {64}) ==
        "model.architecture.layers[1] (batchnorm): num_features is 8 but its input is 1x8x8; "
        "set num_features to 1");
  CHECK(Error("      - reshape: [1, 8]\n      - max_pool1d: {kernel_size: 2, padding: 2}\n", {8}) ==
        "model.architecture.layers[1] (max_pool1d): padding 2 is more than half of kernel_size 2");
  CHECK(Error("      - flatten: {start_dim: 0}\n", {8}) ==
        "model.architecture.layers[0] (flatten): start_dim 0 and end_dim -1 do not fit the input "
        "8 (dimension 0 is the batch); the defaults (1, -1) flatten each sample");
}

}  // namespace
}  // namespace entrenar::engine
