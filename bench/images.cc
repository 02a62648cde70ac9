// Images per second through entrenar's image loader: a folder of JPEGs decoded, randomly
// resized-cropped to 224 x 224 and flipped, batched and normalized, with `workers` loader threads.
// bench/images/run runs this and the same pipeline in torchvision's DataLoader (images.py).
//   build/bin/bench_images FOLDER [WORKERS] [BATCH] [EPOCHS]
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <torch/torch.h>

#include "entrenar/engine/dataset.h"
#include "entrenar/manifest/load.h"

#include "loader.h"
#include "task_model.h"

int main(int argc, char** argv) {
  using namespace entrenar;
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_images FOLDER [WORKERS] [BATCH] [EPOCHS]\n");
    return 2;
  }
  const std::string folder = argv[1];
  const std::int64_t workers = argc > 2 ? std::atoll(argv[2]) : 0;
  const std::int64_t batch = argc > 3 ? std::atoll(argv[3]) : 64;
  const int epochs = argc > 4 ? std::atoi(argv[4]) : 2;
  torch::set_num_threads(1);
  const std::string text =
      "entrenar: \"1.0\"\nname: b\nversion: \"1\"\ndata:\n  train: " + folder +
      "\n  augmentation:\n    - random_resized_crop: {size: [224]}\n"
      "    - horizontal_flip: {probability: 0.5}\n    - normalize: {mean: [0.485, 0.456, "
      "0.406], std: [0.229, 0.224, 0.225]}\nmodel:\n  architecture:\n    type: sequential\n"
      "    layers: [flatten]\n";
  const manifest::LoadResult loaded = manifest::LoadText(text, "bench.yaml", {});
  if (!loaded.ok()) {
    std::fprintf(stderr, "manifest: %s\n", loaded.diagnostics.front().message.c_str());
    return 1;
  }
  Result<engine::PreparedData> data = engine::PrepareData(*loaded.manifest, ".", 42);
  if (!data.ok()) {
    std::fprintf(stderr, "%s\n", data.status().message().c_str());
    return 1;
  }
  const std::int64_t n = data->train.rows;
  const std::int64_t batches = (n + batch - 1) / batch;
  double best = 0;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    engine::LoaderOptions o;
    o.batch_size = batch;
    o.num_workers = workers;
    o.build = [inputs = engine::ImageBatchInputs(*data, epoch),
               y = torch::tensor(data->train.y)](const torch::Tensor& rows) {
      return std::pair{inputs(rows), y.index_select(0, rows)};
    };
    const auto start = std::chrono::steady_clock::now();
    engine::BatchLoader loader(torch::arange(n), torch::tensor(data->train.y), torch::randperm(n),
                               0, batches, o);
    double checksum = 0;
    for (std::int64_t b = 0; b < batches; ++b) {
      const torch::Tensor x = engine::ImagesAsInput(loader.Next().first, *data->images);
      checksum += x[0][0][0][0].item<double>();
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(n) / secs);
    if (checksum != checksum) return 1;
  }
  std::printf(
      "{\"loader\": \"entrenar\", \"workers\": %lld, \"images\": %lld, "
      "\"images_per_second\": %.1f}\n",
      static_cast<long long>(workers), static_cast<long long>(n), best);
  return 0;
}
