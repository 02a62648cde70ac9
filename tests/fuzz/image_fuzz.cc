// An image file (data.* image folders and tables, the Hub's image data sets): PNG through libpng,
// JPEG through libjpeg-turbo and WebP through libwebp (its RIFF chunks walked by us for EXIF),
// told apart by their signatures, in RGB and in grey. Properties:
// no crash; an image that decodes has the pixels its size says, 1 or 3 channels; a PNG we write
// of it decodes to the same pixels.

#include <string>

#include "entrenar/image/image.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::image;
  if (size == 0) return 0;
  DecodeOptions options;
  options.color = data[0] % 2 ? ColorMode::kGrey : ColorMode::kRgb;
  options.max_pixels = 1 << 20;  // the fuzzer's 512 MiB
  const std::string bytes = entrenar::fuzz::AsString(data + 1, size - 1);
  entrenar::Result<Image> image = DecodeImage(bytes, options);
  if (!image.ok()) return 0;
  FUZZ_CHECK(image->channels == (options.color == ColorMode::kGrey ? 1 : 3));
  FUZZ_CHECK(image->pixels.size() ==
             static_cast<std::size_t>(image->width) * image->height * image->channels);
  if (image->width == 0 || image->height == 0) return 0;
  entrenar::Result<std::string> png = EncodePng(*image);
  FUZZ_CHECK(png.ok());
  entrenar::Result<Image> again = DecodePng(*png, options);
  FUZZ_CHECK(again.ok() && again->pixels == image->pixels);
  return 0;
}
