#include "entrenar/formats/gguf.h"

#include <cmath>
#include <random>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::formats {
namespace {

std::vector<float> Gaussian(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.5f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

GgufTensor Tensor(const std::string& name, std::vector<std::int64_t> shape, GgmlType type,
                  const std::vector<float>& values) {
  return {name, std::move(shape), type, *EncodeGgml(values, type)};
}

Gguf Sample() {
  Gguf g;
  g.metadata = {{"general.architecture", GgufValue::String("llama")},
                {"general.name", GgufValue::String("tiny test")},
                {"llama.context_length", GgufValue::U32(128)},
                {"llama.rope.freq_base", GgufValue::F32(10000.0f)},
                {"tokenizer.ggml.tokens", GgufValue::Strings({"<unk>", "<s>", "</s>", "a"})},
                {"tokenizer.ggml.scores", GgufValue::F32s({0.0f, 0.0f, 0.0f, -1.5f})},
                {"tokenizer.ggml.token_type", GgufValue::I32s({2, 3, 3, 1})},
                {"tokenizer.ggml.add_bos_token", GgufValue::Bool(true)}};
  g.tensors.push_back(Tensor("token_embd.weight", {4, 64}, GgmlType::kF16, Gaussian(256, 1)));
  g.tensors.push_back(Tensor("blk.0.attn_q.weight", {64, 64}, GgmlType::kQ8_0, Gaussian(4096, 2)));
  g.tensors.push_back(Tensor("blk.0.ffn_up.weight", {96, 64}, GgmlType::kQ4_0, Gaussian(6144, 3)));
  g.tensors.push_back(Tensor("output_norm.weight", {64}, GgmlType::kF32, Gaussian(64, 4)));
  return g;
}

TEST_CASE("half precision conversion rounds to nearest even and keeps specials",
          "[unit][formats]") {
  CHECK(FloatToHalf(1.0f) == 0x3c00);
  CHECK(FloatToHalf(-2.0f) == 0xc000);
  CHECK(FloatToHalf(65504.0f) == 0x7bff);
  CHECK(FloatToHalf(65520.0f) == 0x7c00);            // rounds up to infinity
  CHECK(FloatToHalf(1.0f + 1.0f / 2048) == 0x3c00);  // halfway: to even
  CHECK(FloatToHalf(1.0f + 3.0f / 2048) == 0x3c02);
  CHECK(FloatToHalf(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(HalfToFloat(0x0001) == std::ldexp(1.0f, -24));
  CHECK(std::isnan(HalfToFloat(FloatToHalf(NAN))));
  for (std::uint32_t h = 0; h < 0x7c00; ++h) {  // every finite positive half round-trips
    REQUIRE(FloatToHalf(HalfToFloat(static_cast<std::uint16_t>(h))) == h);
  }
}

TEST_CASE("Q8_0 and Q4_0 blocks stay within their quantization step", "[unit][formats]") {
  const std::vector<float> x = Gaussian(32 * 64, 7);
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ4_0}) {
    const std::string data = *EncodeGgml(x, type);
    CHECK(data.size() == 64 * (type == GgmlType::kQ8_0 ? 34u : 18u));
    const std::vector<float> back = *DecodeGgml(data, type, 32 * 64);
    for (std::size_t b = 0; b < 64; ++b) {
      float amax = 0;
      for (std::size_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
      // Q8_0: half a step. Q4_0 maps the block's largest-magnitude value to -8 and clamps the
      // other side at +7, so values there may be a whole step off. Plus the f16 rounding of
      // the scale (relative 2^-11).
      const float bound = type == GgmlType::kQ8_0 ? amax / 127 / 2 : amax / 8;
      for (std::size_t i = 0; i < 32; ++i) {
        REQUIRE(std::fabs(back[b * 32 + i] - x[b * 32 + i]) <= bound + amax * 1e-3f + 1e-7f);
      }
    }
  }
  CHECK(EncodeGgml(Gaussian(33, 1), GgmlType::kQ8_0).status().code() ==
        StatusCode::kInvalidArgument);
}

TEST_CASE("GGUF files round-trip metadata and tensors and reject damage", "[unit][formats]") {
  const Gguf g = Sample();
  Result<std::string> bytes = EncodeGguf(g);
  REQUIRE(bytes.ok());
  CHECK(bytes->substr(0, 4) == "GGUF");
  Result<Gguf> back = DecodeGguf(*bytes);
  REQUIRE(back.ok());
  REQUIRE(back->metadata.size() == g.metadata.size());
  CHECK(back->Find("general.architecture")->s == "llama");
  CHECK(back->Find("llama.context_length")->u == 128);
  CHECK(back->Find("tokenizer.ggml.tokens")->array[3].s == "a");
  CHECK(back->Find("tokenizer.ggml.scores")->array[3].f == -1.5);
  CHECK(back->Find("tokenizer.ggml.add_bos_token")->u == 1);
  REQUIRE(back->tensors.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(back->tensors[i].name == g.tensors[i].name);
    CHECK(back->tensors[i].shape == g.tensors[i].shape);
    CHECK(back->tensors[i].type == g.tensors[i].type);
    CHECK(back->tensors[i].data == g.tensors[i].data);
  }
  // Tensor data starts aligned.
  Gguf wide = g;
  wide.alignment = 64;
  Result<Gguf> again = DecodeGguf(*EncodeGguf(wide));
  REQUIRE(again.ok());
  CHECK(again->alignment == 64);
  CHECK(again->tensors[2].data == g.tensors[2].data);
  // An alignment past 1 MiB is refused both ways (a 200-byte file aligned to 2^28 would be
  // written again as 256 MiB of padding; the fuzzer found it).
  wide.alignment = 1u << 28;
  CHECK(EncodeGguf(wide).status().code() == StatusCode::kInvalidArgument);
  Gguf huge;  // the key says 2^28 (the encoder pads to 32: only the decoder reads the key)
  huge.metadata.emplace_back("general.alignment", GgufValue::U32(1u << 28));
  Result<Gguf> refused = DecodeGguf(*EncodeGguf(huge));
  CHECK(refused.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(refused.status().message(), Catch::Contains("268435456, not a power of two up to"));
  Gguf mib;
  mib.alignment = 1u << 20;
  Result<Gguf> fits = DecodeGguf(*EncodeGguf(mib));
  REQUIRE(fits.ok());
  CHECK(fits->alignment == 1u << 20);
  // Shapes that do not match their bytes, or quantized rows that are not whole blocks.
  Gguf bad = g;
  bad.tensors[0].shape = {5, 64};
  CHECK(EncodeGguf(bad).status().code() == StatusCode::kInvalidArgument);
  bad = g;
  bad.tensors[1].shape = {128, 32};
  CHECK(EncodeGguf(bad).ok());
  bad.tensors[1].shape = {256, 16};
  CHECK(EncodeGguf(bad).status().code() == StatusCode::kInvalidArgument);
  CHECK(DecodeGguf(bytes->substr(0, bytes->size() - 100)).status().code() == StatusCode::kDataLoss);
  for (std::size_t at = 4; at < 600; at += 3) {
    std::string damaged = *bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 0xa5);
    (void)DecodeGguf(damaged);  // any answer but a crash (the sanitizer build checks)
  }
}

TEST_CASE("independent readers (@huggingface/gguf, numpy) read our GGUF files", "[unit][formats]") {
  testing::TempDir dir;
  const std::string path = dir.path + "/tiny.gguf";
  const Gguf g = Sample();
  REQUIRE(WriteGgufFile(path, g).ok());
  const auto js = testing::RunProcess(
      {"/usr/bin/env", "node", std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/gguf_read.mjs",
       path});
  INFO(js.err);
  REQUIRE(js.exit_code == 0);
  const auto j = nlohmann::json::parse(js.out);
  CHECK(j["metadata"]["version"] == 3);
  CHECK(j["metadata"]["general.architecture"] == "llama");
  CHECK(j["metadata"]["llama.context_length"] == 128);
  CHECK(j["metadata"]["tokenizer.ggml.tokens"][1] == "<s>");
  REQUIRE(j["tensors"].size() == 4);
  CHECK(j["tensors"][1]["name"] == "blk.0.attn_q.weight");
  CHECK(j["tensors"][2]["shape"] == std::vector<int>{64, 96});  // ne[0] innermost
  CHECK(j["tensors"][1]["dtype"] == 8);                         // Q8_0
  CHECK(j["tensors"][2]["dtype"] == 2);                         // Q4_0
  const auto py = testing::RunProcess(
      {"/usr/bin/python3", std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/gguf_numpy.py",
       path});
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  const auto p = nlohmann::json::parse(py.out);
  for (const GgufTensor& t : g.tensors) {
    INFO(t.name);
    const auto& got = p["tensors"][t.name];
    CHECK(got["shape"].get<std::vector<std::int64_t>>() == t.shape);
    const std::vector<float> ours = *DecodeGgml(t.data, t.type, t.NumElements());
    const auto theirs = got["values"].get<std::vector<double>>();
    REQUIRE(theirs.size() == ours.size());
    for (std::size_t i = 0; i < ours.size(); ++i) REQUIRE(static_cast<float>(theirs[i]) == ours[i]);
  }
}

}  // namespace
}  // namespace entrenar::formats
