// Image transforms on 8-bit pixels, each as torchvision does it to a PIL image (the reference
// users know): geometry, flips and Pillow's antialiased bilinear resize. A pipeline draws its
// random choices from a generator the caller seeds, and can record them (tests replay the draws
// in torchvision).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "entrenar/base/random.h"
#include "entrenar/base/status.h"
#include "entrenar/image/image.h"

namespace entrenar::image {

// numpy.pad's modes, as torchvision's F.pad uses them on a PIL image (constant fills with 0).
enum class PadMode { kConstant, kEdge, kReflect, kSymmetric };

Image Pad(const Image& image, int left, int top, int right, int bottom, PadMode mode);
// Rows [top, top + height) and columns [left, left + width); pixels outside the image are 0.
Image Crop(const Image& image, int top, int left, int height, int width);
Image FlipHorizontal(const Image& image);
Image FlipVertical(const Image& image);
// Pillow's Image.resize with BILINEAR (antialiased when shrinking; 22-bit fixed point, a
// horizontal pass then a vertical one): what torchvision's Resize does to a PIL image.
Image Resize(const Image& image, int height, int width);
// torchvision's F.center_crop: padded with 0 first where the crop is larger than the image.
Image CenterCrop(const Image& image, int height, int width);
// torchvision's F.adjust_* on a PIL image (Pillow's ImageEnhance and its HSV conversion); a grey
// image keeps its pixels under saturation and hue.
Image AdjustBrightness(const Image& image, double factor);
Image AdjustContrast(const Image& image, double factor);
Image AdjustSaturation(const Image& image, double factor);
Image AdjustHue(const Image& image, double factor);
// Pillow's Image.rotate with NEAREST and without expand (what torchvision's F.rotate does to a PIL
// image): `degrees` counter-clockwise about the image's centre, the same size, pixels that come
// from outside the image `fill`. Its fast paths (0, 90, 180, 270 degrees) and 16.16 fixed point.
Image Rotate(const Image& image, double degrees, std::uint8_t fill);

// One step of an image pipeline (data.augmentation).
struct Transform {
  enum class Kind {
    kResize,
    kCenterCrop,
    kRandomCrop,
    kHorizontalFlip,
    kVerticalFlip,
    kRandomResizedCrop,
    kColorJitter,
    kRotation
  };
  Kind kind = Kind::kResize;
  std::vector<int> size;  // [height, width], or [side] (resize: the shorter edge's length)
  int padding = 0;        // random_crop: pixels added on each side before cropping
  PadMode pad_mode = PadMode::kConstant;
  double probability = 0.5;  // flips
  // random_resized_crop: the crop's area as a fraction of the image's, and its aspect (w / h).
  double scale_min = 0.08, scale_max = 1.0;
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;
  // color_jitter: factors drawn from [1 - x, 1 + x] (hue: [-hue, hue]); 0 leaves that one out.
  double brightness = 0, contrast = 0, saturation = 0, hue = 0;
  // rotation: the angle drawn from [-degrees, degrees], and the value of pixels from outside.
  double degrees = 0;
  std::uint8_t fill = 0;
  bool Random() const {
    return kind == Kind::kRandomCrop || kind == Kind::kHorizontalFlip ||
           kind == Kind::kVerticalFlip || kind == Kind::kRandomResizedCrop ||
           kind == Kind::kColorJitter || kind == Kind::kRotation;
  }
};

// What one random step drew for one image: a crop's box (random_crop: its corner), whether a
// flip happened, or a rotation's angle.
struct Draw {
  int top = 0, left = 0, height = 0, width = 0;
  bool flip = false;
  // color_jitter: the order of brightness (0), contrast (1), saturation (2) and hue (3), and
  // each one's factor (NaN: left out).
  std::array<int, 4> order{};
  std::array<double, 4> factors{};
  double angle = 0;  // rotation, in degrees counter-clockwise
};

// `image` through `transforms` in order. With `rng` each random step draws from it, and `draws`
// (when given) records what each drew. Without it (validation and test images) flips, jitter and
// rotations are skipped, a random crop is a centre crop of its size, unpadded (torchvision
// pipelines validate with CenterCrop of the training crop's size), and a random resized crop
// resizes the largest centred box its aspect ratios allow (torchvision's fallback box).
// kInvalidArgument when an image is smaller than a random crop, or a step would make more than
// 2^26 pixels.
Result<Image> ApplyTransforms(const std::vector<Transform>& transforms, Image image,
                              std::mt19937_64* rng, std::vector<Draw>* draws = nullptr);

// The size (height, width) an image of `height` x `width` has after `transforms`, with a
// generator (`random`) or without one.
std::pair<int, int> TransformedSize(const std::vector<Transform>& transforms, int height, int width,
                                    bool random);

}  // namespace entrenar::image
