// Image transforms (data.augmentation's steps on decoded pixels). The first bytes make an image
// (up to 40 x 40, grey or RGB) and up to 4 steps of any kind and size (padding past the image,
// crops larger than it, every padding mode, random resized crops of any scale and aspect,
// rotations by any angle); the rest are pixels. Properties: no crash; a result has the size
// TransformedSize promises and the image's channels; the same seed gives the same pixels.

#include <algorithm>
#include <random>
#include <string>

#include "entrenar/image/transform.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::image;
  if (size < 4) return 0;
  Image image;
  image.width = 1 + data[0] % 40;
  image.height = 1 + data[1] % 40;
  image.channels = data[2] % 2 ? 3 : 1;
  const std::size_t steps = data[3] % 5;
  std::size_t at = 4;
  std::vector<Transform> pipeline;
  for (std::size_t s = 0; s < steps && at + 5 <= size; ++s, at += 5) {
    Transform t;
    t.kind = static_cast<Transform::Kind>(data[at] % 8);
    t.brightness = (data[at + 1] % 8) / 4.0;
    t.contrast = (data[at + 2] % 8) / 4.0;
    t.saturation = (data[at + 3] % 8) / 4.0;
    t.hue = (data[at + 4] % 6) / 10.0;
    t.scale_min = (data[at + 4] % 16 + 1) / 16.0;
    t.scale_max = std::max(t.scale_min, (data[at + 3] % 16 + 1) / 16.0);
    t.ratio_min = (data[at + 1] % 8 + 1) / 4.0;
    t.ratio_max = t.ratio_min + (data[at + 2] % 8) / 4.0;
    t.size = {1 + data[at + 1] % 64};
    if (data[at + 2] % 64) t.size.push_back(data[at + 2] % 64);
    t.padding = data[at + 3] % 80;
    t.pad_mode = static_cast<PadMode>(data[at + 3] % 4);
    t.probability = data[at + 4] / 255.0;
    t.degrees = data[at + 1] * (360.0 / 255.0);
    t.fill = data[at + 2];
    pipeline.push_back(t);
  }
  const std::size_t n = static_cast<std::size_t>(image.width) * image.height * image.channels;
  for (std::size_t i = 0; i < n; ++i)
    image.pixels.push_back(at < size ? data[at + i % (size - at)] : static_cast<std::uint8_t>(i));
  std::mt19937_64 a(data[0]), b(data[0]);
  entrenar::Result<Image> first = ApplyTransforms(pipeline, image, &a);
  entrenar::Result<Image> again = ApplyTransforms(pipeline, image, &b);
  FUZZ_CHECK(first.ok() == again.ok());
  if (first.ok()) {
    const auto [h, w] = TransformedSize(pipeline, image.height, image.width, true);
    FUZZ_CHECK(first->height == h && first->width == w);
    FUZZ_CHECK(first->channels == image.channels);
    FUZZ_CHECK(first->pixels.size() == static_cast<std::size_t>(h) * w * image.channels);
    FUZZ_CHECK(first->pixels == again->pixels);
  }
  entrenar::Result<Image> eval = ApplyTransforms(pipeline, image, nullptr);
  if (eval.ok()) {
    const auto [h, w] = TransformedSize(pipeline, image.height, image.width, false);
    FUZZ_CHECK(eval->height == h && eval->width == w);
  }
  return 0;
}
