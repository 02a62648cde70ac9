// Image transforms as torchvision applies them to PIL images.
#include "entrenar/image/transform.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <tuple>

namespace entrenar::image {
namespace {

Image Blank(int height, int width, int channels) {
  Image out;
  out.height = height;
  out.width = width;
  out.channels = channels;
  out.pixels.assign(static_cast<std::size_t>(height) * width * channels, 0);
  return out;
}

std::size_t At(const Image& im, int x, int y) {
  return (static_cast<std::size_t>(y) * im.width + x) * im.channels;
}

// numpy.pad's source index for position `i` of a padded axis of `n` pixels.
int PadIndex(int i, int n, PadMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case PadMode::kEdge:
      return i < 0 ? 0 : n - 1;
    case PadMode::kReflect: {  // mirror without repeating the edge: period 2(n - 1)
      if (n == 1) return 0;
      const int period = 2 * (n - 1);
      int m = ((i % period) + period) % period;
      return m < n ? m : period - m;
    }
    case PadMode::kSymmetric: {  // mirror repeating the edge: period 2n
      const int period = 2 * n;
      const int m = ((i % period) + period) % period;
      return m < n ? m : period - 1 - m;
    }
    case PadMode::kConstant:
      break;
  }
  return -1;
}

// Pillow's resampling coefficients for one axis (precompute_coeffs with the bilinear filter,
// then normalize_coeffs_8bpc): each output pixel's first input pixel, count and weights.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coefficients {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int> weights;  // out_size x ksize, fixed point
};

Coefficients Precompute(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  Coefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.weights.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(static_cast<std::size_t>(c.ksize));
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double ww = 0;
    for (int x = 0; x < xmax; ++x) {
      double arg = (x + xmin - center + 0.5) * ss;
      if (arg < 0) arg = -arg;
      const double w = arg < 1.0 ? 1.0 - arg : 0.0;
      k[static_cast<std::size_t>(x)] = w;
      ww += w;
    }
    for (int x = 0; x < xmax; ++x) {
      double w = k[static_cast<std::size_t>(x)];
      if (ww != 0.0) w /= ww;
      const double scaled = w * (1 << kPrecisionBits);
      c.weights[static_cast<std::size_t>(xx) * c.ksize + x] =
          static_cast<int>(w < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    c.first.push_back(xmin);
    c.count.push_back(std::max(xmax, 0));
  }
  return c;
}

std::uint8_t Clip8(int v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<std::uint8_t>(v >> kPrecisionBits);
}

// Each output pixel's channels: the weighted sum of `count` input pixels from `src` (`stride`
// bytes apart), rounded and clipped as Pillow does.
template <int kChannels>
void Resample(const std::uint8_t* src, std::size_t stride, const int* k, int count,
              std::uint8_t* out) {
  int ss[kChannels];
  for (int c = 0; c < kChannels; ++c) ss[c] = 1 << (kPrecisionBits - 1);
  for (int x = 0; x < count; ++x) {
    for (int c = 0; c < kChannels; ++c) ss[c] += src[x * stride + c] * k[x];
  }
  for (int c = 0; c < kChannels; ++c) out[c] = Clip8(ss[c]);
}

Image ResampleHorizontal(const Image& in, int width) {
  const Coefficients c = Precompute(in.width, width);
  Image out = Blank(in.height, width, in.channels);
  const auto ch = static_cast<std::size_t>(in.channels);
  for (int y = 0; y < in.height; ++y) {
    const std::uint8_t* row = &in.pixels[At(in, 0, y)];
    std::uint8_t* dst = &out.pixels[At(out, 0, y)];
    for (int xx = 0; xx < width; ++xx) {
      const int* k = &c.weights[static_cast<std::size_t>(xx) * c.ksize];
      const std::uint8_t* src = row + static_cast<std::size_t>(c.first[xx]) * ch;
      if (ch == 3) {
        Resample<3>(src, 3, k, c.count[xx], dst + xx * ch);
      } else {
        Resample<1>(src, 1, k, c.count[xx], dst + xx * ch);
      }
    }
  }
  return out;
}

// Row by row: each output row is the weighted sum of whole input rows (vectorizes).
Image ResampleVertical(const Image& in, int height) {
  const Coefficients c = Precompute(in.height, height);
  Image out = Blank(height, in.width, in.channels);
  const std::size_t row = static_cast<std::size_t>(in.width) * in.channels;
  std::vector<int> acc(row);
  for (int yy = 0; yy < height; ++yy) {
    const int* k = &c.weights[static_cast<std::size_t>(yy) * c.ksize];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < c.count[yy]; ++y) {
      const std::uint8_t* src = &in.pixels[static_cast<std::size_t>(y + c.first[yy]) * row];
      const int w = k[y];
      for (std::size_t i = 0; i < row; ++i) acc[i] += src[i] * w;
    }
    std::uint8_t* dst = &out.pixels[static_cast<std::size_t>(yy) * row];
    for (std::size_t i = 0; i < row; ++i) dst[i] = Clip8(acc[i]);
  }
  return out;
}

