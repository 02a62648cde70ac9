#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::engine {

// The shape of one sample (the batch dimension left out): {64} for 64 features, {8, 6, 6} for
// eight 6x6 channels.
using Shape = std::vector<std::int64_t>;

std::string FormatShape(const Shape& s);  // "8x6x6"

// The shape each layer of a sequential model gives, for samples of `input` shape: element i is
// the output of layers[i]. A layer that cannot take its input (a linear layer of the wrong
// width, a conv2d on flat features, a kernel larger than its input, an embedding after the
// first layer) is an InvalidArgument naming the layer, its input shape and a fix.
Result<std::vector<Shape>> InferShapes(const manifest::ArchitectureConfig& arch,
                                       const Shape& input);

}  // namespace entrenar::engine
