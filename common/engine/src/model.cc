#include "model.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"
#include "entrenar/plan/params.h"

#include "fused_adam.h"
#include "lamb.h"

namespace entrenar::engine {
namespace {

namespace nn = torch::nn;

// Gives each sample a fixed shape.
struct ReshapeImpl : nn::Module {
  explicit ReshapeImpl(Shape s) : shape(std::move(s)) {}
  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<std::int64_t> full = {x.size(0)};
    full.insert(full.end(), shape.begin(), shape.end());
    return x.reshape(full);
  }
  Shape shape;
};
TORCH_MODULE(Reshape);

// An embedding table looked up by feature values, which hold integer ids.
struct IdEmbeddingImpl : nn::Module {
  IdEmbeddingImpl(std::int64_t n, std::int64_t dim)
      : weight(register_parameter("weight", torch::randn({n, dim}))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    return torch::embedding(weight, x.to(torch::kLong));
  }
  torch::Tensor weight;
};
TORCH_MODULE(IdEmbedding);

nn::AnyModule Activation(const manifest::ActivationLayer& a) {
  const std::string& t = a.type;
  if (t == "gelu") return nn::AnyModule(nn::GELU());
  if (t == "silu") return nn::AnyModule(nn::SiLU());
  if (t == "tanh") return nn::AnyModule(nn::Tanh());
  if (t == "sigmoid") return nn::AnyModule(nn::Sigmoid());
  if (t == "leaky_relu") {
    return nn::AnyModule(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(a.negative_slope)));
  }
  if (t == "softmax") return nn::AnyModule(nn::Softmax(a.dim));
  if (t == "log_softmax") return nn::AnyModule(nn::LogSoftmax(a.dim));
  return nn::AnyModule(nn::ReLU());
}

template <typename Options>
Options PoolOptions(const manifest::PoolLayer& p) {
  return Options(p.kernel_size).stride(p.stride.value_or(p.kernel_size)).padding(p.padding);
}

// The module of one layer whose samples arrive with shape `in`.
nn::AnyModule Module(const manifest::Layer& l, const Shape& in, const Shape& out) {
  if (l.linear) {
    return nn::AnyModule(nn::Linear(
        nn::LinearOptions(l.linear->in_features, l.linear->out_features).bias(l.linear->bias)));
  }
  if (l.conv1d || l.conv2d) {
    const manifest::ConvLayer& c = l.conv1d ? *l.conv1d : *l.conv2d;
    if (l.conv1d) {
      return nn::AnyModule(
          nn::Conv1d(nn::Conv1dOptions(c.in_channels, c.out_channels, c.kernel_size)
                         .stride(c.stride)
                         .padding(c.padding)
                         .bias(c.bias)));
    }
    return nn::AnyModule(nn::Conv2d(nn::Conv2dOptions(c.in_channels, c.out_channels, c.kernel_size)
                                        .stride(c.stride)
                                        .padding(c.padding)
                                        .bias(c.bias)));
  }
  if (l.max_pool1d)
    return nn::AnyModule(nn::MaxPool1d(PoolOptions<nn::MaxPool1dOptions>(*l.max_pool1d)));
  if (l.max_pool2d)
    return nn::AnyModule(nn::MaxPool2d(PoolOptions<nn::MaxPool2dOptions>(*l.max_pool2d)));
  if (l.avg_pool1d)
    return nn::AnyModule(nn::AvgPool1d(PoolOptions<nn::AvgPool1dOptions>(*l.avg_pool1d)));
  if (l.avg_pool2d)
    return nn::AnyModule(nn::AvgPool2d(PoolOptions<nn::AvgPool2dOptions>(*l.avg_pool2d)));
  if (l.flatten) {
    return nn::AnyModule(nn::Flatten(
        nn::FlattenOptions().start_dim(l.flatten->start_dim).end_dim(l.flatten->end_dim)));
  }
  if (l.reshape) return nn::AnyModule(Reshape(out));
  if (l.batchnorm) {
    const auto& b = *l.batchnorm;
    if (in.size() == 3) {
      return nn::AnyModule(
          nn::BatchNorm2d(nn::BatchNorm2dOptions(b.num_features).eps(b.eps).momentum(b.momentum)));
    }
    return nn::AnyModule(
        nn::BatchNorm1d(nn::BatchNorm1dOptions(b.num_features).eps(b.eps).momentum(b.momentum)));
  }
  if (l.layernorm) {
    return nn::AnyModule(
        nn::LayerNorm(nn::LayerNormOptions({l.layernorm->normalized_shape}).eps(l.layernorm->eps)));
  }
  if (l.embedding) {
    return nn::AnyModule(IdEmbedding(l.embedding->num_embeddings, l.embedding->embedding_dim));
  }
  if (l.dropout) return nn::AnyModule(nn::Dropout(l.dropout->p));
  return Activation(*l.activation);
}

