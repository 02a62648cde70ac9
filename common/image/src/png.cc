// PNG through libpng. libpng reports errors by longjmp: every libpng call that can fail runs in a
// phase function whose locals are all trivial (a longjmp skips no destructor), and the structs are
// freed by the caller's guard.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>

#include "entrenar/image/image.h"

namespace entrenar::image {
namespace {

struct Source {
  const unsigned char* data;
  std::size_t size;
  std::size_t pos;
};

struct Failure {
  char message[200];
};

void Read(png_structp png, png_bytep out, png_size_t n) {
  auto* s = static_cast<Source*>(png_get_io_ptr(png));
  if (n > s->size - s->pos) png_error(png, "the file ends early");
  std::memcpy(out, s->data + s->pos, n);
  s->pos += n;
}

void Fail(png_structp png, png_const_charp message) {
  auto* f = static_cast<Failure*>(png_get_error_ptr(png));
  std::snprintf(f->message, sizeof f->message, "%s", message);
  png_longjmp(png, 1);
}

void Ignore(png_structp, png_const_charp) {}

class ReadGuard {
 public:
  explicit ReadGuard(Failure* f) {
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, f, Fail, Ignore);
    if (png_) info_ = png_create_info_struct(png_);
  }
  ~ReadGuard() { png_destroy_read_struct(&png_, info_ ? &info_ : nullptr, nullptr); }
  ReadGuard(const ReadGuard&) = delete;
  ReadGuard& operator=(const ReadGuard&) = delete;
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

// The header, and the transforms to 8-bit grey or RGB without alpha: 16-bit samples keep their
// high byte, palettes and low bit depths expand, alpha and tRNS transparency are dropped.
bool ReadHeader(png_structp png, png_infop info, png_uint_32* width, png_uint_32* height,
                int* channels, std::size_t* row_bytes) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  const int color = png_get_color_type(png, info);
  const int depth = png_get_bit_depth(png, info);
  if (depth == 16) png_set_strip_16(png);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  // Expanding a palette also makes tRNS an alpha channel: dropped with any other.
  if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  *width = png_get_image_width(png, info);
  *height = png_get_image_height(png, info);
  *channels = png_get_channels(png, info);
  *row_bytes = png_get_rowbytes(png, info);
  return true;
}

bool ReadRows(png_structp png, png_bytep* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

class WriteGuard {
 public:
  explicit WriteGuard(Failure* f) {
    png_ = png_create_write_struct(PNG_LIBPNG_VER_STRING, f, Fail, Ignore);
    if (png_) info_ = png_create_info_struct(png_);
  }
  ~WriteGuard() { png_destroy_write_struct(&png_, info_ ? &info_ : nullptr); }
  WriteGuard(const WriteGuard&) = delete;
  WriteGuard& operator=(const WriteGuard&) = delete;
  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

void Append(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}

void Flush(png_structp) {}

bool WriteAll(png_structp png, png_infop info, const Image& image, png_bytep* rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, static_cast<png_uint_32>(image.width),
               static_cast<png_uint_32>(image.height), 8,
               image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, info);
  return true;
}

}  // namespace

Result<Image> DecodePng(std::string_view bytes, const DecodeOptions& options) {
  Failure failure{};
  ReadGuard guard(&failure);
  if (!guard.info()) return Status(StatusCode::kResourceExhausted, "PNG: out of memory");
  Source source{reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0};
  png_set_read_fn(guard.png(), &source, Read);
  png_set_user_limits(guard.png(), 1u << 20, 1u << 20);
  png_uint_32 width = 0, height = 0;
  int channels = 0;
  std::size_t row_bytes = 0;
  if (!ReadHeader(guard.png(), guard.info(), &width, &height, &channels, &row_bytes))
    return DataLoss(std::string("PNG: ") + failure.message);
  if (static_cast<std::int64_t>(width) * height > options.max_pixels) {
    return Status(StatusCode::kResourceExhausted,
                  "PNG: " + std::to_string(width) + " x " + std::to_string(height) +
                      " pixels, more than the " + std::to_string(options.max_pixels) +
                      " an image may have");
  }
  if ((channels != 1 && channels != 3) || row_bytes != static_cast<std::size_t>(width) * channels)
    return DataLoss("PNG: an unexpected pixel layout");
  Image image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
  image.channels = channels;
  image.pixels.resize(row_bytes * height);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = image.pixels.data() + y * row_bytes;
  if (!ReadRows(guard.png(), rows.data())) return DataLoss(std::string("PNG: ") + failure.message);
  return Convert(image, options.color);
}

Result<std::string> EncodePng(const Image& image) {
  if ((image.channels != 1 && image.channels != 3) || image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * image.channels)
    return InvalidArgument("PNG: not an 8-bit grey or RGB image");
  Failure failure{};
  WriteGuard guard(&failure);
  if (!guard.info()) return Status(StatusCode::kResourceExhausted, "PNG: out of memory");
  std::string out;
  png_set_write_fn(guard.png(), &out, Append, Flush);
  png_set_user_limits(guard.png(), 1u << 20, 1u << 20);  // what DecodePng reads
  std::vector<png_bytep> rows(static_cast<std::size_t>(image.height));
  const std::size_t stride = static_cast<std::size_t>(image.width) * image.channels;
  for (int y = 0; y < image.height; ++y) {
    rows[static_cast<std::size_t>(y)] =
        const_cast<png_bytep>(image.pixels.data() + static_cast<std::size_t>(y) * stride);
  }
  if (!WriteAll(guard.png(), guard.info(), image, rows.data()))
    return Internal(std::string("PNG: ") + failure.message);
  return out;
}

}  // namespace entrenar::image
