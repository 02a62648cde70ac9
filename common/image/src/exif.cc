// The EXIF orientation of a JPEG (its APP1 segment: "Exif\0\0", then a TIFF header and IFD0), and
// turning an image by it as Pillow's ImageOps.exif_transpose does.
#include <cstdint>

#include "entrenar/image/image.h"

namespace entrenar::image {
namespace {

constexpr std::uint16_t kOrientationTag = 0x0112;
constexpr std::uint16_t kShort = 3;

class Tiff {
 public:
  explicit Tiff(std::string_view b) : b_(b) {}
  bool little = true;
  bool U16(std::size_t at, std::uint16_t* v) const {
    if (at > b_.size() || b_.size() - at < 2) return false;
    const auto p = [&](std::size_t i) { return static_cast<std::uint8_t>(b_[at + i]); };
    *v = static_cast<std::uint16_t>(little ? p(0) | p(1) << 8 : p(0) << 8 | p(1));
    return true;
  }
  bool U32(std::size_t at, std::uint32_t* v) const {
    std::uint16_t a = 0, b = 0;
    if (!U16(at, &a) || !U16(at + 2, &b)) return false;
    *v = little ? (std::uint32_t{b} << 16 | a) : (std::uint32_t{a} << 16 | b);
    return true;
  }

 private:
  std::string_view b_;
};

}  // namespace

int ExifOrientation(std::string_view app1) {
  if (app1.size() < 14 || app1.substr(0, 6) != std::string_view("Exif\0\0", 6)) return 1;
  const std::string_view tiff = app1.substr(6);
  Tiff t(tiff);
  if (tiff.substr(0, 2) == "MM") {
    t.little = false;
  } else if (tiff.substr(0, 2) != "II") {
    return 1;
  }
  std::uint32_t ifd = 0;
  std::uint16_t entries = 0;
  if (!t.U32(4, &ifd) || !t.U16(ifd, &entries)) return 1;
  for (std::uint32_t i = 0; i < entries; ++i) {
    const std::size_t at = std::size_t{ifd} + 2 + std::size_t{12} * i;
    std::uint16_t tag = 0, type = 0, value = 0;
    if (!t.U16(at, &tag) || !t.U16(at + 2, &type)) return 1;
    if (tag != kOrientationTag) continue;
    if (type != kShort || !t.U16(at + 8, &value) || value < 1 || value > 8) return 1;
    return value;
  }
  return 1;
}

Image Orient(const Image& image, int orientation) {
  if (orientation < 2 || orientation > 8) return image;
  const int w = image.width, h = image.height;
  const bool swap = orientation >= 5;
  Image out;
  out.width = swap ? h : w;
  out.height = swap ? w : h;
  out.channels = image.channels;
  out.pixels.resize(image.pixels.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      int sx = x, sy = y;
      switch (orientation) {
        case 2:
          sx = w - 1 - x;
          break;  // mirrored
        case 3:
          sx = w - 1 - x, sy = h - 1 - y;
          break;  // upside down
        case 4:
          sy = h - 1 - y;
          break;  // mirrored, upside down
        case 5:
          sx = y, sy = x;
          break;  // transposed
        case 6:
          sx = y, sy = h - 1 - x;
          break;  // turned 90 degrees clockwise
        case 7:
          sx = w - 1 - y, sy = h - 1 - x;
          break;  // transversed
        case 8:
          sx = w - 1 - y, sy = x;
          break;  // turned 90 degrees anticlockwise
      }
      for (int c = 0; c < image.channels; ++c) {
        out.pixels[(static_cast<std::size_t>(y) * out.width + x) * out.channels + c] =
            image.at(sx, sy, c);
      }
    }
  }
  return out;
}

}  // namespace entrenar::image