std::vector<std::string> ParameterNames(const nn::Module& model, const std::string& prefix) {
  std::vector<std::string> names;
  for (const auto& p : model.named_parameters()) names.push_back(prefix + p.key());
  return names;
}

template <typename Opt, typename Options, typename... Args>
std::unique_ptr<torch::optim::Optimizer> WithGroups(const std::vector<Group>& groups,
                                                    const Options& defaults, Args... args) {
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (const Group& g : groups) {
    auto options = std::make_unique<Options>(defaults);
    options->lr(g.lr);
    options->weight_decay(g.weight_decay);
    param_groups.emplace_back(g.params, std::move(options));
  }
  return std::make_unique<Opt>(std::move(param_groups), defaults, args...);
}

// A float tensor of any safetensors float type as float32, or undefined for other types.
torch::Tensor FromSafetensors(const formats::Tensor& t) {
  const std::map<formats::DType, torch::ScalarType> kinds = {
      {formats::DType::kF64, torch::kDouble},
      {formats::DType::kF32, torch::kFloat},
      {formats::DType::kF16, torch::kHalf},
      {formats::DType::kBF16, torch::kBFloat16}};
  const auto kind = kinds.find(t.dtype);
  if (kind == kinds.end()) return {};
  auto* data = const_cast<char*>(t.bytes.data());
  return torch::from_blob(data, t.shape, torch::TensorOptions().dtype(kind->second))
      .to(torch::kFloat)
      .clone();
}

// The model's float parameters and buffers by full name.
std::vector<std::pair<std::string, torch::Tensor>> FloatTensors(nn::Sequential& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : model->named_parameters()) out.emplace_back("layers." + p.key(), p.value());
  for (auto& b : model->named_buffers()) {
    if (b.value().is_floating_point()) out.emplace_back("layers." + b.key(), b.value());
  }
  return out;
}

}  // namespace

bool IsOutputActivation(const manifest::Manifest& m, std::size_t layer) {
  const auto& layers = m.model.architecture->layers;
  if (layer + 1 != layers.size() || !layers[layer].activation) return false;
  const std::string& t = layers[layer].activation->type;
  return t == "softmax" || t == "log_softmax" || (t == "sigmoid" && m.training.loss == "bce");
}

formats::Tensor ToF32(const std::string& name, const torch::Tensor& value) {
  const torch::Tensor t = value.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return formats::MakeF32Tensor(
      name, t.sizes().vec(),
      std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel()));
}

nn::Sequential BuildModel(const manifest::Manifest& m, const Shape& input,
                          const std::vector<Shape>& shapes) {
  const auto& layers = m.model.architecture->layers;
  nn::Sequential seq;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (IsOutputActivation(m, i)) continue;
    seq->push_back(Module(layers[i], i == 0 ? input : shapes[i - 1], shapes[i]));
  }
  return seq;
}

Status ApplyFreeze(nn::Sequential& model, const std::vector<std::string>& patterns) {
  return ApplyFreeze(*model, "layers.", patterns);
}

Status ApplyFreeze(nn::Module& model, const std::string& prefix,
                   const std::vector<std::string>& patterns) {
  for (const std::string& pattern : patterns) {
    bool any = false;
    for (auto& p : model.named_parameters()) {
      if (plan::ParameterMatches(pattern, prefix + p.key())) {
        p.value().requires_grad_(false);
        any = true;
      }
    }
    if (!any) {
      return InvalidArgument("model.freeze: `" + pattern +
                             "` matches no parameter; parameters are " +
                             JoinQuoted(ParameterNames(model, prefix)));
    }
  }
  return OkStatus();
}

