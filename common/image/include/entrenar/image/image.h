#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::image {

// 8-bit pixels, rows top to bottom, each pixel's channels together (HWC).
struct Image {
  int width = 0, height = 0;
  int channels = 0;  // 1 (grey) or 3 (RGB)
  std::vector<std::uint8_t> pixels;
  std::uint8_t at(int x, int y, int c) const {
    return pixels[(static_cast<std::size_t>(y) * width + x) * channels + c];
  }
};

// What a decoded image becomes, as Pillow's Image.convert does it (what torchvision's ImageFolder
// gives): RGB drops an alpha channel (no compositing), spreads grey and palettes; grey is
// L = (19595 R + 38470 G + 7471 B + 32768) >> 16.
enum class ColorMode { kRgb, kGrey };

struct DecodeOptions {
  ColorMode color = ColorMode::kRgb;
  // Width times height past this is refused before any pixel is decoded (a header is cheap to
  // forge: 65535 x 65535 would ask for 12 GiB).
  std::int64_t max_pixels = std::int64_t{1} << 26;
  // Turn a JPEG upright as its EXIF orientation says (Pillow's ImageOps.exif_transpose).
  bool apply_orientation = true;
};

// Decodes a PNG, a JPEG or a still WebP, told apart by their signatures. 16-bit samples keep
// their high byte (as Pillow reads 16-bit RGB). kInvalidArgument for none of them (or an animated
// WebP), kDataLoss for a damaged or truncated file, kResourceExhausted past max_pixels; the
// message says which.
Result<Image> DecodeImage(std::string_view bytes, const DecodeOptions& options = {});
Result<Image> DecodePng(std::string_view bytes, const DecodeOptions& options = {});
Result<Image> DecodeJpeg(std::string_view bytes, const DecodeOptions& options = {});
Result<Image> DecodeWebp(std::string_view bytes, const DecodeOptions& options = {});

// Whether `bytes` begin as a PNG, JPEG or WebP file does.
bool IsImageSignature(std::string_view bytes);

// DecodeImage of a file's bytes; errors name the file.
Result<Image> ReadImageFile(const std::string& path, const DecodeOptions& options = {});

// An 8-bit grey or RGB PNG (no interlace, default compression).
Result<std::string> EncodePng(const Image& image);

// `image` in `mode` (RGB from grey repeats it; grey from RGB is Pillow's L).
Image Convert(const Image& image, ColorMode mode);

// The EXIF orientation (1-8) in a JPEG's APP1 segment's bytes (after the marker's length),
// 1 when there is none or it cannot be read; and `image` turned by it.
int ExifOrientation(std::string_view app1);
Image Orient(const Image& image, int orientation);

}  // namespace entrenar::image