// torchvision's Resize size: [h, w], or [side] for the shorter edge (the longer one scaled and
// truncated, as _compute_resized_output_size does).
std::pair<int, int> ResizedSize(const std::vector<int>& size, int height, int width) {
  if (size.size() == 2) return {size[0], size[1]};
  const int shorter = std::min(height, width), longer = std::max(height, width);
  const int side = size[0];
  // Truncated as Python's int() does; clamped where no image could be that large anyway.
  const double exact = static_cast<double>(std::int64_t{side} * longer) / shorter;
  const int scaled = static_cast<int>(std::min(exact, 1e9));
  return width <= height ? std::pair{scaled, side} : std::pair{side, scaled};
}

std::pair<int, int> CropSize(const std::vector<int>& size) {
  return size.size() == 2 ? std::pair{size[0], size[1]} : std::pair{size[0], size[0]};
}

// Python's int(round(x)): halves to even.
int RoundHalfEven(double x) {
  return static_cast<int>(std::nearbyint(std::clamp(x, -1e9, 1e9)));  // NaN: not in a box
}

// RandomResizedCrop.get_params' fallback: the whole image, narrowed to the nearest allowed aspect.
Draw CentralBox(const Transform& t, int height, int width) {
  Draw d;
  const double in_ratio = static_cast<double>(width) / height;
  d.width = width;
  d.height = height;
  if (in_ratio < t.ratio_min) {
    d.height = std::clamp(RoundHalfEven(width / t.ratio_min), 1, height);
  } else if (in_ratio > t.ratio_max) {
    d.width = std::clamp(RoundHalfEven(height * t.ratio_max), 1, width);
  }
  d.top = (height - d.height) / 2;
  d.left = (width - d.width) / 2;
  return d;
}

