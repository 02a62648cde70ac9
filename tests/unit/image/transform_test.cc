#include "entrenar/image/transform.h"

#include <cmath>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::image {
namespace {

using testing::RunProcess;
using Kind = Transform::Kind;

const std::string kFormats = std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats";

std::string Hex(const std::vector<std::uint8_t>& bytes) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t b : bytes) out += {kDigits[b >> 4], kDigits[b & 15]};
  return out;
}

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kResize:
      return "resize";
    case Kind::kCenterCrop:
      return "center_crop";
    case Kind::kRandomCrop:
      return "random_crop";
    case Kind::kHorizontalFlip:
      return "horizontal_flip";
    case Kind::kVerticalFlip:
      return "vertical_flip";
    case Kind::kRandomResizedCrop:
      return "random_resized_crop";
    case Kind::kColorJitter:
      return "color_jitter";
    case Kind::kRotation:
      return "rotation";
  }
  return "?";
}

const char* PadName(PadMode m) {
  switch (m) {
    case PadMode::kConstant:
      return "constant";
    case PadMode::kEdge:
      return "edge";
    case PadMode::kReflect:
      return "reflect";
    case PadMode::kSymmetric:
      return "symmetric";
  }
  return "?";
}

// A `width` x `height` image of `channels`, its bytes i x step (mod 256) in order.
Image Ramp(int width, int height, int channels, int step = 1) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  const int n = width * height * channels;
  for (int i = 0; i < n; ++i) image.pixels.push_back(static_cast<std::uint8_t>(i * step));
  return image;
}

Transform Step(Kind kind, std::vector<int> size = {}, int padding = 0,
               PadMode mode = PadMode::kConstant) {
  Transform t;
  t.kind = kind;
  t.size = std::move(size);
  t.padding = padding;
  t.pad_mode = mode;
  return t;
}

nlohmann::json StepsJson(const std::vector<Transform>& steps) {
  nlohmann::json out = nlohmann::json::array();
  for (const Transform& t : steps) {
    out.push_back({{"kind", KindName(t.kind)},
                   {"size", t.size},
                   {"padding", t.padding},
                   {"pad_mode", PadName(t.pad_mode)},
                   {"probability", t.probability},
                   {"fill", t.fill}});
  }
  return out;
}

// A random resized crop whose aspect range no box of these images fits: torchvision's fallback.
Transform NarrowResizedCrop() {
  Transform t = Step(Kind::kRandomResizedCrop, {16});
  t.scale_min = 0.9;
  t.ratio_min = 3.0;
  t.ratio_max = 3.5;
  return t;
}

Transform Rotation(double degrees, std::uint8_t fill = 0) {
  Transform t = Step(Kind::kRotation);
  t.degrees = degrees;
  t.fill = fill;
  return t;
}

Transform Jitter(double brightness, double contrast, double saturation, double hue) {
  Transform t = Step(Kind::kColorJitter);
  t.brightness = brightness;
  t.contrast = contrast;
  t.saturation = saturation;
  t.hue = hue;
  return t;
}

// Pipelines covering each step and its options: shrinking and enlarging resizes (the shorter
// edge, or both), centre crops inside and past the image (odd differences: Python's rounding),
// random crops with every padding mode (padding past the image's size too), flips, and a
// usual training pipeline.
std::vector<std::vector<Transform>> Pipelines() {
  return {
      {Step(Kind::kResize, {32})},
      {Step(Kind::kResize, {100, 77})},
      {Step(Kind::kResize, {20, 50})},
      {Step(Kind::kResize, {7})},
      {Step(Kind::kCenterCrop, {30})},
      {Step(Kind::kCenterCrop, {50, 70})},
      {Step(Kind::kCenterCrop, {21, 12})},
      {Step(Kind::kRandomCrop, {32}, 4, PadMode::kConstant)},
      {Step(Kind::kRandomCrop, {32, 20}, 3, PadMode::kEdge)},
      {Step(Kind::kRandomCrop, {40}, 5, PadMode::kReflect)},
      {Step(Kind::kRandomCrop, {33}, 6, PadMode::kSymmetric)},
      {Step(Kind::kRandomCrop, {90}, 50, PadMode::kReflect)},
      {Step(Kind::kRandomCrop, {90}, 50, PadMode::kSymmetric)},
      {Step(Kind::kRandomCrop, {16})},
      {Step(Kind::kHorizontalFlip), Step(Kind::kVerticalFlip)},
      {Step(Kind::kRandomResizedCrop, {24})},
      {Step(Kind::kRandomResizedCrop, {30, 50})},
      {NarrowResizedCrop()},
      {Jitter(0.4, 0.4, 0.4, 0.1)},
      {Jitter(0.9, 0, 0, 0)},
      {Jitter(0, 0.8, 0, 0)},
      {Jitter(0, 0, 0.9, 0)},
      {Jitter(0, 0, 0, 0.5)},
      {Step(Kind::kRandomResizedCrop, {32}), Jitter(0.2, 0.2, 0.2, 0.05),
       Step(Kind::kHorizontalFlip)},
      {Step(Kind::kResize, {40}), Step(Kind::kRandomCrop, {32}, 2, PadMode::kReflect),
       Step(Kind::kHorizontalFlip)},
      {Rotation(30)},
      {Rotation(180, 128)},
      {Step(Kind::kCenterCrop, {36}), Rotation(10, 255)},
      {Step(Kind::kResize, {40}), Rotation(15), Step(Kind::kRandomCrop, {32}),
       Step(Kind::kHorizontalFlip)},
  };
}