Result<std::vector<Group>> MakeGroups(const nn::Sequential& model,
                                      const manifest::OptimizerConfig& o) {
  return MakeGroups(*model, "layers.", o);
}

Result<std::vector<Group>> MakeGroups(const nn::Module& model, const std::string& prefix,
                                      const manifest::OptimizerConfig& o) {
  std::vector<Group> groups(o.param_groups.size() + 1);
  groups.back().lr = o.lr;
  groups.back().weight_decay = o.weight_decay;
  for (std::size_t g = 0; g < o.param_groups.size(); ++g) {
    groups[g].lr = o.param_groups[g].lr.value_or(o.lr);
    groups[g].weight_decay = o.param_groups[g].weight_decay.value_or(o.weight_decay);
  }
  for (const auto& p : model.named_parameters()) {
    if (!p.value().requires_grad()) continue;
    std::size_t g = 0;
    while (g < o.param_groups.size() &&
           !plan::ParameterMatches(o.param_groups[g].params, prefix + p.key()))
      ++g;
    groups[g].params.push_back(p.value());
  }
  for (std::size_t g = 0; g < o.param_groups.size(); ++g) {
    if (groups[g].params.empty()) {
      return InvalidArgument("optimizer.param_groups[" + std::to_string(g) + "].params: `" +
                             o.param_groups[g].params +
                             "` matches no trainable parameter; parameters are " +
                             JoinQuoted(ParameterNames(model, prefix)));
    }
  }
  if (groups.back().params.empty()) groups.pop_back();
  if (groups.empty())
    return InvalidArgument("model.freeze: every parameter is frozen; nothing would train");
  return groups;
}

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(const manifest::OptimizerConfig& o,
                                                       const std::vector<Group>& groups) {
  namespace optim = torch::optim;
  if (o.name == "sgd") {
    return WithGroups<optim::SGD>(groups, optim::SGDOptions(o.lr)
                                              .momentum(o.momentum)
                                              .dampening(o.dampening)
                                              .weight_decay(o.weight_decay)
                                              .nesterov(o.nesterov));
  }
  if (o.name == "adam" || o.name == "adamw") {
    // LibTorch's Adam and AdamW, on flat buffers (fused_adam.h).
    return WithGroups<FusedAdam>(groups,
                                 optim::AdamWOptions(o.lr)
                                     .betas({o.betas[0], o.betas[1]})
                                     .eps(o.eps)
                                     .weight_decay(o.weight_decay)
                                     .amsgrad(o.amsgrad),
                                 /*decoupled=*/o.name == "adamw");
  }
  if (o.name == "rmsprop") {
    return WithGroups<optim::RMSprop>(groups, optim::RMSpropOptions(o.lr)
                                                  .alpha(o.alpha)
                                                  .eps(o.eps)
                                                  .weight_decay(o.weight_decay)
                                                  .momentum(o.momentum)
                                                  .centered(o.centered));
  }
  if (o.name == "lamb") {
    return WithGroups<Lamb>(
        groups,
        LambOptions(o.lr).betas({o.betas[0], o.betas[1]}).eps(o.eps).weight_decay(o.weight_decay));
  }
  return WithGroups<optim::Adagrad>(
      groups, optim::AdagradOptions(o.lr).weight_decay(o.weight_decay).eps(o.eps));
}

void ZeroGrad(torch::optim::Optimizer& optimizer) {
  if (auto* fused = dynamic_cast<FusedAdam*>(&optimizer)) {
    fused->ZeroGrad();
  } else {
    optimizer.zero_grad();
  }
}

formats::Safetensors Weights(const nn::Sequential& model) {
  formats::Safetensors st;
  for (const auto& p : model->named_parameters())
    st.tensors.push_back(ToF32("layers." + p.key(), p.value()));
  for (const auto& b : model->named_buffers()) {
    if (b.value().is_floating_point()) st.tensors.push_back(ToF32("layers." + b.key(), b.value()));
  }
  return st;
}

