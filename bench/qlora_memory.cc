// What QLoRA's 4-bit storage does to a model's base weights: the linear weights of a
// LLaMA-style model (default: 8 layers, hidden 512, MLP 1376, vocabulary 32000: about 42M
// parameters, N(0, 0.02)) stored as float32, bfloat16, NF4 and NF4 with double quantization;
// bytes, the ratio to float32, the round-trip error against the NF4 grid's bound, and how fast
// weights quantize and dequantize.
//   build/bin/bench_qlora_memory [LAYERS] [HIDDEN]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "entrenar/quant/blockwise.h"

namespace {

using entrenar::quant::Code4;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::int64_t layers = argc > 1 ? std::atoll(argv[1]) : 8;
  const std::int64_t hidden = argc > 2 ? std::atoll(argv[2]) : 512;
  const std::int64_t mlp = hidden * 43 / 16, vocab = 32000;
  // q, k, v, o, gate, up, down per layer, and the output head.
  const std::int64_t n = layers * (4 * hidden * hidden + 3 * hidden * mlp) + vocab * hidden;
  std::vector<float> w(static_cast<std::size_t>(n));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  for (float& x : w) x = dist(rng);
  std::printf("base linear weights: %lld (%lld layers, hidden %lld, MLP %lld, vocabulary %lld)\n",
              static_cast<long long>(n), static_cast<long long>(layers),
              static_cast<long long>(hidden), static_cast<long long>(mlp),
              static_cast<long long>(vocab));
  const double fp32 = 4.0 * static_cast<double>(n), mib = 1 << 20;
  std::printf("  %-22s %9.1f MiB  %.3f of float32\n", "float32", fp32 / mib, 1.0);
  std::printf("  %-22s %9.1f MiB  %.3f of float32\n", "bfloat16", fp32 / 2 / mib, 0.5);
  std::vector<float> back(w.size());
  for (const bool dq : {false, true}) {
    const auto t0 = Clock::now();
    const entrenar::quant::Quantized4 q = entrenar::quant::Quantize4(w.data(), n, Code4::kNf4, dq);
    const double quantize = Seconds(t0);
    const auto t1 = Clock::now();
    entrenar::quant::Dequantize4(q, back.data());
    const double dequantize = Seconds(t1);
    double worst = 0, sq = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      const double bound =
          q.BlockScale(i / q.block) * entrenar::quant::MaxRoundingError(Code4::kNf4);
      const double e =
          std::fabs(back[static_cast<std::size_t>(i)] - w[static_cast<std::size_t>(i)]);
      worst = std::max(worst, bound > 0 ? e / bound : 0);
      sq += e * e;
    }
    std::printf(
        "  %-22s %9.1f MiB  %.3f of float32 (goal <= 0.3), RMS error %.2e, worst %.2f of "
        "the grid bound; quantize %.0f MB/s, dequantize %.0f MB/s\n",
        dq ? "NF4 + double quant" : "NF4 (block 64)", static_cast<double>(q.Bytes()) / mib,
        static_cast<double>(q.Bytes()) / fp32, std::sqrt(sq / static_cast<double>(n)), worst,
        fp32 / 1e6 / quantize, fp32 / 1e6 / dequantize);
  }
  return 0;
}
