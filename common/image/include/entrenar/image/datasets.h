#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/image/image.h"

namespace entrenar::image {

// Images with a class index each.
struct LabeledImages {
  std::vector<Image> images;
  std::vector<int> labels;
};

// MNIST's (and Fashion-MNIST's) idx files, gzip-compressed or not: images (magic 0x00000803:
// unsigned bytes, count x rows x columns, each a grey image) and labels (0x00000801: count
// bytes). `max_bytes` bounds what a gzip file may inflate to. kDataLoss for a wrong magic, a size
// the bytes do not hold, or a damaged gzip stream, saying which.
Result<std::vector<Image>> DecodeIdxImages(std::string_view bytes,
                                           std::size_t max_bytes = std::size_t{1} << 30);
Result<std::vector<int>> DecodeIdxLabels(std::string_view bytes,
                                         std::size_t max_bytes = std::size_t{1} << 30);

// CIFAR's binary batches: records of a label byte (CIFAR-100: the coarse label's byte, then the
// fine label's) and 3072 bytes of a 32 x 32 RGB image as three planes. kDataLoss when the bytes
// are not whole records, or a label is past the classes (10, or 20 coarse and 100 fine).
enum class Cifar { k10, k100Fine, k100Coarse };
Result<LabeledImages> DecodeCifar(std::string_view bytes, Cifar kind);

// `bytes` inflated when they are gzip (1f 8b), else as they are; at most `max_bytes`.
Result<std::string> MaybeGunzip(std::string_view bytes, std::size_t max_bytes);

}  // namespace entrenar::image
