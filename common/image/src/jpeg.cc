// JPEG through libjpeg-turbo. libjpeg reports errors by longjmp: every libjpeg call that can fail
// runs in a phase function whose locals are all trivial, and the caller's guard frees the struct.
#include <setjmp.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

// jpeglib.h needs FILE and size_t declared first.
#include <jerror.h>
#include <jpeglib.h>

#include "entrenar/image/image.h"

namespace entrenar::image {
namespace {

struct Errors {
  jpeg_error_mgr mgr;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void Exit(j_common_ptr c) {
  auto* e = reinterpret_cast<Errors*>(c->err);
  (*c->err->format_message)(c, e->message);
  longjmp(e->jump, 1);
}

// Warnings are not printed; the one that matters (the data ends early: libjpeg fills the rest
// with grey) makes the image damaged, as Pillow finds it truncated.
void Emit(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF)
    reinterpret_cast<Errors*>(c->err)->truncated = true;
}

class Guard {
 public:
  Guard() { std::memset(&info_, 0, sizeof info_); }
  ~Guard() {
    if (created_) jpeg_destroy_decompress(&info_);
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  jpeg_decompress_struct* info() { return &info_; }
  bool created_ = false;

 private:
  jpeg_decompress_struct info_;
};

// The header; the output colour space (CMYK stays CMYK: converted as Pillow converts it).
bool Start(jpeg_decompress_struct* info, Errors* errors, const unsigned char* data,
           std::size_t size, bool grey, bool* created, std::int64_t max_pixels, bool* too_big) {
  if (setjmp(errors->jump)) return false;
  jpeg_create_decompress(info);
  *created = true;
  jpeg_mem_src(info, data, static_cast<unsigned long>(size));
  jpeg_save_markers(info, JPEG_APP0 + 1, 0xffff);
  jpeg_read_header(info, TRUE);
  if (static_cast<std::int64_t>(info->image_width) * info->image_height > max_pixels) {
    *too_big = true;
    return true;
  }
  const J_COLOR_SPACE in = info->jpeg_color_space;
  if (in == JCS_CMYK || in == JCS_YCCK) {
    info->out_color_space = JCS_CMYK;
  } else if (grey && in == JCS_GRAYSCALE) {
    info->out_color_space = JCS_GRAYSCALE;
  } else {
    info->out_color_space = JCS_RGB;
  }
  info->mem->max_memory_to_use = 1l << 30;
  jpeg_start_decompress(info);
  return true;
}

bool Rows(jpeg_decompress_struct* info, Errors* errors, unsigned char* out, std::size_t stride) {
  if (setjmp(errors->jump)) return false;
  while (info->output_scanline < info->output_height) {
    JSAMPROW row = out + info->output_scanline * stride;
    if (jpeg_read_scanlines(info, &row, 1) != 1) break;
  }
  jpeg_finish_decompress(info);
  return true;
}

// Pillow reads a CMYK JPEG as Adobe-inverted ("CMYK;I") and converts it to RGB as
// nk - nk * c / 255 with nk = 255 - k (Convert.c's cmyk2rgb, its rounding).
Image FromCmyk(const std::vector<std::uint8_t>& cmyk, int width, int height) {
  Image out;
  out.width = width;
  out.height = height;
  out.channels = 3;
  out.pixels.resize(static_cast<std::size_t>(width) * height * 3);
  for (std::size_t i = 0, n = static_cast<std::size_t>(width) * height; i < n; ++i) {
    const int k = 255 - cmyk[4 * i + 3];
    const int nk = 255 - k;
    for (int c = 0; c < 3; ++c) {
      const int v = 255 - cmyk[4 * i + c];
      const int tmp = v * nk + 128;
      const int scaled = ((tmp >> 8) + tmp) >> 8;
      out.pixels[3 * i + c] = static_cast<std::uint8_t>(std::max(0, std::min(255, nk - scaled)));
    }
  }
  return out;
}

}  // namespace

Result<Image> DecodeJpeg(std::string_view bytes, const DecodeOptions& options) {
  Errors errors{};  // outlives the struct that points to it
  Guard guard;
  guard.info()->err = jpeg_std_error(&errors.mgr);
  errors.mgr.error_exit = Exit;
  errors.mgr.emit_message = Emit;
  bool too_big = false;
  if (!Start(guard.info(), &errors, reinterpret_cast<const unsigned char*>(bytes.data()),
             bytes.size(), options.color == ColorMode::kGrey, &guard.created_, options.max_pixels,
             &too_big)) {
    return DataLoss(std::string("JPEG: ") + errors.message);
  }
  jpeg_decompress_struct* info = guard.info();
  if (too_big) {
    return Status(StatusCode::kResourceExhausted,
                  "JPEG: " + std::to_string(info->image_width) + " x " +
                      std::to_string(info->image_height) + " pixels, more than the " +
                      std::to_string(options.max_pixels) + " an image may have");
  }
  const int width = static_cast<int>(info->output_width);
  const int height = static_cast<int>(info->output_height);
  const int components = info->output_components;
  if (components != 1 && components != 3 && components != 4)
    return DataLoss("JPEG: an unexpected pixel layout");
  // The saved markers live in the image's memory pool, which finishing the decode frees.
  std::string app1;
  for (jpeg_saved_marker_ptr m = info->marker_list; m; m = m->next) {
    // The first APP1 that is EXIF (an XMP one may come before it), as Pillow takes it.
    const std::string_view data(reinterpret_cast<const char*>(m->data), m->data_length);
    if (m->marker == JPEG_APP0 + 1 && app1.empty() &&
        data.substr(0, 6) == std::string_view("Exif\0\0", 6))
      app1 = data;
  }
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width) * height * components);
  if (!Rows(info, &errors, pixels.data(), static_cast<std::size_t>(width) * components))
    return DataLoss(std::string("JPEG: ") + errors.message);
  if (errors.truncated || info->output_scanline < info->output_height)
    return DataLoss("JPEG: the file ends early (truncated)");
  Image image;
  if (components == 4) {
    image = FromCmyk(pixels, width, height);
  } else {
    image.width = width;
    image.height = height;
    image.channels = components;
    image.pixels = std::move(pixels);
  }
  if (options.apply_orientation) image = Orient(image, ExifOrientation(app1));
  return Convert(image, options.color);
}

}  // namespace entrenar::image