// RandomResizedCrop.get_params: up to 10 boxes of a uniform area fraction and a log-uniform
// aspect, the first that fits; else the central box.
Draw ResizedCropBox(const Transform& t, int height, int width, std::mt19937_64& rng) {
  const double area = static_cast<double>(height) * width;
  const double log_min = std::log(t.ratio_min), log_max = std::log(t.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * (t.scale_min + (t.scale_max - t.scale_min) * DrawUnit(rng));
    const double aspect = std::exp(log_min + (log_max - log_min) * DrawUnit(rng));
    const int w = RoundHalfEven(std::sqrt(target * aspect));
    const int h = RoundHalfEven(std::sqrt(target / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      Draw d;
      d.height = h;
      d.width = w;
      d.top = static_cast<int>(DrawBelow(rng, static_cast<std::uint64_t>(height - h + 1)));
      d.left = static_cast<int>(DrawBelow(rng, static_cast<std::uint64_t>(width - w + 1)));
      return d;
    }
  }
  return CentralBox(t, height, width);
}

// What a step may make: as many pixels as a decoded image may have.
constexpr std::int64_t kMaxPixels = std::int64_t{1} << 26;

Status CheckPixels(const char* step, std::int64_t height, std::int64_t width) {
  if (height * width <= kMaxPixels) return OkStatus();
  return InvalidArgument(std::string(step) + " would make an image of " + std::to_string(width) +
                         " x " + std::to_string(height) + " pixels, past the " +
                         std::to_string(kMaxPixels) + " allowed");
}

// Pillow's ImagingBlend: in1 + alpha (in2 - in1) in single precision, truncated (clipped to
// 0..255 when alpha is outside [0, 1]).
Image Blend(const Image& in1, const Image& in2, double factor) {
  const auto alpha = static_cast<float>(factor);
  Image out = in2;
  for (std::size_t i = 0; i < out.pixels.size(); ++i) {
    const int a = in1.pixels[i], b = in2.pixels[i];
    const float t = static_cast<float>(a) + alpha * static_cast<float>(b - a);
    out.pixels[i] = t <= 0.0F ? 0 : t >= 255.0F ? 255 : static_cast<std::uint8_t>(t);
  }
  return out;
}

// Pillow's rgb2hsv for one pixel (Convert.c).
void RgbToHsv(const std::uint8_t* in, std::uint8_t* out) {
  const int r = in[0], g = in[1], b = in[2];
  const int maxc = std::max(r, std::max(g, b)), minc = std::min(r, std::min(g, b));
  out[2] = static_cast<std::uint8_t>(maxc);
  if (minc == maxc) {
    out[0] = out[1] = 0;
    return;
  }
  const auto cr = static_cast<float>(maxc - minc);
  const float s = cr / static_cast<float>(maxc);
  const float rc = static_cast<float>(maxc - r) / cr;
  const float gc = static_cast<float>(maxc - g) / cr;
  const float bc = static_cast<float>(maxc - b) / cr;
  float h = 0;
  if (r == maxc) {
    h = bc - gc;
  } else if (g == maxc) {
    h = static_cast<float>(2.0 + rc - bc);
  } else {
    h = static_cast<float>(4.0 + gc - rc);
  }
  h = static_cast<float>(std::fmod(h / 6.0 + 1.0, 1.0));
  out[0] = static_cast<std::uint8_t>(std::clamp(static_cast<int>(h * 255.0), 0, 255));
  out[1] = static_cast<std::uint8_t>(std::clamp(static_cast<int>(s * 255.0), 0, 255));
}

// Pillow's hsv2rgb for one pixel (Convert.c).
void HsvToRgb(const std::uint8_t* in, std::uint8_t* out) {
  const int h = in[0], s = in[1], v = in[2];
  if (s == 0) {
    out[0] = out[1] = out[2] = static_cast<std::uint8_t>(v);
    return;
  }
  const int i = static_cast<int>(std::floor(static_cast<float>(h) * 6.0 / 255.0));
  const auto f = static_cast<float>(static_cast<float>(h) * 6.0 / 255.0 - static_cast<float>(i));
  const auto fs = static_cast<float>(static_cast<float>(s) / 255.0);
  const auto clip = [](double x) {
    return static_cast<std::uint8_t>(std::clamp(static_cast<int>(std::round(x)), 0, 255));
  };
  const std::uint8_t p = clip(static_cast<float>(v) * (1.0 - fs));
  const std::uint8_t q = clip(static_cast<float>(v) * (1.0 - fs * f));
  const std::uint8_t t = clip(static_cast<float>(v) * (1.0 - fs * (1.0 - f)));
  const auto uv = static_cast<std::uint8_t>(v);
  const std::uint8_t rgb[6][3] = {{uv, t, p}, {q, uv, p}, {p, uv, t},
                                  {p, q, uv}, {t, p, uv}, {uv, p, q}};
  std::copy_n(rgb[i % 6], 3, out);
}

}  // namespace

Image AdjustBrightness(const Image& image, double factor) {
  Image black = image;
  std::fill(black.pixels.begin(), black.pixels.end(), 0);
  return Blend(black, image, factor);
}

Image AdjustContrast(const Image& image, double factor) {
  const Image grey = Convert(image, ColorMode::kGrey);
  double sum = 0;
  for (const std::uint8_t v : grey.pixels) sum += v;
  const int mean = static_cast<int>(sum / static_cast<double>(grey.pixels.size()) + 0.5);
  Image flat = image;
  std::fill(flat.pixels.begin(), flat.pixels.end(), static_cast<std::uint8_t>(mean));
  return Blend(flat, image, factor);
}

Image AdjustSaturation(const Image& image, double factor) {
  if (image.channels == 1) return image;
  return Blend(Convert(Convert(image, ColorMode::kGrey), ColorMode::kRgb), image, factor);
}

Image AdjustHue(const Image& image, double factor) {
  if (image.channels == 1) return image;
  // numpy's np.uint8(hue_factor * 255): truncated, then modulo 256.
  const auto shift = static_cast<std::uint8_t>(static_cast<int>(factor * 255) & 0xff);
  Image out = image;
  for (std::size_t i = 0; i < out.pixels.size(); i += 3) {
    std::uint8_t hsv[3];
    RgbToHsv(&image.pixels[i], hsv);
    hsv[0] = static_cast<std::uint8_t>(hsv[0] + shift);
    HsvToRgb(hsv, &out.pixels[i]);
  }
  return out;
}

