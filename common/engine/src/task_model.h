// What differs between the two kinds of run: a sequential model on feature rows
// (tabular_model.cc) and a transformer on rows of token ids (language_model.cc). The loop,
// checkpoints, callbacks and quantization see only this interface. Internal to the engine
// (includes LibTorch).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/engine/dataset.h"
#include "entrenar/engine/shape.h"
#include "entrenar/engine/text_data.h"
#include "entrenar/engine/trainer.h"
#include "entrenar/formats/safetensors.h"
#include "entrenar/manifest/manifest.h"

#include "fake_quant.h"
#include "loader.h"
#include "model.h"
#include "precision.h"
#include "run_context.h"

namespace entrenar::engine {

// The splits as tensors on the CPU: inputs x and targets y.
struct Splits {
  torch::Tensor train_x, train_y, val_x, val_y, test_x, test_y;
};

// A confusion matrix: [true class][predicted class] counts.
using Confusion = std::vector<std::vector<std::int64_t>>;

// sample_predictions (SPEC §9): rows for samples.jsonl, from the validation split (`val`) or
// the test split, and the log line's account of them. No rows: nothing to sample.
struct Samples {
  bool val = true;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  std::string what;   // "7/10 right", "3 generations"
  std::string sheet;  // image data: an SVG contact sheet of the samples
};

// A model, its data and what the task does with them. Used by the training thread only.
class TaskModel {
 public:
  virtual ~TaskModel() = default;

  torch::nn::Module& net() { return *net_; }
  const Splits& splits() const { return splits_; }
  ActivationHooks& activation_hooks() { return hooks_; }

  // Parameter names as saved: a sequential model's are `layers.` + the module's name.
  virtual std::string ParameterPrefix() const = 0;
  // Parameters of the model (a quantized base counted before quantization).
  virtual std::int64_t Parameters() const = 0;
  // The class names, in index order (empty for regression and language models).
  virtual std::vector<std::string> Classes() const { return {}; }
  // The samples its data left out (images that could not be read), each with why.
  virtual std::vector<std::string> Skipped() const { return {}; }

  // How epoch `epoch`'s training batches are built from their rows (image data: decoded and
  // augmented; augmented text); empty: the rows of splits().train_x and train_y.
  virtual BatchBuilder TrainingBatches(std::int64_t /*epoch*/) const { return {}; }
  // Inputs from training rows where splits().train_x holds row numbers, not inputs (image data:
  // the images decoded as in epoch 0), for calibration; empty: train_x is the inputs.
  virtual InputBuilder TrainingInputs() const { return {}; }

  // The training loss of one batch (autocast is the caller's).
  virtual torch::Tensor TrainLoss(const torch::Tensor& xb, const torch::Tensor& yb) = 0;
  // Whether the task counts tokens (tokens_per_second), and the input tokens of a batch.
  virtual bool CountsTokens() const { return false; }
  virtual std::int64_t Tokens(const torch::Tensor&) const { return 0; }
  // Loss and metrics of `x`/`y` in evaluation mode, named `prefix` + metric (val_, test_). The
  // confusion matrix, when the manifest asks for it, goes to `confusion`.
  virtual std::map<std::string, double> Evaluate(const torch::Tensor& x, const torch::Tensor& y,
                                                 const std::string& prefix,
                                                 Confusion* confusion) = 0;
  // One forward of a batch in evaluation mode, without gradients (calibration).
  virtual void Calibrate(const torch::Tensor& xb) = 0;
  // Activation quantizers on the inputs of the layers whose weights are quantized.
  virtual void AddActivationQuantizers(const manifest::Manifest& m, const QuantSpec& spec,
                                       bool dynamic) = 0;

  // The tensors a checkpoint keeps, and loading them back.
  virtual formats::Safetensors CheckpointWeights() = 0;
  virtual Status LoadCheckpointWeights(const formats::Safetensors& st, const std::string& file) = 0;

  // sample_predictions of callback `cb` at a step (`seed` varies with it).
  virtual Result<Samples> Sample(const manifest::CallbackConfig& cb, std::uint64_t seed) = 0;
  // Writes the trained model into `dir`; returns the names of the files written.
  virtual Result<std::vector<std::string>> Save(const std::string& dir) = 0;

 protected:
  std::shared_ptr<torch::nn::Module> net_;
  Splits splits_;
  ActivationHooks hooks_;
};

// The inputs of image batches in epoch `epoch`: each row's training image decoded and through
// every transform (TrainingImage), uint8 NCHW; throws BatchError for an image that cannot be.
// `data` must outlive the builder.
InputBuilder ImageBatchInputs(const PreparedData& data, std::int64_t epoch);

// Images (uint8 NCHW) as the model reads them, in float32: scaled to [0, 1] and normalized as
// torchvision's ToTensor and Normalize do it (divide by 255, subtract the mean, divide by the std).
torch::Tensor ImagesAsInput(const torch::Tensor& pixels, const ImageData& images);

// A sequential model before it is placed: its modules and each layer's output shape.
struct TabularParts {
  torch::nn::Sequential model;
  std::vector<Group> groups;
  std::vector<Shape> shapes;
  std::vector<std::string> lora_layers;  // the layers LoRA adapts (`layers.0`), if any
};

// The model of `m` for feature data `d`: shapes and ids checked, weights from model.source,
// freezing and optimizer groups applied (the dry run uses it too).
Result<TabularParts> BuildTabular(const manifest::Manifest& m, const PreparedData& d,
                                  const std::string& base_dir);

// A sequential model on feature data, on its device in its dtype; logs what it trains on.
Result<std::unique_ptr<TaskModel>> MakeTabularModel(const manifest::Manifest& m,
                                                    const TrainOptions& options,
                                                    const Precision& prec, PreparedData data,
                                                    Reporter& out);

// A transformer on text data (rows of token ids, padded to max_length or to the longest), on
// its device in its dtype; logs what it trains on.
Result<std::unique_ptr<TaskModel>> MakeLanguageModel(const manifest::Manifest& m,
                                                     const TrainOptions& options,
                                                     const Precision& prec, TextData data,
                                                     Reporter& out);

}  // namespace entrenar::engine
