#include "entrenar/plan/params.h"

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

}  // namespace entrenar::plan
