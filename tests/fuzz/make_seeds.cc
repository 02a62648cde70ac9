// Writes the binary seeds of tests/fuzz/corpus with our own encoders (the text seeds are
// hand-written files): `build/bin/fuzz_make_seeds tests/fuzz/corpus`. Run it again after a
// format's encoder changes; each seed is a small valid file of its format.

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "entrenar/formats/gguf.h"
#include "entrenar/formats/parquet.h"
#include "entrenar/formats/safetensors.h"
#include "entrenar/formats/tfevents.h"
#include "entrenar/v1/jobs.pb.h"
#include "entrenar/v1/worker.pb.h"

#include "service_calls.h"

namespace {

using namespace entrenar::formats;

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  std::printf("%s: %zu bytes\n", path.c_str(), bytes.size());
}

std::string SafetensorsSeed() {
  Safetensors st;
  st.metadata["format"] = "pt";
  st.tensors.push_back(MakeF32Tensor("0.weight", {2, 3}, {1, 2, 3, 4, 5, 6}));
  st.tensors.push_back(MakeF32Tensor("0.bias", {2}, {-1, 0.5}));
  return EncodeSafetensors(st).value();
}

std::string GgufSeed() {
  Gguf g;
  g.metadata.emplace_back("general.architecture", GgufValue::String("llama"));
  g.metadata.emplace_back("llama.block_count", GgufValue::U32(1));
  g.metadata.emplace_back("tokenizer.ggml.tokens", GgufValue::Strings({"a", "b", "<s>"}));
  g.metadata.emplace_back("tokenizer.ggml.scores", GgufValue::F32s({0, -1, -2}));
  std::vector<float> values(64);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) / 8 - 4;
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kQ8_0, GgmlType::kQ4_0}) {
    GgufTensor t;
    t.name = "t." + GgmlTypeName(type);
    t.shape = {2, 32};
    t.type = type;
    t.data = EncodeGgml(values, type).value();
    g.tensors.push_back(t);
  }
  return EncodeGguf(g).value();
}

std::string ParquetSeed() {
  std::vector<NumericColumn> columns(2);
  columns[0].name = "x";
  columns[0].values = {1.5, std::nullopt, -2};
  columns[1].name = "label";
  columns[1].integer = true;
  columns[1].values = {0, 1, 2};
  return EncodeParquet(columns).value();
}

std::string TfeventsSeed() {
  ScalarEvent first;
  first.file_version = "brain.Event:2";
  ScalarEvent loss;
  loss.step = 3;
  loss.wall_time = 1764800000.25;
  loss.scalars = {{"train/loss", 0.75f}, {"lr", 0.001f}};
  return EncodeRecord(EncodeEvent(first)) + EncodeRecord(EncodeEvent(loss));
}

// service_fuzz's inputs: a daemon's day in a few calls.
constexpr char kManifest[] = R"(entrenar: "1.0"
name: seed
version: "1.0.0"
data: {source: ./iris.csv, target: species}
model:
  architecture:
    type: sequential
    layers: [{linear: {in_features: 4, out_features: 3}}]
optimizer: {name: adam, lr: 0.01}
training: {epochs: 1}
output: {dir: "./runs/{{ name }}-{{ timestamp }}"}
)";

entrenar::v1::ManifestSource Source() {
  entrenar::v1::ManifestSource src;
  src.set_yaml(kManifest);
  src.set_file_name("seed.yaml");
  src.set_working_dir("/tmp/entrenar-fuzz");
  src.add_overrides("training.epochs=2");
  (*src.mutable_env())["HOME"] = "/home/fuzz";
  return src;
}

std::string ServiceSeed() {
  namespace v1 = entrenar::v1;
  using entrenar::fuzz::EncodeCall;
  using entrenar::fuzz::Method;
  std::string out;
  v1::ValidateRequest validate;
  *validate.mutable_manifest() = Source();
  out += EncodeCall(Method::kValidate, validate.SerializeAsString());
  v1::SubmitRequest submit;
  *submit.mutable_manifest() = Source();
  submit.set_name("seed");
  submit.set_priority(1);
  out += EncodeCall(Method::kSubmit, submit.SerializeAsString());
  v1::WorkerReport report;
  report.set_job_id(1);
  report.set_token("secret");
  report.set_file_offset(42);
  v1::Event* e = report.add_events();
  e->set_seq(1);
  e->set_payload_json(R"({"kind":"metric","step":1,"epoch":1,"values":{"loss":0.5}})");
  out += EncodeCall(Method::kReport, report.SerializeAsString());
  v1::GetJobRequest get;
  get.set_job_id(1);
  out += EncodeCall(Method::kGetJob, get.SerializeAsString());
  v1::ListJobsRequest list;
  list.set_mine(true);
  list.set_page_size(10);
  out += EncodeCall(Method::kListJobs, list.SerializeAsString());
  v1::GetMetricsRequest metrics;
  metrics.set_job_id(1);
  out += EncodeCall(Method::kGetMetrics, metrics.SerializeAsString());
  v1::ListCheckpointsRequest checkpoints;
  checkpoints.set_job_id(1);
  out += EncodeCall(Method::kListCheckpoints, checkpoints.SerializeAsString());
  v1::CancelJobRequest cancel;
  cancel.set_job_id(1);
  out += EncodeCall(Method::kCancelJob, cancel.SerializeAsString());
  v1::ResumeJobRequest resume;
  resume.set_job_id(1);
  resume.set_checkpoint("step-1");
  out += EncodeCall(Method::kResumeJob, resume.SerializeAsString());
  out += EncodeCall(Method::kClusterStatus, v1::ClusterStatusRequest().SerializeAsString());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds CORPUS_DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  Write(dir + "/safetensors/two_tensors.safetensors", SafetensorsSeed());
  Write(dir + "/gguf/four_types.gguf", GgufSeed());
  Write(dir + "/parquet/two_columns.parquet", ParquetSeed());
  Write(dir + "/tfevents/two_events.tfevents", TfeventsSeed());
  Write(dir + "/service/a_day.bin", ServiceSeed());
  return 0;
}
