#include "checkpoint.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <utility>

#include "entrenar/base/files.h"
#include "entrenar/base/kill_point.h"
#include "entrenar/formats/safetensors.h"
#include "entrenar/run/layout.h"

#include "validation_watch.h"

namespace entrenar::engine {
namespace {

namespace fs = std::filesystem;

// The CPU generator's state as rng.safetensors holds it.
formats::Safetensors GeneratorState() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  torch::Tensor rng;
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    rng = gen.get_state();
  }
  formats::Safetensors file;
  formats::Tensor t;
  t.name = "rng.cpu";
  t.dtype = formats::DType::kU8;
  t.shape = {rng.numel()};
  t.bytes.assign(reinterpret_cast<const char*>(rng.data_ptr<std::uint8_t>()),
                 static_cast<std::size_t>(rng.numel()));
  file.tensors.push_back(std::move(t));
  return file;
}

// Restores the generator's state from rng.safetensors.
Status RestoreGenerator(const std::string& dir) {
  ENTRENAR_ASSIGN_OR_RETURN(formats::Safetensors rng_file,
                            formats::ReadSafetensorsFile(dir + "/rng.safetensors"));
  const formats::Tensor* rng = rng_file.Find("rng.cpu");
  if (!rng) return DataLoss(dir + "/rng.safetensors has no rng.cpu");
  torch::Tensor rng_state =
      torch::empty({static_cast<std::int64_t>(rng->bytes.size())}, torch::kUInt8);
  std::memcpy(rng_state.data_ptr<std::uint8_t>(), rng->bytes.data(), rng->bytes.size());
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  try {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng_state);
  } catch (const c10::Error&) {
    return DataLoss(dir + "/rng.safetensors does not hold a generator state");
  }
  return OkStatus();
}

// The best weights as best.safetensors: swapped into the model for the write, then back.
Status WriteBest(const std::string& file, TaskModel& task, const std::vector<torch::Tensor>& best) {
  const std::vector<torch::Tensor> now = Snapshot(task.net());
  RestoreSnapshot(task.net(), best);
  const Status written = formats::WriteSafetensorsFile(file, task.CheckpointWeights());
  RestoreSnapshot(task.net(), now);
  return written;
}

// Removes all but the newest `keep` step-N directories of `root`.
void KeepNewest(const std::string& root, std::size_t keep) {
  std::error_code ec;
  std::vector<std::pair<std::int64_t, fs::path>> all;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const auto step = run::Layout::ParseCheckpointName(e.path().filename().string());
    if (step) all.emplace_back(*step, e.path());
  }
  std::sort(all.begin(), all.end());
  for (std::size_t i = 0; i + keep < all.size(); ++i) fs::remove_all(all[i].second, ec);
}

// The files of a checkpoint, into the directory `dir`.
Status WriteCheckpointFiles(const std::string& dir, TaskModel& task,
                            const std::vector<torch::Tensor>& best,
                            torch::optim::Optimizer& optimizer, const run::CheckpointState& state) {
  ENTRENAR_RETURN_IF_ERROR(
      formats::WriteSafetensorsFile(dir + "/model.safetensors", task.CheckpointWeights()));
  if (!best.empty()) ENTRENAR_RETURN_IF_ERROR(WriteBest(dir + "/best.safetensors", task, best));
  ENTRENAR_RETURN_IF_ERROR(WriteOptimizerState(optimizer, dir + "/optimizer.pt"));
  ENTRENAR_RETURN_IF_ERROR(
      formats::WriteSafetensorsFile(dir + "/rng.safetensors", GeneratorState()));
  return WriteFileAtomic(run::Layout::CheckpointState(dir), run::EncodeCheckpointState(state));
}

}  // namespace

Status WriteOptimizerState(torch::optim::Optimizer& optimizer, const std::string& file) {
  // Through an AtomicFile: a full disk is an error here, not an abort inside LibTorch's writer.
  AtomicFile out(file);
  try {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    archive.save_to(out.stream());
  } catch (const c10::Error& e) {
    return DataLoss("cannot write " + file + ": " + e.what_without_backtrace());
  }
  return out.Commit();
}

Result<std::string> WriteCheckpoint(const std::string& run_dir, std::int64_t keep_last,
                                    TaskModel& task, const std::vector<torch::Tensor>& best,
                                    torch::optim::Optimizer& optimizer,
                                    const run::CheckpointState& state) {
  const run::Layout layout(run_dir);
  const std::string root = layout.Checkpoints();
  const std::string final_dir = layout.Checkpoint(state.step);
  const std::string tmp = root + "/." + run::Layout::CheckpointName(state.step) + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return DataLoss("cannot create " + tmp + ": " + ec.message());
  // Written whole or not at all: a failed write (a full disk) leaves no temporary behind, and
  // the checkpoints before this one as they were.
  Status written = WriteCheckpointFiles(tmp, task, best, optimizer, state);
  if (written.ok()) {
    KillPoint("worker.checkpoint.written");
    fs::remove_all(final_dir, ec);
    fs::rename(tmp, final_dir, ec);
    if (ec) written = DataLoss("cannot rename " + tmp + " to " + final_dir + ": " + ec.message());
  }
  if (!written.ok()) {
    fs::remove_all(tmp, ec);
    return written;
  }
  KillPoint("worker.checkpoint.renamed");
  KeepNewest(root, static_cast<std::size_t>(keep_last));
  return final_dir;
}

Result<ReadBack> ReadCheckpoint(const std::string& dir, TaskModel& task,
                                torch::optim::Optimizer& optimizer) {
  ReadBack out;
  const std::string state_file = run::Layout::CheckpointState(dir);
  ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(state_file));
  ENTRENAR_ASSIGN_OR_RETURN(out.state, run::DecodeCheckpointState(text, state_file));
  ENTRENAR_ASSIGN_OR_RETURN(formats::Safetensors weights,
                            formats::ReadSafetensorsFile(dir + "/model.safetensors"));
  ENTRENAR_RETURN_IF_ERROR(task.LoadCheckpointWeights(weights, dir + "/model.safetensors"));
  Result<formats::Safetensors> best = formats::ReadSafetensorsFile(dir + "/best.safetensors");
  if (best.ok()) {
    const std::vector<torch::Tensor> now = Snapshot(task.net());
    ENTRENAR_RETURN_IF_ERROR(task.LoadCheckpointWeights(*best, dir + "/best.safetensors"));
    out.best = Snapshot(task.net());
    RestoreSnapshot(task.net(), now);
  }
  ENTRENAR_ASSIGN_OR_RETURN(const std::string optimizer_bytes,
                            ReadWholeFile(dir + "/optimizer.pt"));
  try {
    torch::serialize::InputArchive archive;
    std::istringstream in(optimizer_bytes);
    archive.load_from(in);
    optimizer.load(archive);
  } catch (const c10::Error& e) {
    return DataLoss(dir +
                    "/optimizer.pt is damaged or of another run: " + e.what_without_backtrace());
  }
  ENTRENAR_RETURN_IF_ERROR(RestoreGenerator(dir));
  return out;
}

}  // namespace entrenar::engine
