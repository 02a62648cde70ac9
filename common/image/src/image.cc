// Telling PNG, JPEG and WebP apart, reading files, and converting grey and RGB as Pillow does.
#include "entrenar/image/image.h"

#include "entrenar/base/files.h"

namespace entrenar::image {

namespace {

bool IsPng(std::string_view b) {
  return b.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8);
}
bool IsJpeg(std::string_view b) { return b.substr(0, 3) == std::string_view("\xff\xd8\xff", 3); }
bool IsWebp(std::string_view b) {
  return b.size() >= 12 && b.substr(0, 4) == "RIFF" && b.substr(8, 4) == "WEBP";
}

}  // namespace

bool IsImageSignature(std::string_view bytes) {
  return IsPng(bytes) || IsJpeg(bytes) || IsWebp(bytes);
}

Result<Image> DecodeImage(std::string_view bytes, const DecodeOptions& options) {
  if (IsPng(bytes)) return DecodePng(bytes, options);
  if (IsJpeg(bytes)) return DecodeJpeg(bytes, options);
  if (IsWebp(bytes)) return DecodeWebp(bytes, options);
  return InvalidArgument("not a PNG, JPEG or WebP file (by its first bytes)");
}

Result<Image> ReadImageFile(const std::string& path, const DecodeOptions& options) {
  ReadLimits limits;
  limits.max_bytes = 256u << 20;
  Result<std::string> bytes = ReadWholeFile(path, limits);
  if (!bytes.ok()) return bytes.status();
  Result<Image> image = DecodeImage(*bytes, options);
  if (!image.ok()) return Status(image.status().code(), path + ": " + image.status().message());
  return image;
}

Image Convert(const Image& image, ColorMode mode) {
  const int want = mode == ColorMode::kGrey ? 1 : 3;
  if (image.channels == want) return image;
  Image out;
  out.width = image.width;
  out.height = image.height;
  out.channels = want;
  const std::size_t n = static_cast<std::size_t>(image.width) * image.height;
  out.pixels.resize(n * want);
  for (std::size_t i = 0; i < n; ++i) {
    if (want == 3) {
      for (int c = 0; c < 3; ++c) out.pixels[3 * i + c] = image.pixels[i];
    } else {
      const std::uint32_t r = image.pixels[3 * i], g = image.pixels[3 * i + 1],
                          b = image.pixels[3 * i + 2];
      out.pixels[i] = static_cast<std::uint8_t>((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);
    }
  }
  return out;
}

}  // namespace entrenar::image
