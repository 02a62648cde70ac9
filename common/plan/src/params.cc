#include "entrenar/plan/params.h"

#include <fnmatch.h>

namespace entrenar::plan {

std::int64_t DefaultIntermediateSize(std::int64_t hidden_size) {
  return (8 * hidden_size / 3 + 63) / 64 * 64;
}

double LayerParameters(const manifest::Layer& l) {
  auto d = [](std::int64_t v) { return static_cast<double>(v); };
  if (l.linear) {
    return d(l.linear->in_features) * d(l.linear->out_features) +
           (l.linear->bias ? d(l.linear->out_features) : 0);
  }
  if (l.conv1d || l.conv2d) {
    const auto& c = l.conv1d ? *l.conv1d : *l.conv2d;
    const double k = l.conv1d ? d(c.kernel_size) : d(c.kernel_size) * d(c.kernel_size);
    return d(c.in_channels) * d(c.out_channels) * k + (c.bias ? d(c.out_channels) : 0);
  }
  if (l.batchnorm) return 2 * d(l.batchnorm->num_features);
  if (l.layernorm) return 2 * d(l.layernorm->normalized_shape);
  if (l.embedding) return d(l.embedding->num_embeddings) * d(l.embedding->embedding_dim);
  return 0;
}

namespace {

std::optional<double> TransformerParameters(const manifest::ArchitectureConfig& a) {
  if (!a.hidden_size || !a.num_layers || !a.num_heads || !a.vocab_size) return std::nullopt;
  const double h = static_cast<double>(*a.hidden_size);
  const double layers = static_cast<double>(*a.num_layers);
  const double v = static_cast<double>(*a.vocab_size);
  const double kv = static_cast<double>(a.num_kv_heads.value_or(*a.num_heads));
  const double head = h / static_cast<double>(*a.num_heads);
  const double inter =
      static_cast<double>(a.intermediate_size.value_or(DefaultIntermediateSize(*a.hidden_size)));
  const double attn = h * h * 2 + 2 * h * head * kv;
  const double mlp = 3 * h * inter;
  const double embed = v * h * (a.tie_word_embeddings.value_or(false) ? 1 : 2);
  return embed + layers * (attn + mlp + 2 * h) + h;
}

}  // namespace

std::optional<double> ModelParameters(const manifest::ArchitectureConfig& a) {
  if (a.type != "sequential") return TransformerParameters(a);
  double params = 0;
  for (const manifest::Layer& l : a.layers) params += LayerParameters(l);
  return params;
}

std::vector<std::string> SequentialParameterNames(const manifest::ArchitectureConfig& a) {
  std::vector<std::string> names;
  for (std::size_t i = 0; i < a.layers.size(); ++i) {
    const manifest::Layer& l = a.layers[i];
    const std::string at = "layers." + std::to_string(i) + ".";
    bool bias = l.batchnorm || l.layernorm;
    if (l.linear) bias = l.linear->bias;
    if (l.conv1d || l.conv2d) bias = (l.conv1d ? *l.conv1d : *l.conv2d).bias;
    if (l.linear || l.conv1d || l.conv2d || l.batchnorm || l.layernorm || l.embedding)
      names.push_back(at + "weight");
    if (bias) names.push_back(at + "bias");
  }
  return names;
}

bool ParameterMatches(const std::string& pattern, const std::string& name) {
  const std::string inner = name.substr(name.find('.') + 1);
  for (const std::string& n : {name, inner}) {
    if (fnmatch(pattern.c_str(), n.c_str(), 0) == 0) return true;
    if (n.rfind(pattern + ".", 0) == 0) return true;
  }
  return false;
}

}  // namespace entrenar::plan