namespace {

// ColorJitter.get_params, then its adjustments in the drawn order (a step of 0 is left out).
Image ColorJitter(const Transform& t, Image image, std::mt19937_64& rng, Draw* draw) {
  for (int i = 0; i < 4; ++i) draw->order[static_cast<std::size_t>(i)] = i;
  for (std::size_t i = 4; i > 1; --i) {
    std::swap(draw->order[i - 1], draw->order[DrawBelow(rng, i)]);
  }
  const double amounts[4] = {t.brightness, t.contrast, t.saturation, t.hue};
  for (std::size_t k = 0; k < 4; ++k) {
    const double a = amounts[k];
    const double lo = k == 3 ? -a : std::max(0.0, 1 - a), hi = k == 3 ? a : 1 + a;
    draw->factors[k] = a > 0 ? lo + (hi - lo) * DrawUnit(rng) : std::nan("");
  }
  for (const int k : draw->order) {
    const double f = draw->factors[static_cast<std::size_t>(k)];
    if (std::isnan(f)) continue;
    image = k == 0   ? AdjustBrightness(image, f)
            : k == 1 ? AdjustContrast(image, f)
            : k == 2 ? AdjustSaturation(image, f)
                     : AdjustHue(image, f);
  }
  return image;
}

constexpr double kPi = 3.14159265358979323846;  // CPython's Py_MATH_PI

// Python's round(x, 15): x correctly rounded to 15 decimals (glibc's printf rounds exactly, as
// CPython's dtoa does), read back.
double RoundTo15(double x) {
  char text[64];
  std::snprintf(text, sizeof text, "%.15f", x);
  return std::strtod(text, nullptr);
}

// Pillow's transposes (Geometry.c): 180 degrees, and 90 / 270 of a square image.
Image Rotate180(const Image& in) { return FlipVertical(FlipHorizontal(in)); }
Image RotateQuarter(const Image& in, bool counter_clockwise) {
  Image out = Blank(in.width, in.height, in.channels);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      const int sx = counter_clockwise ? in.width - 1 - y : y;
      const int sy = counter_clockwise ? x : in.height - 1 - x;
      std::copy_n(&in.pixels[At(in, sx, sy)], in.channels, &out.pixels[At(out, x, y)]);
    }
  }
  return out;
}

// Pillow's ImagingTransformAffine with NEAREST (Geometry.c): output pixel (x, y) takes the input
// pixel under (a0 u + a1 v + a2, a3 u + a4 v + a5), u = x + 0.5, v = y + 0.5, truncated; in 16.16
// fixed point when the corners fit in it, else in doubles. Pixels from outside keep `fill`.
Image Affine(const Image& in, const std::array<double, 6>& a, std::uint8_t fill) {
  Image out = Blank(in.height, in.width, in.channels);
  std::fill(out.pixels.begin(), out.pixels.end(), fill);
  const auto take = [&](int x, int y, int sx, int sy) {
    if (sx >= 0 && sx < in.width && sy >= 0 && sy < in.height)
      std::copy_n(&in.pixels[At(in, sx, sy)], in.channels, &out.pixels[At(out, x, y)]);
  };
  const auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };
  const int w = out.width, h = out.height;
  if (a[1] == 0 && a[3] == 0) {  // ImagingScaleAffine
    double yo = a[5] + a[4] * 0.5;
    for (int y = 0; y < h; ++y, yo += a[4]) {
      double xo = a[2] + a[0] * 0.5;
      for (int x = 0; x < w; ++x, xo += a[0]) take(x, y, coord(xo), coord(yo));
    }
    return out;
  }
  const auto fits = [&](double x, double y) {
    return std::fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 &&
           std::fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
  };
  if (fits(0, 0) && fits(w, h) && fits(0, h) && fits(w, 0)) {  // affine_fixed
    const auto fix = [](double v) {
      v = v * 65536.0 + 0.5;
      return v < 0.0 ? static_cast<int>(std::floor(v)) : static_cast<int>(v);
    };
    const int a0 = fix(a[0]), a1 = fix(a[1]), a3 = fix(a[3]), a4 = fix(a[4]);
    int a2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (int y = 0; y < h; ++y, a2 += a1, a5 += a4) {
      int xx = a2, yy = a5;
      for (int x = 0; x < w; ++x, xx += a0, yy += a3) take(x, y, xx >> 16, yy >> 16);
    }
    return out;
  }
  double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (int y = 0; y < h; ++y, xo += a[1], yo += a[4]) {
    double xx = xo, yy = yo;
    for (int x = 0; x < w; ++x, xx += a[0], yy += a[3]) take(x, y, coord(xx), coord(yy));
  }
  return out;
}

}  // namespace

