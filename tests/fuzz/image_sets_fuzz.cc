// The binary image data sets: MNIST idx files (images and labels, gzip or not) and CIFAR-10 /
// CIFAR-100 batches. The first byte picks the reader. Properties: no crash; decoded images have
// the pixels their size says; labels are within their classes.

#include <string>

#include "entrenar/image/datasets.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::image;
  if (size == 0) return 0;
  const std::string bytes = entrenar::fuzz::AsString(data + 1, size - 1);
  constexpr std::size_t kMax = 16u << 20;  // what a gzip stream may inflate to, here
  switch (data[0] % 4) {
    case 0: {
      entrenar::Result<std::vector<Image>> images = DecodeIdxImages(bytes, kMax);
      if (!images.ok()) return 0;
      for (const Image& i : *images) {
        FUZZ_CHECK(i.channels == 1 &&
                   i.pixels.size() == static_cast<std::size_t>(i.width) * i.height);
      }
      return 0;
    }
    case 1: {
      entrenar::Result<std::vector<int>> labels = DecodeIdxLabels(bytes, kMax);
      if (labels.ok()) {
        for (const int l : *labels) FUZZ_CHECK(l >= 0 && l < 256);
      }
      return 0;
    }
    default: {
      const Cifar kind = data[0] % 4 == 2 ? Cifar::k10 : Cifar::k100Fine;
      entrenar::Result<LabeledImages> cifar = DecodeCifar(bytes, kind);
      if (!cifar.ok()) return 0;
      FUZZ_CHECK(cifar->images.size() == cifar->labels.size());
      for (const int l : cifar->labels) FUZZ_CHECK(l >= 0 && l < (kind == Cifar::k10 ? 10 : 100));
      return 0;
    }
  }
}
