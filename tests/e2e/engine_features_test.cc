// `entrenar train` end to end for the engine's layers, optimizers, losses, weight loading,
// precision, data loading workers and cross-validation.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using entrenar::testing::ProcessResult;
using entrenar::testing::RunProcess;
using entrenar::testing::Slurp;
using entrenar::testing::TempDir;
using entrenar::testing::Train;
using nlohmann::json;

const std::string kSource = ENTRENAR_SOURCE_DIR;

json Summary(const std::string& run) { return json::parse(Slurp(run + "/summary.json")); }

// Step -> train_loss of a run directory.
std::map<std::int64_t, double> LossByStep(const std::string& run) {
  return entrenar::testing::LossByStep(run + "/metrics.jsonl");
}

// Trains `file` into dir/name with the overrides; requires success.
json TrainOk(const std::string& file, const std::string& run, std::vector<std::string> sets = {}) {
  std::vector<std::string> args = {file, "--output", run};
  for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
  ProcessResult r = Train(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return Summary(run);
}

const std::string kCnn = kSource + "/examples/digits_cnn.yaml";
const std::string kDigits = kSource + "/examples/digits.yaml";

TEST_CASE("train: a conv2d network with LAMB learns the digits, with a confusion matrix", "[e2e]") {
  TempDir dir;
  ProcessResult r = Train({kCnn, "--output", dir.path + "/run"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const json s = Summary(dir.path + "/run");
  const double accuracy = s["test"]["test_accuracy"].get<double>();
  CHECK(accuracy >= 0.95);
  // The confusion matrix agrees with the accuracy: its diagonal over its total.
  const json cm = s["confusion_matrix"]["test"];
  REQUIRE(cm.size() == 10);
  std::int64_t total = 0, right = 0;
  for (std::size_t t = 0; t < cm.size(); ++t) {
    for (std::size_t p = 0; p < cm[t].size(); ++p) {
      total += cm[t][p].get<std::int64_t>();
      if (t == p) right += cm[t][p].get<std::int64_t>();
    }
  }
  CHECK(total == 176);
  CHECK(static_cast<double>(right) / static_cast<double>(total) == Approx(accuracy));
  CHECK(s["confusion_matrix"]["val"].size() == 10);
  CHECK(s["confusion_matrix"]["classes"][3] == "3");
  CHECK(r.out.find("test confusion matrix (rows: true class, columns: predicted)") !=
        std::string::npos);
  CHECK(s["parameters"].get<int>() == 160 + 32 + 4640 + 5130);  // conv, batchnorm, conv, linear
}

TEST_CASE("train: loader workers prefetch exactly the batches of the single-threaded loader",
          "[e2e]") {
  TempDir dir;
  TrainOk(kCnn, dir.path + "/w0", {"training.epochs=2", "data.loader.num_workers=0"});
  TrainOk(kCnn, dir.path + "/w3",
          {"training.epochs=2", "data.loader.num_workers=3", "data.loader.prefetch_factor=1"});
  const auto a = LossByStep(dir.path + "/w0");
  CHECK(a.size() == 46);
  CHECK(a == LossByStep(dir.path + "/w3"));
}

TEST_CASE("train --resume with LAMB, batchnorm and workers continues bit for bit", "[e2e]") {
  TempDir dir;
  const std::vector<std::string> sets = {"training.epochs=null", "training.max_steps=30",
                                         "training.checkpoint.save_every=10"};
  TrainOk(kCnn, dir.path + "/full", sets);
  const auto reference = LossByStep(dir.path + "/full");
  REQUIRE(reference.size() == 30);
  std::vector<std::string> args = {kCnn, "--resume", dir.path + "/full/checkpoints/step-10",
                                   "--output", dir.path + "/resumed"};
  for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
  ProcessResult r = Train(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto again = LossByStep(dir.path + "/resumed");
  REQUIRE(again.size() == 20);
  for (const auto& [step, loss] : again) CHECK(loss == reference.at(step));
}

TEST_CASE("train: conv1d, pooling and embedding layers train", "[e2e]") {
  TempDir dir;
  const json conv1d =
      TrainOk(kDigits, dir.path + "/conv1d",
              {"training.epochs=15",
               "model.architecture.layers=[{reshape: [1, 64]}, {conv1d: {in_channels: 1, "
               "out_channels: 32, kernel_size: 8, stride: 8}}, {activation: relu}, {avg_pool1d: "
               "{kernel_size: 2}}, {max_pool1d: {kernel_size: 1}}, {flatten: {}}, {linear: "
               "{in_features: 128, out_features: 10}}]"});
  CHECK(conv1d["test"]["test_accuracy"].get<double>() >= 0.85);

  // Two id columns; the class is (a + b) mod 3, which an embedding learns from the ids.
  std::ofstream csv(dir.path + "/ids.csv");
  csv << "a,b,label\n";
  for (int i = 0; i < 600; ++i)
    csv << i % 7 << "," << (i * 5 + 3) % 11 << "," << (i % 7 + (i * 5 + 3) % 11) % 3 << "\n";
  csv.close();
  const std::string manifest =
      "entrenar: \"1.0\"\nname: ids\nversion: \"1\"\n"
      "data:\n  source: ids.csv\n  split: {train: 0.8, val: 0.1, test: 0.1}\n"
      "model:\n  architecture:\n    type: sequential\n    layers:\n"
      "      - embedding: {num_embeddings: 11, embedding_dim: 8}\n"
      "      - flatten\n      - linear: {in_features: 16, out_features: 32}\n"
      "      - activation: relu\n      - linear: {in_features: 32, out_features: 3}\n"
      "optimizer: {name: adam, lr: 0.01}\ntraining:\n  epochs: 40\n";
  std::ofstream(dir.path + "/ids.yaml") << manifest;
  const json ids = TrainOk(dir.path + "/ids.yaml", dir.path + "/ids");
  CHECK(ids["test"]["test_accuracy"].get<double>() >= 0.95);

  // An id beyond the table is an error naming the layer, the column and the row.
  ProcessResult r = Train({dir.path + "/ids.yaml", "--output", dir.path + "/small", "--set",
                           "model.architecture.layers[0].embedding.num_embeddings=7"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("model.architecture.layers[0] (embedding): feature `b` holds ") !=
        std::string::npos);
  CHECK(r.err.find("an embedding needs integer ids from 0 to 6") != std::string::npos);
}

TEST_CASE("train: shape errors found with the data name the layer", "[e2e]") {
  TempDir dir;
  ProcessResult r =
      Train({kDigits, "--output", dir.path + "/run", "--set",
             "model.architecture.layers=[{conv2d: {in_channels: 1, out_channels: 4, kernel_size: "
             "3}}, {flatten: {}}, {linear: {in_features: 144, out_features: 10}}]"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("model.architecture.layers[0] (conv2d): expects channels x height x width "
                   "but its input is 64; add `- reshape: [1, 8, 8]` before it") !=
        std::string::npos);
  CHECK_FALSE(fs::exists(dir.path + "/run/model.safetensors"));
  r = Train({kDigits, "--output", dir.path + "/run2", "--set",
             "model.architecture.layers[3].linear.out_features=7"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("the model outputs 7 values per sample but the data has 10 classes") !=
        std::string::npos);
}

TEST_CASE("train: the bce loss trains a binary classifier with one output", "[e2e]") {
  TempDir dir;
  const std::string bc = kSource + "/examples/breast_cancer.yaml";
  const json s =
      TrainOk(bc, dir.path + "/bce",
              {"training.loss=bce", "model.architecture.layers[3].linear.out_features=1"});
  CHECK(s["test"]["test_accuracy"].get<double>() >= 0.85);
  CHECK(s["test"]["test_auc_roc"].get<double>() > 0.9);
  // Two outputs do not fit bce; three classes do not either.
  ProcessResult r = Train({bc, "--output", dir.path + "/two", "--set", "training.loss=bce"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("bce needs 1 (the logit of class") != std::string::npos);
  r = Train({kSource + "/examples/iris.yaml", "--output", dir.path + "/iris", "--set",
             "training.loss=bce"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("training.loss: bce is binary cross-entropy, but the target `species` has 3 "
                   "classes") != std::string::npos);
}

TEST_CASE("train: model.source loads weights by name and reports what does not fit", "[e2e]") {
  TempDir dir;
  // Weights written by PyTorch itself: an nn.Sequential's state_dict, names without `layers.`.
  ProcessResult py = RunProcess({"/usr/bin/python3", kSource + "/tests/formats/torch_weights.py",
                                 dir.path + "/torch.safetensors"});
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  const json torch_weights = json::parse(py.out);
  TrainOk(kDigits, dir.path + "/loaded",
          {"model.source=" + dir.path + "/torch.safetensors", "optimizer.name=sgd",
           "optimizer.lr=1e-30", "optimizer.weight_decay=0", "scheduler.name=constant",
           "scheduler.warmup.ratio=null", "training.epochs=null", "training.max_steps=1",
           "training.checkpoint.save_best=false"});
  ProcessResult read =
      RunProcess({"/usr/bin/python3", kSource + "/tests/formats/safetensors_numpy.py", "read",
                  dir.path + "/loaded/model.safetensors"});
  REQUIRE(read.exit_code == 0);
  const json ours = json::parse(read.out);
  for (const char* name : {"0.weight", "0.bias", "3.weight", "3.bias"}) {
    INFO(name);
    const auto& want = torch_weights[name];
    const auto& got = ours[std::string("layers.") + name]["values"];
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].get<double>() == Approx(want[i].get<double>()).margin(1e-6));
    }
  }

  // A checkpoint of a different architecture: every problem is listed.
  TrainOk(kDigits, dir.path + "/base", {"training.epochs=1"});
  ProcessResult r =
      Train({kDigits, "--output", dir.path + "/bad", "--set",
             "model.source=" + dir.path + "/base/model.safetensors", "--set",
             "model.architecture.layers=[{linear: {in_features: 64, out_features: 32}}, "
             "{activation: relu}, {batchnorm: {num_features: 32}}, "
             "{linear: {in_features: 32, out_features: 10}}]"});
  CHECK(r.exit_code == 1);
  INFO(r.err);
  CHECK(r.err.find("does not fit the model: missing layers.2.weight (32), layers.2.bias (32)") !=
        std::string::npos);
  CHECK(r.err.find("layers.2.running_var (32);") != std::string::npos);
  CHECK(r.err.find("mis-shaped layers.0.weight is F32 128x64, the model needs float 32x64") !=
        std::string::npos);
  CHECK(r.err.find("layers.3.weight is F32 10x128, the model needs float 10x32") !=
        std::string::npos);
  r = Train({kDigits, "--output", dir.path + "/missing", "--set",
             "model.source=" + dir.path + "/nothing.safetensors"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("nothing.safetensors") != std::string::npos);
}

TEST_CASE("train: cross-validation reports each fold and the mean and spread", "[e2e]") {
  TempDir dir;
  ProcessResult r = Train({kSource + "/examples/iris.yaml", "--output", dir.path + "/cv", "--set",
                           "training.validation.cross_validation.folds=3"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const json s = Summary(dir.path + "/cv");
  const json cv = s["cross_validation"];
  REQUIRE(cv["folds"].size() == 3);
  double sum = 0, sq = 0;
  for (const auto& fold : cv["folds"]) sum += fold["val_accuracy"].get<double>();
  const double mean = sum / 3;
  for (const auto& fold : cv["folds"]) {
    const double d = fold["val_accuracy"].get<double>() - mean;
    sq += d * d;
  }
  CHECK(cv["mean"]["val_accuracy"].get<double>() == Approx(mean));
  CHECK(cv["std"]["val_accuracy"].get<double>() == Approx(std::sqrt(sq / 3)));
  CHECK(mean >= 0.85);
  CHECK(r.err.find("fold 2/3: val_accuracy=") != std::string::npos);
  CHECK(r.err.find("cross-validation: val_accuracy=") != std::string::npos);
  CHECK(fs::exists(dir.path + "/cv/cross_validation.json"));
  // The run itself still trains and is tested after the folds.
  CHECK(s["test"]["test_accuracy"].get<double>() >= 0.85);
}

TEST_CASE("train: bfloat16 trains on the CPU, and float16 or a missing GPU is a clear error",
          "[e2e]") {
  TempDir dir;
  const json autocast = TrainOk(kDigits, dir.path + "/autocast",
                                {"training.mixed_precision.enabled=true",
                                 "training.mixed_precision.dtype=bfloat16", "training.epochs=10"});
  CHECK(autocast["test"]["test_accuracy"].get<double>() >= 0.93);
  const json bf16 =
      TrainOk(kDigits, dir.path + "/bf16", {"model.dtype=bfloat16", "training.epochs=10"});
  CHECK(bf16["test"]["test_accuracy"].get<double>() >= 0.9);
  // bf16 really ran: its losses differ from float32's.
  const json f32 = TrainOk(kDigits, dir.path + "/f32", {"training.epochs=10"});
  CHECK(LossByStep(dir.path + "/bf16") != LossByStep(dir.path + "/f32"));
  CHECK(LossByStep(dir.path + "/autocast") != LossByStep(dir.path + "/f32"));

  const bool gpu = Slurp(dir.path + "/f32/environment.yaml").find("cuda_available: \"true\"") !=
                   std::string::npos;
  if (!gpu) {
    ProcessResult r =
        Train({kDigits, "--output", dir.path + "/half", "--set", "model.dtype=float16"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("model.dtype: float16 needs a CUDA device") != std::string::npos);
    r = Train({kDigits, "--output", dir.path + "/cuda", "--set", "model.device=cuda:1"});
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("model.device: `cuda:1` asks for a CUDA GPU, but LibTorch finds none") !=
          std::string::npos);
    CHECK(f32["device"] == "cpu");
  } else {
    CHECK(f32["device"] == "cuda:0");  // device: auto picks the GPU
  }
}

TEST_CASE("train: output.model.format pt writes an archive PyTorch loads, and metrics json",
          "[e2e]") {
  TempDir dir;
  TrainOk(kDigits, dir.path + "/st", {"training.epochs=2"});
  TrainOk(kDigits, dir.path + "/pt",
          {"training.epochs=2", "output.model.format=pt", "output.metrics.format=json"});
  // metrics.json holds the rows of metrics.jsonl as one array.
  const json rows = json::parse(Slurp(dir.path + "/pt/metrics.json"));
  REQUIRE(rows.size() == 46);
  CHECK(rows[45]["train_loss"].get<double>() == LossByStep(dir.path + "/pt").at(46));
  CHECK_FALSE(fs::exists(dir.path + "/st/metrics.json"));
  CHECK(fs::exists(dir.path + "/pt/model.pt"));
  CHECK_FALSE(fs::exists(dir.path + "/pt/model.safetensors"));
  // PyTorch reads the archive; its tensors equal the same run's safetensors weights.
  const std::string script =
      "import json, subprocess, sys, torch\n"
      "m = torch.jit.load(sys.argv[1])\n"
      "ref = json.loads(subprocess.check_output([sys.executable, sys.argv[3], 'read', "
      "sys.argv[2]]))\n"
      "sd = m.state_dict()\n"
      "assert sorted(sd) == sorted(k for k in ref if k != '__metadata__'), (sorted(sd), "
      "sorted(ref))\n"
      "for k, v in sd.items():\n"
      "    assert v.reshape(-1).tolist() == ref[k]['values'], k\n"
      "pre = json.loads(m.entrenar_preprocessing)\n"
      "print(len(pre['features']), len(sd))\n";
  ProcessResult py = RunProcess({"/usr/bin/python3", "-c", script, dir.path + "/pt/model.pt",
                                 dir.path + "/st/model.safetensors",
                                 kSource + "/tests/formats/safetensors_numpy.py"});
  INFO(py.err);
  CHECK(py.exit_code == 0);
  CHECK(py.out == "64 4\n");
}

}  // namespace

namespace {

const std::string kHaltOnDivergence =
    "monitoring.alerts=[{condition: \"loss > 10\", action: halt, message: \"the loss is "
    "diverging\"}, {condition: \"val_accuracy < 0\", action: warn}]";

TEST_CASE("train: an alert halts a diverging run after a checkpoint, once", "[e2e]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  ProcessResult r =
      Train({kDigits, "--set", "optimizer.lr=5", "--set", kHaltOnDivergence, "--output", run});
  INFO(r.err);
  CHECK(r.exit_code == 6);
  const json s = Summary(run);
  CHECK(s["halted"] == true);
  CHECK(s["ended"]["reason"] == "alert");
  CHECK(s["ended"]["message"].get<std::string>().rfind(
            "halted by an alert: the loss is diverging (step ", 0) == 0);
  REQUIRE(s["alerts"].size() == 1);  // the never-true rule never fires
  const json& alert = s["alerts"][0];
  CHECK(alert["condition"] == "loss > 10");
  CHECK(alert["action"] == "halt");
  CHECK(alert["message"] == "the loss is diverging");
  const std::int64_t step = alert["step"];
  // It fired on the first step whose loss exceeded 10, and the run stopped right there.
  const auto losses = LossByStep(run);
  REQUIRE(losses.count(step));
  CHECK(losses.at(step) > 10);
  for (const auto& [at, loss] : losses) {
    if (at < step) CHECK(loss <= 10);
  }
  CHECK(s["steps"] == step);
  CHECK(fs::exists(run + "/checkpoints/step-" + std::to_string(step) + "/state.json"));
  CHECK(r.err.find("alert: the loss is diverging (loss > 10, action halt, step " +
                   std::to_string(step) + ")") != std::string::npos);
  CHECK(r.err.find("resume it with --resume " + run + "/checkpoints/step-" +
                   std::to_string(step)) != std::string::npos);
}

TEST_CASE("train: alerts that never hold leave a run alone", "[e2e]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  ProcessResult r =
      Train({kDigits, "--set", "training.epochs=2", "--set", kHaltOnDivergence, "--output", run});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  const json s = Summary(run);
  CHECK(s["halted"] == false);
  CHECK(s["alerts"].empty());
  CHECK(s["steps"] == 46);
}

}  // namespace

namespace {

TEST_CASE("train: system metrics are sampled into the step rows and alerts read them", "[e2e]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  ProcessResult r = Train({kDigits, "--set", "monitoring.system.enabled=true", "--set",
                           "monitoring.system.interval=20", "--set",
                           "monitoring.alerts=[{condition: \"memory_mb > 1\", action: warn, "
                           "message: \"resident\"}]",
                           "--output", run});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::ifstream rows(run + "/metrics.jsonl");
  std::int64_t sampled = 0, first = 0;
  for (std::string line; std::getline(rows, line);) {
    const json row = json::parse(line);
    if (!row.contains("memory_mb")) continue;
    if (!sampled++) first = row["step"];
    // A LibTorch process holds tens of MiB; the machine more; CPU time and disk rates are >= 0.
    CHECK(row["memory_mb"].get<double>() > 10);
    CHECK(row["memory_system_mb"].get<double>() >= row["memory_mb"].get<double>());
    CHECK(row["cpu_percent"].get<double>() >= 0);
    CHECK(row["disk_io"].get<double>() == Approx(row["disk_read_bytes_per_s"].get<double>() +
                                                 row["disk_write_bytes_per_s"].get<double>()));
  }
  CHECK(sampled > 0);
  // The alert fired once, at the first step that had a sample.
  const json s = Summary(run);
  REQUIRE(s["alerts"].size() == 1);
  CHECK(s["alerts"][0]["step"] == first);
}

// `entrenar train` with the fake NVML library (tests/support/fake_nvml.cc) and the GPUs that
// CUDA_VISIBLE_DEVICES names; returns the rows that carry GPU metrics.
std::vector<json> GpuRows(const std::string& run, const std::string& visible,
                          const std::string& library = ENTRENAR_FAKE_NVML) {
  ProcessResult r = RunProcess(
      {"/usr/bin/env", "ENTRENAR_NVML_LIBRARY=" + library, "FAKE_NVML_USED_MIB=4096",
       "FAKE_NVML_UTIL=30", "CUDA_VISIBLE_DEVICES=" + visible, entrenar::testing::EntrenarBinary(),
       "train", kDigits, "--output", run, "--set", "training.epochs=3", "--set",
       "monitoring.system.enabled=true", "--set", "monitoring.system.interval=10", "--set",
       "monitoring.alerts=[{condition: \"gpu_memory > 0.4\", action: warn}]"},
      "", 240);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<json> rows;
  std::ifstream in(run + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const json row = json::parse(line);
    if (row.contains("gpu_memory")) rows.push_back(row);
  }
  return rows;
}

TEST_CASE("train: GPU metrics come from NVML for the visible GPUs, and alerts read them", "[e2e]") {
  TempDir dir;
  // GPU 1 of the fake driver: 2 × 4096 MiB used of 16 GiB, 2 × 30 % busy.
  const std::vector<json> one = GpuRows(dir.path + "/one", "1");
  REQUIRE_FALSE(one.empty());
  CHECK(one[0]["gpu_memory_mb"] == 8192);
  CHECK(one[0]["gpu_memory"] == 0.5);
  CHECK(one[0]["gpu_utilization"] == 60);
  const json s = Summary(dir.path + "/one");
  REQUIRE(s["alerts"].size() == 1);
  CHECK(s["alerts"][0]["condition"] == "gpu_memory > 0.4");
  // Both GPUs: memory adds up, utilization is the mean; the alert (0.375) does not fire.
  const std::vector<json> both = GpuRows(dir.path + "/both", "0,1");
  REQUIRE_FALSE(both.empty());
  CHECK(both[0]["gpu_memory_mb"] == 4096 + 8192);
  CHECK(both[0]["gpu_memory"] == Approx(12288.0 / 32768));
  CHECK(both[0]["gpu_utilization"] == 45);
  CHECK(Summary(dir.path + "/both")["alerts"].empty());
  // A CPU job (no visible GPU) and a machine without the driver: no GPU metrics, no error.
  CHECK(GpuRows(dir.path + "/cpu", "").empty());
  CHECK(GpuRows(dir.path + "/none", "0", "/nonexistent/libnvidia-ml.so.1").empty());
}

}  // namespace
