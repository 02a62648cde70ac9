// Shape inference for sequential models, without LibTorch: every mismatch is found before a
// model is built, and reported against the manifest's layer.
#include "entrenar/engine/shape.h"

#include <cmath>
#include <numeric>

#include "entrenar/base/strings.h"

namespace entrenar::engine {
namespace {

using manifest::Layer;

std::int64_t Numel(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), std::int64_t{1}, std::multiplies<>());
}

std::string KindOf(const Layer& l) {
  if (l.linear) return "linear";
  if (l.conv1d) return "conv1d";
  if (l.conv2d) return "conv2d";
  if (l.max_pool1d) return "max_pool1d";
  if (l.max_pool2d) return "max_pool2d";
  if (l.avg_pool1d) return "avg_pool1d";
  if (l.avg_pool2d) return "avg_pool2d";
  if (l.flatten) return "flatten";
  if (l.reshape) return "reshape";
  if (l.batchnorm) return "batchnorm";
  if (l.layernorm) return "layernorm";
  if (l.embedding) return "embedding";
  if (l.dropout) return "dropout";
  return "activation";
}

// A hint for giving flat features the rank a convolution or pooling layer needs.
std::string ReshapeHint(const Shape& in, std::int64_t channels, int spatial_dims) {
  if (in.size() != 1) return "";
  const std::int64_t per_channel = in[0] / channels;
  if (spatial_dims == 1) {
    return "add `- reshape: [" + std::to_string(channels) + ", " + std::to_string(per_channel) +
           "]` before it";
  }
  const auto side = static_cast<std::int64_t>(std::llround(std::sqrt(double(per_channel))));
  if (side * side == per_channel && per_channel * channels == in[0]) {
    return "add `- reshape: [" + std::to_string(channels) + ", " + std::to_string(side) + ", " +
           std::to_string(side) + "]` before it";
  }
  return "add `- reshape: [channels, height, width]` before it";
}

// Output length of a convolution or pooling window along one dimension.
std::int64_t WindowOut(std::int64_t in, std::int64_t kernel, std::int64_t stride,
                       std::int64_t padding) {
  return (in + 2 * padding - kernel) / stride + 1;
}

class Inference {
 public:
  Inference(const Layer& l, std::size_t index, Shape in)
      : l_(l),
        in_(std::move(in)),
        where_("model.architecture.layers[" + std::to_string(index) + "] (" + KindOf(l) + ")") {}

  Result<Shape> Run(bool first) {
    if (l_.linear)
      return Last("linear.in_features", l_.linear->in_features, l_.linear->out_features);
    if (l_.layernorm) {
      return Last("layernorm.normalized_shape", l_.layernorm->normalized_shape,
                  l_.layernorm->normalized_shape);
    }
    if (l_.conv1d) return Conv(*l_.conv1d, 1);
    if (l_.conv2d) return Conv(*l_.conv2d, 2);
    if (l_.max_pool1d) return Pool(*l_.max_pool1d, 1);
    if (l_.avg_pool1d) return Pool(*l_.avg_pool1d, 1);
    if (l_.max_pool2d) return Pool(*l_.max_pool2d, 2);
    if (l_.avg_pool2d) return Pool(*l_.avg_pool2d, 2);
    if (l_.flatten) return Flatten();
    if (l_.reshape) return Reshape();
    if (l_.batchnorm) return BatchNorm();
    if (l_.embedding) {
      if (!first) {
        return Fail("an embedding looks up integer ids, so it must be the first layer");
      }
      Shape out = in_;
      out.push_back(l_.embedding->embedding_dim);
      return out;
    }
    return in_;  // dropout and activations keep the shape
  }

 private:
  Status Fail(const std::string& what, const std::string& hint = "") const {
    return InvalidArgument(where_ + ": " + what + (hint.empty() ? "" : "; " + hint));
  }

  std::string Input() const { return "its input is " + FormatShape(in_); }
  std::string TheInput() const { return "the input " + FormatShape(in_); }

  // Layers acting on the last dimension.
  Result<Shape> Last(const std::string& key, std::int64_t want, std::int64_t out_width) const {
    if (in_.back() != want) {
      return Fail(key.substr(key.find('.') + 1) + " is " + std::to_string(want) + " but " +
                      Input() + (in_.size() == 1 ? " (features)" : ""),
                  "set " + key + " to " + std::to_string(in_.back()));
    }
    Shape out = in_;
    out.back() = out_width;
    return out;
  }

