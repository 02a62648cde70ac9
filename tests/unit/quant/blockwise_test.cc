#include "entrenar/quant/blockwise.h"

#include <cmath>
#include <random>

#include <catch2/catch.hpp>

namespace entrenar::quant {
namespace {

std::vector<float> Gaussian(std::size_t n, unsigned seed, float sd = 0.02f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, sd);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> RoundTrip(const std::vector<float>& x, Code4 code, bool dq, Quantized4* q) {
  *q = Quantize4(x.data(), static_cast<std::int64_t>(x.size()), code, dq);
  std::vector<float> back(x.size());
  Dequantize4(*q, back.data());
  return back;
}

TEST_CASE("NF4 and FP4 levels", "[unit][quant]") {
  const auto& nf4 = Levels(Code4::kNf4);
  CHECK(nf4.front() == -1.0f);
  CHECK(nf4.back() == 1.0f);
  CHECK(nf4[7] == 0.0f);  // an exact zero
  CHECK(std::is_sorted(nf4.begin(), nf4.end()));
  CHECK(MaxRoundingError(Code4::kNf4) == Approx((1 - 0.6961928009986877) / 2));
  const auto& fp4 = Levels(Code4::kFp4);
  CHECK(std::is_sorted(fp4.begin(), fp4.end()));
  CHECK(fp4[14] == Approx(4.0 / 6));
  CHECK(MaxRoundingError(Code4::kFp4) == Approx((1 - 4.0 / 6) / 2));
}

TEST_CASE("4-bit round trips stay within the grid's bound, block by block", "[unit][quant]") {
  const std::vector<float> x = Gaussian(64 * 1000 + 37, 11);  // a partial last block, odd count
  for (Code4 code : {Code4::kNf4, Code4::kFp4}) {
    Quantized4 q;
    const std::vector<float> back = RoundTrip(x, code, false, &q);
    CHECK(q.packed.size() == (x.size() + 1) / 2);
    CHECK(q.absmax.size() == 1001);
    for (std::size_t i = 0; i < x.size(); ++i) {
      const float absmax = q.absmax[i / 64];
      REQUIRE(std::fabs(back[i] - x[i]) <= absmax * MaxRoundingError(code) * (1 + 1e-6f));
    }
  }
}

TEST_CASE("double quantization keeps the bound with the constants' own error", "[unit][quant]") {
  const std::vector<float> x = Gaussian(64 * 2048, 12);
  Quantized4 plain, dq;
  RoundTrip(x, Code4::kNf4, false, &plain);
  const std::vector<float> back = RoundTrip(x, Code4::kNf4, true, &dq);
  CHECK(dq.absmax.empty());
  CHECK(dq.dq_codes.size() == 2048);
  CHECK(dq.dq_scale.size() == 8);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::int64_t b = static_cast<std::int64_t>(i / 64);
    const float scale = dq.BlockScale(b), absmax = plain.absmax[static_cast<std::size_t>(b)];
    // The stored constant is within half an int8 step of the true absmax.
    REQUIRE(std::fabs(scale - absmax) <=
            dq.dq_scale[static_cast<std::size_t>(b / 256)] / 2 * 1.0001f);
    const float bound = std::max(scale * MaxRoundingError(Code4::kNf4), absmax - scale);
    REQUIRE(std::fabs(back[i] - x[i]) <= bound * (1 + 1e-5f) + 1e-9f);
  }
}

TEST_CASE("4-bit storage takes under 0.3 of float32, NF4 fits normal weights better than FP4",
          "[unit][quant]") {
  const std::vector<float> x = Gaussian(64 * 4096, 13);
  Quantized4 nf4, nf4_dq, fp4;
  const auto a = RoundTrip(x, Code4::kNf4, false, &nf4);
  RoundTrip(x, Code4::kNf4, true, &nf4_dq);
  const auto c = RoundTrip(x, Code4::kFp4, false, &fp4);
  const double fp32 = 4.0 * static_cast<double>(x.size());
  CHECK(nf4.Bytes() / fp32 == Approx((0.5 + 4.0 / 64) / 4));  // 0.1406
  CHECK(nf4_dq.Bytes() / fp32 < 0.13);
  CHECK(nf4_dq.Bytes() / fp32 <= 0.3);
  double e_nf4 = 0, e_fp4 = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    e_nf4 += (a[i] - x[i]) * (a[i] - x[i]);
    e_fp4 += (c[i] - x[i]) * (c[i] - x[i]);
  }
  CHECK(e_nf4 < e_fp4);
  // A block made of the levels themselves comes back exactly.
  std::vector<float> exact(Levels(Code4::kNf4).begin(), Levels(Code4::kNf4).end());
  for (float& v : exact) v *= 0.5f;
  Quantized4 q;
  CHECK(RoundTrip(exact, Code4::kNf4, false, &q) == exact);
}

}  // namespace
}  // namespace entrenar::quant
