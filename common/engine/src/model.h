// Building sequential models, freezing, optimizer groups and weight files. Internal to the
// engine (includes LibTorch).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "entrenar/base/status.h"
#include "entrenar/engine/shape.h"
#include "entrenar/formats/safetensors.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// A last softmax (or a sigmoid under the bce loss) is part of the model at inference, but
// training and evaluation use the logits before it (the stable log-softmax / logits form).
bool IsOutputActivation(const manifest::Manifest& m, std::size_t layer);

// The modules of `arch`, one per manifest layer (module i is layers[i], so parameters are named
// `layers.<i>.weight`); `shapes` come from InferShapes. An output activation is left out.
torch::nn::Sequential BuildModel(const manifest::Manifest& m, const Shape& input,
                                 const std::vector<Shape>& shapes);

// model.freeze: matching parameters stop requiring gradients; a pattern matching nothing fails.
// Parameter names are `prefix` + the module's name (`layers.` for sequential models).
Status ApplyFreeze(torch::nn::Sequential& model, const std::vector<std::string>& patterns);
Status ApplyFreeze(torch::nn::Module& model, const std::string& prefix,
                   const std::vector<std::string>& patterns);

// Trainable parameters split into optimizer groups: each of optimizer.param_groups (a
// parameter joins the first that matches), then the rest with the defaults.
struct Group {
  std::vector<torch::Tensor> params;
  double lr = 0;
  double weight_decay = 0;
};
Result<std::vector<Group>> MakeGroups(const torch::nn::Sequential& model,
                                      const manifest::OptimizerConfig& o);
Result<std::vector<Group>> MakeGroups(const torch::nn::Module& model, const std::string& prefix,
                                      const manifest::OptimizerConfig& o);
// Adam and AdamW flatten their groups' parameters into one buffer each (see fused_adam.h):
// make the optimizer after the model is on its device and in its dtype.
std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const manifest::OptimizerConfig& o,
                                                       const std::vector<Group>& groups);
// Zeroes the gradients the optimizer updates.
void ZeroGrad(torch::optim::Optimizer& optimizer);

// `value` as a float32 safetensors tensor (copied to the CPU first).
formats::Tensor ToF32(const std::string& name, const torch::Tensor& value);

// The model's parameters and float buffers as float32 `layers.<name>` tensors.
formats::Safetensors Weights(const torch::nn::Sequential& model);

// Writes the model as a LibTorch archive that PyTorch reads with torch.jit.load: parameters and
// buffers under `layers.<name>`, and each metadata entry as a string attribute (dots in keys
// become underscores: `entrenar_preprocessing`). Written to a temporary name, then renamed.
Status WritePt(const torch::nn::Sequential& model,
               const std::map<std::string, std::string>& metadata, const std::string& path);

// The tensors of a model.pt that WritePt wrote (a LibTorch archive whose `layers` hold the
// model's modules), named as in model.safetensors (`layers.0.weight`), for LoadWeights. A file
// that is no such archive is kInvalidArgument naming it.
Result<formats::Safetensors> ReadPt(const std::string& path);

// Copies the tensors of `st` into the model by name. Every float parameter and buffer must be
// there with its shape; any float type converts. `file` names the source in errors, which list
// every missing, unexpected and mis-shaped tensor. Names may drop the `layers.` prefix (as a
// PyTorch nn.Sequential's state_dict does).
Status LoadWeights(torch::nn::Sequential& model, const formats::Safetensors& st,
                   const std::string& file);

}  // namespace entrenar::engine
