#include "sequential_lora.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "entrenar/plan/support.h"

#include "model.h"

namespace entrenar::engine {
namespace {

namespace nn = torch::nn;

// A linear layer with a low-rank update; its own weight and bias stay frozen.
class LoraLinearImpl : public nn::Module {
 public:
  LoraLinearImpl(const nn::Linear& base, const manifest::LoraConfig& lora)
      : scale_(lora.alpha / static_cast<double>(lora.rank)) {
    const std::int64_t out = base->weight.size(0), in = base->weight.size(1);
    weight = register_parameter("weight", base->weight.detach().clone(), false);
    if (base->bias.defined()) bias = register_parameter("bias", base->bias.detach().clone(), false);
    a = register_module("lora_A", nn::Linear(nn::LinearOptions(in, lora.rank).bias(false)));
    b = register_module("lora_B", nn::Linear(nn::LinearOptions(lora.rank, out).bias(false)));
    dropout = register_module("lora_dropout", nn::Dropout(lora.dropout));
    torch::NoGradGuard no_grad;
    if (lora.init_weights == "xavier") {
      nn::init::xavier_uniform_(a->weight);
    } else if (lora.init_weights == "kaiming") {
      nn::init::kaiming_uniform_(a->weight, std::sqrt(5.0));
    } else {  // gaussian, as PEFT: N(0, 1/rank)
      a->weight.normal_(0, 1.0 / static_cast<double>(lora.rank));
    }
    b->weight.zero_();
  }

  torch::Tensor forward(const torch::Tensor& x) {
    return nn::functional::linear(x, weight, bias) + scale_ * b(a(dropout(x)));
  }

  torch::Tensor Merged() const { return weight + scale_ * torch::matmul(b->weight, a->weight); }

  torch::Tensor weight, bias;
  nn::Linear a{nullptr}, b{nullptr};
  nn::Dropout dropout{nullptr};

 private:
  double scale_;
};
TORCH_MODULE(LoraLinear);

}  // namespace

Result<std::vector<std::string>> ApplySequentialLora(nn::Sequential& model,
                                                     const manifest::LoraConfig& lora) {
  nn::Sequential adapted_model;
  std::vector<std::string> adapted, linear_layers;
  std::size_t i = 0;
  for (const nn::AnyModule& module : *model) {
    const std::string layer = "layers." + std::to_string(i);
    const auto linear = std::dynamic_pointer_cast<nn::LinearImpl>(module.ptr());
    if (linear) linear_layers.push_back(layer);
    if (linear && plan::LoraTargetsLayer(lora, layer)) {
      adapted_model->push_back(std::to_string(i), LoraLinear(nn::Linear(linear), lora));
      adapted.push_back(layer);
    } else {
      adapted_model->push_back(std::to_string(i), module);
    }
    ++i;
  }
  if (adapted.empty()) {
    std::string names;
    for (const std::string& l : linear_layers) names += (names.empty() ? "" : ", ") + l;
    return InvalidArgument("lora.target_modules names no linear layer (the linear layers are " +
                           names + ")");
  }
  for (auto& p : adapted_model->named_parameters()) {
    if (p.key().find(".lora_") == std::string::npos) p.value().requires_grad_(false);
  }
  model = adapted_model;
  return adapted;
}

formats::Safetensors MergedSequentialWeights(const nn::Sequential& model) {
  torch::NoGradGuard no_grad;
  formats::Safetensors st = Weights(model);
  st.tensors.erase(std::remove_if(st.tensors.begin(), st.tensors.end(),
                                  [](const formats::Tensor& t) {
                                    return t.name.find(".lora_") != std::string::npos;
                                  }),
                   st.tensors.end());
  std::size_t i = 0;
  for (const nn::AnyModule& module : *model) {
    if (const auto lora = std::dynamic_pointer_cast<LoraLinearImpl>(module.ptr())) {
      const std::string name = "layers." + std::to_string(i) + ".weight";
      for (formats::Tensor& t : st.tensors) {
        if (t.name == name) t = ToF32(name, lora->Merged());
      }
    }
    ++i;
  }
  return st;
}

formats::Safetensors SequentialAdapterWeights(const nn::Sequential& model) {
  formats::Safetensors st;
  for (const auto& p : model->named_parameters()) {
    if (p.key().find(".lora_") == std::string::npos) continue;
    st.tensors.push_back(ToF32("base_model.model.layers." + p.key(), p.value()));
  }
  return st;
}

}  // namespace entrenar::engine
