// Post-training quantization and quantization-aware training (SPEC §7) end to end: the saved
// weights are read back with numpy and must lie on the quantization grid.
#include <filesystem>
#include <set>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

using entrenar::testing::ProcessResult;
using entrenar::testing::RunProcess;
using entrenar::testing::Slurp;
using entrenar::testing::TempDir;
using entrenar::testing::Train;
using nlohmann::json;

const std::string kSource = ENTRENAR_SOURCE_DIR;

// Trains digits for 10 epochs with `sets`; returns summary.json.
json TrainDigits(const std::string& run, const std::vector<std::string>& sets) {
  std::vector<std::string> args = {kSource + "/examples/digits.yaml",
                                   "--output",
                                   run,
                                   "--set",
                                   "training.epochs=10",
                                   "--set",
                                   "quantize.enabled=true"};
  for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
  ProcessResult r = Train(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("quantize: ") != std::string::npos);
  return json::parse(Slurp(run + "/summary.json"));
}

// The saved tensors, read by numpy.
json Weights(const std::string& run) {
  ProcessResult r = RunProcess({"/usr/bin/python3", kSource + "/tests/formats/safetensors_numpy.py",
                                "read", run + "/model.safetensors"});
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

// The most distinct values any slice of `width` consecutive values of a tensor holds.
std::size_t MostDistinct(const json& tensor, std::size_t width) {
  const auto& v = tensor["values"];
  std::size_t most = 0;
  for (std::size_t i = 0; i < v.size(); i += width) {
    std::set<double> distinct;
    for (std::size_t k = i; k < i + width && k < v.size(); ++k) distinct.insert(v[k].get<double>());
    most = std::max(most, distinct.size());
  }
  return most;
}

double After(const json& s, const char* key) { return s["quantization"]["after"][key]; }
double Before(const json& s, const char* key) { return s["quantization"]["before"][key]; }

TEST_CASE("quantize: weights land on a 2^bits grid per channel or group, biases stay float",
          "[e2e]") {
  TempDir dir;
  const json s8 = TrainDigits(dir.path + "/int8", {"quantize.bits=8"});
  CHECK(std::abs(After(s8, "val_accuracy") - Before(s8, "val_accuracy")) < 0.02);
  const json w8 = Weights(dir.path + "/int8");
  CHECK(MostDistinct(w8["layers.0.weight"], 64) <= 256);  // a row: one output channel
  CHECK(MostDistinct(w8["layers.0.weight"], 64) > 16);
  CHECK(MostDistinct(w8["layers.0.bias"], 128) > 100);  // biases are not quantized
  const json s4 =
      TrainDigits(dir.path + "/int4", {"quantize.bits=4", "quantize.scheme=asymmetric",
                                       "quantize.granularity=per_group", "quantize.group_size=16",
                                       "quantize.calibration.method=mse"});
  const json w4 = Weights(dir.path + "/int4");
  CHECK(MostDistinct(w4["layers.0.weight"], 16) <= 16);
  CHECK(MostDistinct(w4["layers.3.weight"], 16) <= 16);
  CHECK(MostDistinct(w4["layers.0.weight"], 64) > 16);  // each group has its own scale
  // Fewer bits cost more: 2 bits per tensor loses accuracy that 8 bits keep.
  const json s2 =
      TrainDigits(dir.path + "/int2", {"quantize.bits=2", "quantize.granularity=per_tensor"});
  CHECK(After(s2, "val_accuracy") < After(s8, "val_accuracy") - 0.01);
  CHECK(MostDistinct(Weights(dir.path + "/int2")["layers.0.weight"], 8192) <= 4);
  // quantize.exclude keeps a layer in float.
  TrainDigits(dir.path + "/excl", {"quantize.bits=2", "quantize.exclude=[layers.0]"});
  const json we = Weights(dir.path + "/excl");
  CHECK(MostDistinct(we["layers.0.weight"], 64) > 16);
  CHECK(MostDistinct(we["layers.3.weight"], 128) <= 4);
}

TEST_CASE("quantize: QAT trains a 2-bit model that beats quantizing after training", "[e2e]") {
  TempDir dir;
  const std::vector<std::string> two_bits = {"quantize.bits=2", "quantize.granularity=per_channel"};
  const json ptq = TrainDigits(dir.path + "/ptq", two_bits);
  std::vector<std::string> qat = two_bits;
  qat.push_back("quantize.qat.enabled=true");
  const json trained = TrainDigits(dir.path + "/qat", qat);
  CHECK(After(trained, "val_accuracy") > After(ptq, "val_accuracy") + 0.02);
  CHECK(trained["test"]["test_accuracy"].get<double>() > 0.93);
  CHECK(MostDistinct(Weights(dir.path + "/qat")["layers.0.weight"], 64) <= 4);
}

TEST_CASE("quantize: mistakes are named", "[e2e]") {
  TempDir dir;
  ProcessResult r = Train({kSource + "/examples/digits.yaml", "--output", dir.path + "/run",
                           "--set", "training.epochs=1", "--set", "quantize.enabled=true", "--set",
                           "quantize.granularity=per_group", "--set", "quantize.group_size=7"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("quantize.group_size: rows of 64 weights do not split into groups of 7 "
                   "(layers.0.weight)") != std::string::npos);
  CHECK(r.err.find("training ") == std::string::npos);  // refused before training
}

TEST_CASE("quantize: a transformer's projections quantize per group, embeddings excluded",
          "[e2e][slow]") {
  TempDir dir;
  const std::string run = dir.path + "/lm";
  ProcessResult r =
      Train({kSource + "/examples/instruct.yaml", "--output", run, "--set", "training.epochs=2",
             "--set", "callbacks=[]", "--set", "model.architecture.hidden_size=64", "--set",
             "quantize.enabled=true", "--set", "quantize.bits=4", "--set",
             "quantize.granularity=per_group", "--set", "quantize.group_size=32", "--set",
             "quantize.exclude=[lm_head, embed_tokens]"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const json s = json::parse(Slurp(run + "/summary.json"));
  CHECK(After(s, "val_perplexity") == Approx(Before(s, "val_perplexity")).epsilon(0.02));
  CHECK(After(s, "val_perplexity") != Before(s, "val_perplexity"));
  const json w = Weights(run);
  CHECK(MostDistinct(w["model.layers.0.self_attn.q_proj.weight"], 32) <= 16);
  CHECK(MostDistinct(w["model.layers.1.mlp.down_proj.weight"], 32) <= 16);
  CHECK(MostDistinct(w["model.embed_tokens.weight"], 64) > 16);
  CHECK(MostDistinct(w["lm_head.weight"], 64) > 16);
}

// Trains the tiny language model of examples/instruct.yaml with `sets` and output.model.format
// gguf into `run`; returns model.gguf's tensors as numpy decodes them.
json ExportGguf(const std::string& run, const std::vector<std::string>& sets) {
  std::vector<std::string> args = {kSource + "/examples/instruct.yaml",
                                   "--output",
                                   run,
                                   "--set",
                                   "callbacks=[]",
                                   "--set",
                                   "model.architecture.hidden_size=64",
                                   "--set",
                                   "output.model.format=gguf"};
  for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
  ProcessResult r = Train(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  ProcessResult g = RunProcess(
      {"/usr/bin/python3", kSource + "/tests/formats/gguf_numpy.py", run + "/model.gguf"});
  REQUIRE(g.exit_code == 0);
  return json::parse(g.out)["tensors"];
}

TEST_CASE(
    "quantize: GGUF exports hold Q8_0 or Q4_0 blocks for models quantized in groups of 32, F16 for "
    "bfloat16 ones",
    "[e2e][slow]") {
  TempDir dir;
  const std::vector<std::string> groups = {
      "quantize.enabled=true", "quantize.granularity=per_group", "quantize.group_size=32"};
  std::vector<std::string> q8 = groups;
  q8.insert(q8.end(), {"quantize.bits=8", "training.epochs=1"});
  const json tensors = ExportGguf(dir.path + "/lm", q8);
  const json w = Weights(dir.path + "/lm");
  CHECK(tensors["blk.0.attn_v.weight"]["type"] == 8);     // Q8_0
  CHECK(tensors["blk.0.attn_norm.weight"]["type"] == 0);  // norms stay F32
  // The Q8_0 values are the quantized model's, up to the float16 rounding of each block scale.
  const json& v = tensors["blk.0.attn_v.weight"]["values"];
  const json& ours = w["model.layers.0.self_attn.v_proj.weight"]["values"];
  REQUIRE(v.size() == ours.size());
  double worst = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double a = v[i].get<double>(), b = ours[i].get<double>();
    worst = std::max(worst, std::abs(a - b) / std::max(std::abs(b), 1e-6));
  }
  CHECK(worst < 1e-3);
  // 4 bits in groups of 32 export as Q4_0 blocks.
  std::vector<std::string> q4 = groups;
  q4.insert(q4.end(), {"quantize.bits=4", "training.max_steps=2", "training.epochs=null"});
  CHECK(ExportGguf(dir.path + "/lm4", q4)["blk.1.ffn_down.weight"]["type"] == 2);  // Q4_0
  // A bfloat16 model, not quantized, exports F16 matrices.
  const json th = ExportGguf(
      dir.path + "/half", {"model.dtype=bfloat16", "training.max_steps=2", "training.epochs=null"});
  CHECK(th["blk.0.attn_q.weight"]["type"] == 1);  // F16
  CHECK(th["output_norm.weight"]["type"] == 0);   // F32
}

}  // namespace