  Result<Shape> Conv(const manifest::ConvLayer& c, int dims) const {
    const std::size_t rank = static_cast<std::size_t>(dims) + 1;
    if (in_.size() != rank) {
      return Fail("expects channels x " + std::string(dims == 1 ? "length" : "height x width") +
                      " but " + Input(),
                  ReshapeHint(in_, c.in_channels, dims));
    }
    if (in_[0] != c.in_channels) {
      return Fail("in_channels is " + std::to_string(c.in_channels) + " but " + Input(),
                  "set in_channels to " + std::to_string(in_[0]));
    }
    Shape out = {c.out_channels};
    for (std::size_t d = 1; d < rank; ++d) {
      const std::int64_t n = WindowOut(in_[d], c.kernel_size, c.stride, c.padding);
      if (n < 1) {
        return Fail("kernel_size " + std::to_string(c.kernel_size) + " is larger than " +
                        TheInput() + " (with padding " + std::to_string(c.padding) + ")",
                    "use a smaller kernel_size or more padding");
      }
      out.push_back(n);
    }
    return out;
  }

  Result<Shape> Pool(const manifest::PoolLayer& p, int dims) const {
    const std::size_t rank = static_cast<std::size_t>(dims) + 1;
    if (in_.size() != rank) {
      return Fail("expects channels x " + std::string(dims == 1 ? "length" : "height x width") +
                      " but " + Input(),
                  ReshapeHint(in_, 1, dims));
    }
    if (2 * p.padding > p.kernel_size) {
      return Fail("padding " + std::to_string(p.padding) + " is more than half of kernel_size " +
                  std::to_string(p.kernel_size));
    }
    Shape out = {in_[0]};
    for (std::size_t d = 1; d < rank; ++d) {
      const std::int64_t n =
          WindowOut(in_[d], p.kernel_size, p.stride.value_or(p.kernel_size), p.padding);
      if (n < 1) {
        return Fail(
            "kernel_size " + std::to_string(p.kernel_size) + " is larger than " + TheInput(),
            "use a smaller kernel_size");
      }
      out.push_back(n);
    }
    return out;
  }

  // start_dim and end_dim count the batch dimension, as in PyTorch.
  Result<Shape> Flatten() const {
    const auto rank = static_cast<std::int64_t>(in_.size()) + 1;
    std::int64_t start = l_.flatten->start_dim, end = l_.flatten->end_dim;
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    if (start < 1 || end >= rank || start > end) {
      return Fail("start_dim " + std::to_string(l_.flatten->start_dim) + " and end_dim " +
                      std::to_string(l_.flatten->end_dim) + " do not fit " + TheInput() +
                      " (dimension 0 is the batch)",
                  "the defaults (1, -1) flatten each sample");
    }
    Shape out(in_.begin(), in_.begin() + (start - 1));
    out.push_back(Numel(Shape(in_.begin() + (start - 1), in_.begin() + end)));
    out.insert(out.end(), in_.begin() + end, in_.end());
    return out;
  }

  Result<Shape> Reshape() const {
    Shape out = l_.reshape->shape;
    const std::int64_t total = Numel(in_);
    std::int64_t known = 1;
    std::size_t inferred = out.size();
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i] == -1) {
        inferred = i;
      } else {
        known *= out[i];
      }
    }
    if (inferred < out.size() && known > 0 && total % known == 0) out[inferred] = total / known;
    if (Numel(out) != total) {
      return Fail("shape " + FormatShape(l_.reshape->shape) + " does not hold " + TheInput() +
                  " (" + std::to_string(total) + " values)");
    }
    return out;
  }

  Result<Shape> BatchNorm() const {
    if (in_.size() > 3) return Fail("expects at most channels x height x width but " + Input());
    const std::int64_t channels = in_[0];
    if (channels != l_.batchnorm->num_features) {
      return Fail(
          "num_features is " + std::to_string(l_.batchnorm->num_features) + " but " + Input(),
          "set num_features to " + std::to_string(channels));
    }
    return in_;
  }

  const Layer& l_;
  Shape in_;
  std::string where_;
};

}  // namespace

std::string FormatShape(const Shape& s) {
  std::vector<std::string> parts;
  for (std::int64_t d : s) parts.push_back(std::to_string(d));
  return parts.empty() ? "a scalar" : Join(parts, "x");
}

Result<std::vector<Shape>> InferShapes(const manifest::ArchitectureConfig& arch,
                                       const Shape& input) {
  std::vector<Shape> shapes;
  Shape now = input;
  for (std::size_t i = 0; i < arch.layers.size(); ++i) {
    ENTRENAR_ASSIGN_OR_RETURN(now, Inference(arch.layers[i], i, now).Run(i == 0));
    shapes.push_back(now);
  }
  return shapes;
}

}  // namespace entrenar::engine