Image Pad(const Image& image, int left, int top, int right, int bottom, PadMode mode) {
  Image out = Blank(image.height + top + bottom, image.width + left + right, image.channels);
  for (int y = 0; y < out.height; ++y) {
    const int sy = PadIndex(y - top, image.height, mode);
    for (int x = 0; x < out.width; ++x) {
      const int sx = PadIndex(x - left, image.width, mode);
      if (sx < 0 || sy < 0) continue;  // constant: 0
      std::copy_n(&image.pixels[At(image, sx, sy)], image.channels, &out.pixels[At(out, x, y)]);
    }
  }
  return out;
}

Image Crop(const Image& image, int top, int left, int height, int width) {
  Image out = Blank(height, width, image.channels);
  for (int y = 0; y < height; ++y) {
    const int sy = top + y;
    if (sy < 0 || sy >= image.height) continue;
    for (int x = 0; x < width; ++x) {
      const int sx = left + x;
      if (sx < 0 || sx >= image.width) continue;
      std::copy_n(&image.pixels[At(image, sx, sy)], image.channels, &out.pixels[At(out, x, y)]);
    }
  }
  return out;
}

Image FlipHorizontal(const Image& image) {
  Image out = image;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      std::copy_n(&image.pixels[At(image, image.width - 1 - x, y)], image.channels,
                  &out.pixels[At(out, x, y)]);
    }
  }
  return out;
}

Image FlipVertical(const Image& image) {
  Image out = image;
  const std::size_t row = static_cast<std::size_t>(image.width) * image.channels;
  for (int y = 0; y < image.height; ++y) {
    std::copy_n(&image.pixels[(image.height - 1 - y) * row], row, &out.pixels[y * row]);
  }
  return out;
}

Image Resize(const Image& image, int height, int width) {
  if (height == image.height && width == image.width) return image;
  Image out = image;
  if (width != image.width) out = ResampleHorizontal(out, width);
  if (height != image.height) out = ResampleVertical(out, height);
  return out;
}

Image CenterCrop(const Image& image, int height, int width) {
  Image in = image;
  if (width > in.width || height > in.height) {
    const int dw = std::max(width - in.width, 0), dh = std::max(height - in.height, 0);
    in = Pad(in, dw / 2, dh / 2, (dw + 1) / 2, (dh + 1) / 2, PadMode::kConstant);
    if (in.width == width && in.height == height) return in;
  }
  // Python's round(): halves to even, as nearbyint in the default rounding mode.
  const int top = static_cast<int>(std::nearbyint((in.height - height) / 2.0));
  const int left = static_cast<int>(std::nearbyint((in.width - width) / 2.0));
  return Crop(in, top, left, height, width);
}

Image Rotate(const Image& image, double degrees, std::uint8_t fill) {
  // Pillow's Image.rotate: the angle modulo 360 as Python's % takes it, the fast paths, then the
  // inverse mapping about the centre with the matrix's entries rounded to 15 decimals.
  double angle = std::fmod(degrees, 360.0);
  if (angle < 0) angle += 360.0;
  if (angle == 0) return image;
  if (angle == 180) return Rotate180(image);
  if ((angle == 90 || angle == 270) && image.width == image.height)
    return RotateQuarter(image, angle == 90);
  const double cx = image.width / 2.0, cy = image.height / 2.0;
  const double radians = -(angle * (kPi / 180.0));
  const double c = RoundTo15(std::cos(radians)), s = RoundTo15(std::sin(radians));
  std::array<double, 6> a = {c, s, 0.0, RoundTo15(-std::sin(radians)), c, 0.0};
  const double tx = a[0] * -cx + a[1] * -cy + a[2], ty = a[3] * -cx + a[4] * -cy + a[5];
  a[2] = tx + cx;
  a[5] = ty + cy;
  return Affine(image, a, fill);
}