Status WritePt(const nn::Sequential& model, const std::map<std::string, std::string>& metadata,
               const std::string& path) {
  torch::serialize::OutputArchive root, layers;
  model->save(layers);
  root.write("layers", layers);
  for (const auto& [key, value] : metadata) {
    std::string name = key;
    std::replace(name.begin(), name.end(), '.', '_');
    root.write(name, c10::IValue(value));
  }
  // Through an AtomicFile: a full disk is an error here, not an abort inside LibTorch's writer.
  AtomicFile out(path);
  try {
    root.save_to(out.stream());
  } catch (const c10::Error& e) {
    return DataLoss("cannot write " + path + ": " + e.what_without_backtrace());
  }
  return out.Commit();
}

namespace {

// Every tensor under `archive`, nested archives (a module's submodules) included.
void CollectTensors(torch::serialize::InputArchive& archive, const std::string& prefix,
                    formats::Safetensors* st) {
  for (const std::string& key : archive.keys()) {
    torch::Tensor t;
    torch::serialize::InputArchive nested;
    if (archive.try_read(key, t) || archive.try_read(key, t, true)) {
      if (t.is_floating_point()) st->tensors.push_back(ToF32(prefix + "." + key, t));
    } else if (archive.try_read(key, nested)) {
      CollectTensors(nested, prefix + "." + key, st);
    }
  }
}

}  // namespace

Result<formats::Safetensors> ReadPt(const std::string& path) {
  formats::Safetensors st;
  // Read as every model file is (a FIFO or a device refused), then parsed from memory.
  ENTRENAR_ASSIGN_OR_RETURN(const std::string bytes, ReadWholeFile(path));
  try {
    torch::serialize::InputArchive root, layers;
    std::istringstream in(bytes);
    root.load_from(in);
    if (!root.try_read("layers", layers)) {
      return InvalidArgument(path + " has no `layers`: it is not a model.pt entrenar wrote");
    }
    CollectTensors(layers, "layers", &st);
  } catch (const c10::Error& e) {
    return InvalidArgument(path + " is not a LibTorch archive (a model.pt entrenar wrote): " +
                           e.what_without_backtrace());
  } catch (const std::exception& e) {
    return InvalidArgument(path +
                           " is not a LibTorch archive (a model.pt entrenar wrote): " + e.what());
  }
  return st;
}

Status LoadWeights(nn::Sequential& model, const formats::Safetensors& st, const std::string& file) {
  torch::NoGradGuard no_grad;
  // Names without the `layers.` prefix (a PyTorch nn.Sequential's) are accepted too.
  bool prefixed = st.tensors.empty();
  for (const formats::Tensor& t : st.tensors)
    prefixed = prefixed || t.name.rfind("layers.", 0) == 0;
  auto full_name = [&](const std::string& n) { return prefixed ? n : "layers." + n; };
  std::map<std::string, const formats::Tensor*> given;
  for (const formats::Tensor& t : st.tensors) given[full_name(t.name)] = &t;
  std::vector<std::string> missing, misshaped, unexpected;
  std::set<std::string> used;
  for (auto& [name, target] : FloatTensors(model)) {
    const auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name + " (" + FormatShape(target.sizes().vec()) + ")");
      continue;
    }
    used.insert(name);
    const torch::Tensor value = FromSafetensors(*it->second);
    if (!value.defined() || it->second->shape != target.sizes().vec()) {
      misshaped.push_back(name + " is " + formats::DTypeName(it->second->dtype) + " " +
                          FormatShape(it->second->shape) + ", the model needs float " +
                          FormatShape(target.sizes().vec()));
      continue;
    }
    target.copy_(value);
  }
  for (const auto& [name, t] : given) {
    if (!used.count(name)) unexpected.push_back(name);
  }
  if (missing.empty() && misshaped.empty() && unexpected.empty()) return OkStatus();
  std::string what = file + " does not fit the model:";
  if (!missing.empty()) what += " missing " + Join(missing, ", ") + ";";
  if (!misshaped.empty()) what += " mis-shaped " + Join(misshaped, ", ") + ";";
  if (!unexpected.empty()) what += " unexpected " + Join(unexpected, ", ") + ";";
  what.pop_back();
  return InvalidArgument(what);
}

}  // namespace entrenar::engine
