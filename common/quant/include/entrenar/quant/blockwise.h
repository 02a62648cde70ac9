#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace entrenar::quant {

// 4-bit codes of QLoRA (SPEC §6 `quant_type`): NormalFloat4 (the 16 quantiles of N(0, 1)
// normalized to [-1, 1], with an exact zero; Dettmers et al. 2023, the values bitsandbytes uses)
// or FP4 E2M1 (±{0, 0.5, 1, 1.5, 2, 3, 4, 6} / 6).
enum class Code4 { kNf4, kFp4 };

// The 16 levels of a code, ascending, in [-1, 1].
const std::array<float, 16>& Levels(Code4 code);
// The largest distance from a point of [-1, 1] to its nearest level: half the widest gap.
float MaxRoundingError(Code4 code);

// A tensor stored 4-bit: blocks of `block` values, each scaled by its absolute maximum and
// rounded to the nearest level, two codes a byte (low nibble first). With double quantization
// the per-block absmax constants are themselves stored 8-bit: their mean subtracted, then
// symmetric int8 in blocks of 256 with one float scale each (QLoRA's "double quantization").
struct Quantized4 {
  Code4 code = Code4::kNf4;
  std::int64_t count = 0;
  std::int64_t block = 64;
  std::vector<std::uint8_t> packed;  // (count + 1) / 2 bytes
  std::vector<float> absmax;         // one per block, without double quantization
  bool double_quant = false;
  float dq_mean = 0;
  std::vector<float> dq_scale;        // one per 256 blocks
  std::vector<std::int8_t> dq_codes;  // one per block
  static constexpr std::int64_t kDqBlock = 256;

  // The bytes this takes (codes plus constants), against count × 4 for float32.
  std::size_t Bytes() const;
  // The absmax of block `b` as dequantization sees it.
  float BlockScale(std::int64_t b) const;
};

Quantized4 Quantize4(const float* x, std::int64_t n, Code4 code, bool double_quant,
                     std::int64_t block = 64);
// Writes the `count` dequantized values to `out`.
void Dequantize4(const Quantized4& q, float* out);

}  // namespace entrenar::quant
