#include "entrenar/formats/safetensors.h"

#include <filesystem>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::formats {
namespace {

const std::string kNumpyTool =
    std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/safetensors_numpy.py";

Safetensors Sample() {
  Safetensors st;
  st.metadata["format"] = "pt";
  st.tensors.push_back(MakeF32Tensor("fc.weight", {2, 3}, {0.5f, -1.f, 2.f, 3.25f, 0.f, -0.125f}));
  st.tensors.push_back(MakeF32Tensor("fc.bias", {2}, {1.f, -1.f}));
  Tensor steps;
  steps.name = "steps";
  steps.dtype = DType::kI64;
  steps.shape = {};
  steps.bytes = std::string("\x2a\0\0\0\0\0\0\0", 8);
  st.tensors.push_back(steps);
  return st;
}

TEST_CASE("safetensors round-trips names, dtypes, shapes, bytes and metadata", "[unit][formats]") {
  Result<std::string> bytes = EncodeSafetensors(Sample());
  REQUIRE(bytes.ok());
  std::uint64_t header = 0;
  for (int k = 7; k >= 0; --k) header = (header << 8) | static_cast<unsigned char>((*bytes)[k]);
  CHECK(header % 8 == 0);  // the header is padded so tensor data starts 8-byte aligned
  Result<Safetensors> back = DecodeSafetensors(*bytes);
  REQUIRE(back.ok());
  REQUIRE(back->tensors.size() == 3);
  CHECK(back->tensors[0].name == "fc.weight");
  CHECK(back->tensors[0].shape == std::vector<std::int64_t>{2, 3});
  CHECK(F32Values(back->tensors[0])[3] == 3.25f);
  CHECK(back->Find("steps")->shape.empty());
  CHECK(back->Find("steps")->bytes[0] == 42);
  CHECK(back->metadata.at("format") == "pt");
}

TEST_CASE("Damaged safetensors files are refused with the reason", "[unit][formats]") {
  std::string good = *EncodeSafetensors(Sample());
  CHECK(DecodeSafetensors("abc").status().code() == StatusCode::kDataLoss);
  std::string huge = good;
  huge[7] = '\x7f';
  CHECK(DecodeSafetensors(huge).status().message().find("exceeds the file") != std::string::npos);
  std::string truncated = good.substr(0, good.size() - 4);
  CHECK(DecodeSafetensors(truncated).status().message().find("do not fit") != std::string::npos);
  std::string trailing = good + "xxxx";
  CHECK(DecodeSafetensors(trailing).status().message().find("trailing bytes") != std::string::npos);
  std::string bad_json = good;
  bad_json[8] = '[';
  CHECK_FALSE(DecodeSafetensors(bad_json).ok());
  Safetensors wrong = Sample();
  wrong.tensors[0].bytes.pop_back();
  CHECK(EncodeSafetensors(wrong).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("Writing is atomic and reading reports a missing file", "[unit][formats]") {
  testing::TempDir dir;
  const std::string path = dir.path + "/m.safetensors";
  REQUIRE(WriteSafetensorsFile(path, Sample()).ok());
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path),
                      std::filesystem::directory_iterator()) == 1);
  CHECK(ReadSafetensorsFile(path).ok());
  CHECK(ReadSafetensorsFile(dir.path + "/none").status().code() == StatusCode::kNotFound);
}

TEST_CASE("numpy reads what we write", "[integration][formats]") {
  testing::TempDir dir;
  const std::string path = dir.path + "/ours.safetensors";
  REQUIRE(WriteSafetensorsFile(path, Sample()).ok());
  testing::ProcessResult r = testing::RunProcess({"/usr/bin/python3", kNumpyTool, "read", path});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  nlohmann::json j = nlohmann::json::parse(r.out);
  CHECK(j["fc.weight"]["dtype"] == "F32");
  CHECK(j["fc.weight"]["shape"] == nlohmann::json({2, 3}));
  CHECK(j["fc.weight"]["values"] == nlohmann::json({0.5, -1.0, 2.0, 3.25, 0.0, -0.125}));
  CHECK(j["steps"]["values"] == nlohmann::json({42.0}));
  CHECK(j["__metadata__"]["format"] == "pt");
}

TEST_CASE("We read what numpy writes", "[integration][formats]") {
  testing::TempDir dir;
  const std::string path = dir.path + "/numpy.safetensors";
  testing::ProcessResult r = testing::RunProcess({"/usr/bin/python3", kNumpyTool, "write", path});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  Result<Safetensors> st = ReadSafetensorsFile(path);
  REQUIRE(st.ok());
  const Tensor* w = st->Find("layer.weight");
  REQUIRE(w);
  CHECK(w->shape == std::vector<std::int64_t>{2, 3});
  CHECK(F32Values(*w) == std::vector<float>{0.f, 0.25f, 0.5f, 0.75f, 1.f, 1.25f});
  CHECK(F32Values(*st->Find("layer.bias")) == std::vector<float>{-1.5f, 2.25f});
  CHECK(st->Find("steps")->dtype == DType::kI64);
  CHECK(st->Find("mask")->dtype == DType::kU8);
  CHECK(st->metadata.at("writer") == "numpy");
}

}  // namespace
}  // namespace entrenar::formats