Result<Image> ApplyTransforms(const std::vector<Transform>& transforms, Image image,
                              std::mt19937_64* rng, std::vector<Draw>* draws) {
  using Kind = Transform::Kind;
  for (const Transform& t : transforms) {
    // Without a generator: a random crop is a centre crop of its size (validation images come
    // out as large as training ones), flips are skipped.
    if (t.kind == Kind::kRandomCrop && !rng) {
      const auto [h, w] = CropSize(t.size);
      ENTRENAR_RETURN_IF_ERROR(CheckPixels("random_crop", h, w));
      image = CenterCrop(image, h, w);
      continue;
    }
    if (t.kind == Kind::kRandomResizedCrop) {
      const auto [h, w] = CropSize(t.size);
      ENTRENAR_RETURN_IF_ERROR(CheckPixels("random_resized_crop", h, w));
      const Draw box = rng ? ResizedCropBox(t, image.height, image.width, *rng)
                           : CentralBox(t, image.height, image.width);
      ENTRENAR_RETURN_IF_ERROR(CheckPixels("random_resized_crop", box.height, w));
      image = Resize(Crop(image, box.top, box.left, box.height, box.width), h, w);
      if (rng && draws) draws->push_back(box);
      continue;
    }
    if (t.Random() && !rng) continue;
    Draw draw;
    switch (t.kind) {
      case Kind::kResize: {
        const auto [h, w] = ResizedSize(t.size, image.height, image.width);
        ENTRENAR_RETURN_IF_ERROR(CheckPixels("resize", h, w));
        ENTRENAR_RETURN_IF_ERROR(CheckPixels("resize", image.height, w));  // the first pass
        image = Resize(image, h, w);
        break;
      }
      case Kind::kCenterCrop: {
        const auto [h, w] = CropSize(t.size);
        ENTRENAR_RETURN_IF_ERROR(CheckPixels("center_crop", h, w));
        image = CenterCrop(image, h, w);
        break;
      }
      case Kind::kRandomCrop: {
        const auto [h, w] = CropSize(t.size);
        ENTRENAR_RETURN_IF_ERROR(CheckPixels("random_crop's padding",
                                             std::int64_t{image.height} + 2 * t.padding,
                                             std::int64_t{image.width} + 2 * t.padding));
        if (t.padding > 0)
          image = Pad(image, t.padding, t.padding, t.padding, t.padding, t.pad_mode);
        if (image.height < h || image.width < w) {
          return InvalidArgument("random_crop: the image is " + std::to_string(image.width) +
                                 " x " + std::to_string(image.height) +
                                 (t.padding > 0 ? " after padding" : "") +
                                 ", smaller than the crop's " + std::to_string(w) + " x " +
                                 std::to_string(h) + " (resize it first)");
        }
        draw.top =
            static_cast<int>(DrawBelow(*rng, static_cast<std::uint64_t>(image.height - h + 1)));
        draw.left =
            static_cast<int>(DrawBelow(*rng, static_cast<std::uint64_t>(image.width - w + 1)));
        image = Crop(image, draw.top, draw.left, h, w);
        break;
      }
      case Kind::kRandomResizedCrop:  // above
        break;
      case Kind::kColorJitter:
        image = ColorJitter(t, std::move(image), *rng, &draw);
        break;
      case Kind::kRotation:
        draw.angle = -t.degrees + 2 * t.degrees * DrawUnit(*rng);
        image = Rotate(image, draw.angle, t.fill);
        break;
      case Kind::kHorizontalFlip:
      case Kind::kVerticalFlip:
        draw.flip = DrawUnit(*rng) < t.probability;
        if (draw.flip) {
          image = t.kind == Kind::kHorizontalFlip ? FlipHorizontal(image) : FlipVertical(image);
        }
        break;
    }
    if (t.Random() && draws) draws->push_back(draw);
  }
  return image;
}

std::pair<int, int> TransformedSize(const std::vector<Transform>& transforms, int height, int width,
                                    bool random) {
  for (const Transform& t : transforms) {
    // Crops keep their size without a generator (a centre crop, a central box resized).
    const bool crop =
        t.kind == Transform::Kind::kRandomCrop || t.kind == Transform::Kind::kRandomResizedCrop;
    if (t.Random() && !random && !crop) continue;
    if (t.kind == Transform::Kind::kResize) {
      std::tie(height, width) = ResizedSize(t.size, height, width);
    } else if (t.kind == Transform::Kind::kCenterCrop || crop) {
      std::tie(height, width) = CropSize(t.size);
    }
  }
  return {height, width};
}

}  // namespace entrenar::image
