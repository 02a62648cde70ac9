// Blockwise 4-bit quantization (NF4 / FP4) with optional double quantization of the constants.
#include "entrenar/quant/blockwise.h"

#include <algorithm>
#include <cmath>

namespace entrenar::quant {
namespace {

constexpr std::array<float, 16> kNf4 = {-1.0f,
                                        -0.6961928009986877f,
                                        -0.5250730514526367f,
                                        -0.39491748809814453f,
                                        -0.28444138169288635f,
                                        -0.18477343022823334f,
                                        -0.09105003625154495f,
                                        0.0f,
                                        0.07958029955625534f,
                                        0.16093020141124725f,
                                        0.24611230194568634f,
                                        0.33791524171829224f,
                                        0.44070982933044434f,
                                        0.5626170039176941f,
                                        0.7229568362236023f,
                                        1.0f};

constexpr std::array<float, 16> kFp4 = {
    -1.0f, -4.0f / 6, -3.0f / 6, -2.0f / 6, -1.5f / 6, -1.0f / 6, -0.5f / 6, -0.0f,
    0.0f,  0.5f / 6,  1.0f / 6,  1.5f / 6,  2.0f / 6,  3.0f / 6,  4.0f / 6,  1.0f};

// The index of the level nearest `v` (levels ascending).
std::uint8_t Nearest(const std::array<float, 16>& levels, float v) {
  const auto it = std::lower_bound(levels.begin(), levels.end(), v);
  if (it == levels.begin()) return 0;
  if (it == levels.end()) return 15;
  const auto hi = static_cast<std::uint8_t>(it - levels.begin());
  return v - levels[hi - 1] <= levels[hi] - v ? static_cast<std::uint8_t>(hi - 1) : hi;
}

void DoubleQuantize(Quantized4* q, const std::vector<float>& absmax) {
  double sum = 0;
  for (float a : absmax) sum += a;
  q->dq_mean = absmax.empty() ? 0 : static_cast<float>(sum / static_cast<double>(absmax.size()));
  for (std::size_t start = 0; start < absmax.size(); start += Quantized4::kDqBlock) {
    const std::size_t end = std::min(absmax.size(), start + Quantized4::kDqBlock);
    float amax = 0;
    for (std::size_t i = start; i < end; ++i)
      amax = std::max(amax, std::fabs(absmax[i] - q->dq_mean));
    const float scale = amax / 127;
    q->dq_scale.push_back(scale);
    for (std::size_t i = start; i < end; ++i) {
      const float v = scale > 0 ? (absmax[i] - q->dq_mean) / scale : 0;
      q->dq_codes.push_back(static_cast<std::int8_t>(std::lround(std::clamp(v, -127.0f, 127.0f))));
    }
  }
}

}  // namespace

const std::array<float, 16>& Levels(Code4 code) { return code == Code4::kNf4 ? kNf4 : kFp4; }

float MaxRoundingError(Code4 code) {
  const auto& l = Levels(code);
  float gap = 0;
  for (std::size_t i = 1; i < l.size(); ++i) gap = std::max(gap, l[i] - l[i - 1]);
  return gap / 2;
}

std::size_t Quantized4::Bytes() const {
  return packed.size() + absmax.size() * 4 + dq_scale.size() * 4 + dq_codes.size() +
         (double_quant ? 4 : 0);
}

float Quantized4::BlockScale(std::int64_t b) const {
  if (!double_quant) return absmax[static_cast<std::size_t>(b)];
  return dq_mean + dq_scale[static_cast<std::size_t>(b / kDqBlock)] *
                       static_cast<float>(dq_codes[static_cast<std::size_t>(b)]);
}

Quantized4 Quantize4(const float* x, std::int64_t n, Code4 code, bool double_quant,
                     std::int64_t block) {
  Quantized4 q;
  q.code = code;
  q.count = n;
  q.block = std::max<std::int64_t>(block, 1);
  q.double_quant = double_quant;
  q.packed.assign(static_cast<std::size_t>((n + 1) / 2), 0);
  const std::int64_t blocks = (n + q.block - 1) / q.block;
  std::vector<float> absmax(static_cast<std::size_t>(blocks));
  for (std::int64_t b = 0; b < blocks; ++b) {
    const std::int64_t end = std::min(n, (b + 1) * q.block);
    float amax = 0;
    for (std::int64_t i = b * q.block; i < end; ++i) amax = std::max(amax, std::fabs(x[i]));
    absmax[static_cast<std::size_t>(b)] = amax;
  }
  if (double_quant) {
    DoubleQuantize(&q, absmax);
  } else {
    q.absmax = absmax;
  }
  const auto& levels = Levels(code);
  for (std::int64_t b = 0; b < blocks; ++b) {
    // Round against the scale dequantization will use, so double quantization's error in the
    // constant is partly absorbed by the choice of code.
    const float scale = q.BlockScale(b);
    const float inverse = scale > 0 ? 1 / scale : 0;
    const std::int64_t end = std::min(n, (b + 1) * q.block);
    for (std::int64_t i = b * q.block; i < end; ++i) {
      const std::uint8_t c = Nearest(levels, x[i] * inverse);
      q.packed[static_cast<std::size_t>(i / 2)] |= static_cast<std::uint8_t>(i % 2 ? c << 4 : c);
    }
  }
  return q;
}

void Dequantize4(const Quantized4& q, float* out) {
  const auto& levels = Levels(q.code);
  const std::int64_t blocks = (q.count + q.block - 1) / q.block;
  for (std::int64_t b = 0; b < blocks; ++b) {
    const float scale = q.BlockScale(b);
    const std::int64_t end = std::min(q.count, (b + 1) * q.block);
    for (std::int64_t i = b * q.block; i < end; ++i) {
      const std::uint8_t byte = q.packed[static_cast<std::size_t>(i / 2)];
      out[i] = levels[i % 2 ? byte >> 4 : byte & 0x0f] * scale;
    }
  }
}

}  // namespace entrenar::quant