TEST_CASE("Transforms give torchvision's pixels on Pillow's images, replaying our draws",
          "[unit][image]") {
  testing::TempDir dir;
  const auto made = RunProcess({"/usr/bin/python3", kFormats + "/images_pil.py", "make", dir.path});
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  nlohmann::json cases = nlohmann::json::array();
  std::size_t flips = 0, kept = 0;
  for (const char* name : {"rgb.png", "grey.png", "palette.png", "progressive.jpg", "cmyk.jpg"}) {
    for (const auto& [mode, pil] : {std::pair{ColorMode::kRgb, "RGB"}, {ColorMode::kGrey, "L"}}) {
      DecodeOptions options;
      options.color = mode;
      const std::string file = dir.path + "/" + name;
      Result<Image> image = ReadImageFile(file, options);
      REQUIRE(image.ok());
      for (const std::vector<Transform>& steps : Pipelines()) {
        for (std::uint64_t seed = 0; seed < 3; ++seed) {
          std::mt19937_64 rng(seed);
          std::vector<Draw> draws;
          Result<Image> out = ApplyTransforms(steps, *image, &rng, &draws);
          REQUIRE(out.ok());
          const auto [h, w] = TransformedSize(steps, image->height, image->width, true);
          CHECK(out->height == h);
          CHECK(out->width == w);
          nlohmann::json d = nlohmann::json::array();
          for (const Draw& x : draws) {
            nlohmann::json factors = nlohmann::json::array();
            for (const double f : x.factors)
              factors.push_back(std::isnan(f) ? nlohmann::json() : nlohmann::json(f));
            d.push_back({{"top", x.top},
                         {"left", x.left},
                         {"height", x.height},
                         {"width", x.width},
                         {"flip", x.flip},
                         {"order", x.order},
                         {"factors", factors},
                         {"angle", x.angle}});
            (x.flip ? flips : kept) += steps[0].kind == Kind::kHorizontalFlip;
          }
          cases.push_back({{"file", file},
                           {"mode", pil},
                           {"steps", StepsJson(steps)},
                           {"draws", d},
                           {"width", out->width},
                           {"height", out->height},
                           {"hex", Hex(out->pixels)}});
        }
      }
      // Given angles: Pillow's fast paths (0, 90, 180, 270; the quarter turns on a square image
      // only), angles outside [0, 360), and a few between.
      const Image square = CenterCrop(*image, 36, 36);
      // -1e-20 wraps to 360 and just past 180 rounds its sine to 0: Pillow's scale-only path.
      for (const double angle :
           {0.0, 90.0, 180.0, 270.0, -90.0, 450.0, 360.0, -1e-13, -1e-20,
            std::nextafter(180.0, 181.0), 90.0 + 1e-9, 45.0, 179.9999, -721.5}) {
        for (const bool on_square : {true, false}) {
          const Image out = Rotate(on_square ? square : *image, angle, 7);
          std::vector<Transform> steps = {Rotation(0, 7)};
          if (on_square) steps.insert(steps.begin(), Step(Kind::kCenterCrop, {36}));
          cases.push_back({{"file", file},
                           {"mode", pil},
                           {"steps", StepsJson(steps)},
                           {"draws", nlohmann::json::array({{{"angle", angle}}})},
                           {"width", out.width},
                           {"height", out.height},
                           {"hex", Hex(out.pixels)}});
        }
      }
    }
  }
  // An image wider than Pillow's 16.16 fixed point reaches: its floating-point path.
  const Image wide = Ramp(33000, 3, 3, 7);
  REQUIRE(WriteFileAtomic(dir.path + "/wide.png", *EncodePng(wide)).ok());
  for (const double angle : {0.004, -0.01, 30.0}) {
    const Image out = Rotate(wide, angle, 9);
    cases.push_back({{"file", dir.path + "/wide.png"},
                     {"mode", "RGB"},
                     {"steps", StepsJson({Rotation(0, 9)})},
                     {"draws", nlohmann::json::array({{{"angle", angle}}})},
                     {"width", out.width},
                     {"height", out.height},
                     {"hex", Hex(out.pixels)}});
  }
  CHECK(flips > 0);  // both outcomes of a flip were compared
  CHECK(kept > 0);
  REQUIRE(WriteFileAtomic(dir.path + "/cases.json", cases.dump()).ok());
  const auto r = RunProcess(
      {"/usr/bin/python3", kFormats + "/transforms_tv.py", "check", dir.path + "/cases.json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::istringstream lines(r.out);
  std::size_t checked = 0;
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    const nlohmann::json& c = cases[j["case"].get<std::size_t>()];
    INFO(c["file"] << " " << c["mode"] << " " << c["steps"].dump() << " draws "
                   << c["draws"].dump());
    CHECK(j["width"] == c["width"]);
    CHECK(j["height"] == c["height"]);
    CHECK(j["differing"] == 0);
    ++checked;
  }
  CHECK(checked == cases.size());
}

TEST_CASE("Random steps draw over torchvision's whole range, flips at their probability",
          "[unit][image]") {
  const Image image = Ramp(14, 12, 1);
  std::mt19937_64 rng(3);
  std::set<int> tops, lefts;
  std::size_t flipped = 0;
  Transform flip = Step(Kind::kHorizontalFlip);
  flip.probability = 0.3;
  const std::vector<Transform> steps = {Step(Kind::kRandomCrop, {10}), flip};
  for (int i = 0; i < 4000; ++i) {
    std::vector<Draw> draws;
    REQUIRE(ApplyTransforms(steps, image, &rng, &draws).ok());
    tops.insert(draws[0].top);
    lefts.insert(draws[0].left);
    flipped += draws[1].flip;
  }
  // RandomCrop.get_params: randint(0, h - th + 1): every corner from 0 to h - th, inclusive.
  CHECK(tops == std::set<int>{0, 1, 2});
  CHECK(lefts == std::set<int>{0, 1, 2, 3, 4});
  CHECK(flipped > 1050);  // 0.3 x 4000 = 1200, sd 29
  CHECK(flipped < 1350);
  // Without a generator (validation and test) flips are skipped and the crop is a centre crop.
  Result<Image> eval = ApplyTransforms(steps, image, nullptr);
  REQUIRE(eval.ok());
  CHECK(eval->pixels == CenterCrop(image, 10, 10).pixels);
  CHECK(eval->width == 10);
}

TEST_CASE("Rotation angles spread over [-degrees, degrees], validation images unrotated",
          "[unit][image]") {
  const Image image = Ramp(9, 5, 3);
  std::mt19937_64 rng(5);
  double low = 0, high = 0;
  for (int i = 0; i < 2000; ++i) {
    std::vector<Draw> draws;
    REQUIRE(ApplyTransforms({Rotation(25)}, image, &rng, &draws).ok());
    REQUIRE(draws.size() == 1);
    CHECK(std::abs(draws[0].angle) <= 25);
    low = std::min(low, draws[0].angle);
    high = std::max(high, draws[0].angle);
  }
  CHECK(low < -24);
  CHECK(high > 24);
  Result<Image> eval = ApplyTransforms({Rotation(25)}, image, nullptr);
  REQUIRE(eval.ok());
  CHECK(eval->pixels == image.pixels);
  // A half turn of a non-square image is Pillow's transpose: every pixel moves, none is lost.
  const Image turned = Rotate(image, 180, 0);
  CHECK(Rotate(turned, -180, 0).pixels == image.pixels);
  CHECK(turned.pixels != image.pixels);
}

TEST_CASE("A random crop larger than the padded image is refused with both sizes",
          "[unit][image]") {
  const Image image = Ramp(20, 10, 3, 0);
  std::mt19937_64 rng(1);
  Result<Image> out = ApplyTransforms({Step(Kind::kRandomCrop, {16}, 2)}, image, &rng);
  REQUIRE_FALSE(out.ok());
  CHECK(out.status().message() ==
        "random_crop: the image is 24 x 14 after padding, smaller than the crop's 16 x 16 "
        "(resize it first)");
}

}  // namespace
}  // namespace entrenar::image
