// WebP through Debian's libwebp: still images, lossy or lossless, with or without alpha, decoded
// to RGBA as Pillow's WebP plugin decodes them (libwebp's default fancy upsampling), the alpha
// dropped; the orientation in an EXIF chunk applied as for JPEG.
#include <webp/decode.h>

#include "entrenar/image/image.h"

namespace entrenar::image {
namespace {

std::uint32_t Le32(std::string_view b, std::size_t at) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(b[at])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[at + 3])) << 24;
}

// The first EXIF chunk of a RIFF WebP file as a JPEG's APP1 holds it ("Exif\0\0", then the TIFF
// data: writers store it with or without that prefix); empty when there is none.
std::string ExifChunk(std::string_view bytes) {
  const std::string_view prefix("Exif\0\0", 6);
  std::size_t at = 12;  // after "RIFF", the size and "WEBP"
  while (at + 8 <= bytes.size()) {
    const std::size_t body = at + 8;
    const std::size_t size = Le32(bytes, at + 4);
    if (size > bytes.size() - body) return {};
    if (bytes.substr(at, 4) == "EXIF") {
      const std::string_view data = bytes.substr(body, size);
      return data.substr(0, 6) == prefix ? std::string(data)
                                         : std::string(prefix) + std::string(data);
    }
    at = body + size + (size & 1);  // chunks are padded to an even length
  }
  return {};
}

}  // namespace

Result<Image> DecodeWebp(std::string_view bytes, const DecodeOptions& options) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(bytes.data());
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, bytes.size(), &features);
  if (status == VP8_STATUS_NOT_ENOUGH_DATA)
    return DataLoss("WebP: the file ends early (truncated)");
  if (status != VP8_STATUS_OK) {
    return DataLoss("WebP: a damaged or unsupported header (libwebp status " +
                    std::to_string(static_cast<int>(status)) + ")");
  }
  if (features.has_animation) {
    return InvalidArgument(
        "WebP: an animation; entrenar reads still images (save the frame "
        "you want as PNG)");
  }
  const std::int64_t width = features.width, height = features.height;
  if (width <= 0 || height <= 0) return DataLoss("WebP: an image without pixels");
  if (width * height > options.max_pixels) {
    return Status(StatusCode::kResourceExhausted,
                  "WebP: " + std::to_string(width) + " x " + std::to_string(height) +
                      " pixels, more than the " + std::to_string(options.max_pixels) +
                      " an image may have");
  }
  std::vector<std::uint8_t> rgba(static_cast<std::size_t>(width * height) * 4);
  if (!WebPDecodeRGBAInto(data, bytes.size(), rgba.data(), rgba.size(),
                          static_cast<int>(width) * 4)) {
    return DataLoss("WebP: the image data is damaged or ends early");
  }
  Image image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.channels = 3;
  image.pixels.resize(static_cast<std::size_t>(width * height) * 3);
  for (std::size_t i = 0, n = static_cast<std::size_t>(width * height); i < n; ++i) {
    for (std::size_t c = 0; c < 3; ++c) image.pixels[3 * i + c] = rgba[4 * i + c];
  }
  if (options.apply_orientation) image = Orient(image, ExifOrientation(ExifChunk(bytes)));
  return Convert(image, options.color);
}

}  // namespace entrenar::image
