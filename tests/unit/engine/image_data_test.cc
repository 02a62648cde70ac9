// Image data in the engine: the model's input against torchvision's ToTensor and Normalize, and
// augmented training batches that depend on the seed, the epoch and the row alone.
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "entrenar/base/files.h"
#include "entrenar/engine/dataset.h"
#include "entrenar/image/image.h"

#include "loader.h"
#include "manifest_helpers.h"
#include "subprocess.h"
#include "task_model.h"
#include "temp_dir.h"

namespace entrenar::engine {
namespace {

const std::string kFormats = std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats";

TEST_CASE("Images become the model's input as torchvision's ToTensor and Normalize make them",
          "[unit][engine][image]") {
  testing::TempDir dir;
  const auto made =
      testing::RunProcess({"/usr/bin/python3", kFormats + "/images_pil.py", "make", dir.path});
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  Result<image::Image> im = image::ReadImageFile(dir.path + "/progressive.jpg");
  REQUIRE(im.ok());
  const torch::Tensor hwc =
      torch::from_blob(im->pixels.data(), {im->height, im->width, 3}, torch::kByte);
  ImageData data;
  data.mean = {0.485, 0.456, 0.406};
  data.std = {0.229, 0.224, 0.225};
  const torch::Tensor ours = ImagesAsInput(hwc.permute({2, 0, 1}).unsqueeze(0), data)[0];
  const auto r = testing::RunProcess({"/usr/bin/python3", kFormats + "/transforms_tv.py",
                                      "normalize", dir.path + "/progressive.jpg", "RGB",
                                      "0.485,0.456,0.406", "0.229,0.224,0.225"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json tv = nlohmann::json::parse(r.out);
  CHECK(tv["shape"] == (std::vector<std::int64_t>{3, im->height, im->width}));
  const std::vector<float> theirs = tv["values"].get<std::vector<float>>();
  const torch::Tensor flat = ours.contiguous().flatten();
  REQUIRE(flat.numel() == static_cast<std::int64_t>(theirs.size()));
  std::size_t differ = 0;
  for (std::size_t i = 0; i < theirs.size(); ++i)
    differ += flat[static_cast<std::int64_t>(i)].item<float>() != theirs[i];
  CHECK(differ == 0);  // the same float32 operations in the same order: bit for bit
}

// A folder of 3 classes x 8 PNGs of 6 x 5 pixels, each different.
std::string WriteFolder(const std::string& root) {
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 8; ++i) {
      image::Image im;
      im.width = 6;
      im.height = 5;
      im.channels = 3;
      for (int p = 0; p < 6 * 5 * 3; ++p)
        im.pixels.push_back(static_cast<std::uint8_t>((p * 37 + i * 11 + c * 101) % 256));
      const std::string dir = root + "/class" + std::to_string(c);
      std::filesystem::create_directories(dir);
      REQUIRE(WriteFileAtomic(dir + "/" + std::to_string(i) + ".png", *image::EncodePng(im)).ok());
    }
  }
  return root;
}

TEST_CASE("Augmented training images depend on the seed, the epoch and the row alone",
          "[unit][engine][image]") {
  testing::TempDir dir;
  WriteFolder(dir.path + "/set");
  const manifest::Manifest ok = testing::LoadValid(
      "data:\n  source: " + dir.path +
      "/set\n  augmentation:\n    - center_crop: {size: [5, 5]}\n    - random_crop: {size: [5, "
      "5], padding: 2, padding_mode: reflect}\n    - horizontal_flip: {probability: 0.5}\n  "
      "split: {train: 0.5, val: 0.25, test: 0.25}\n");
  Result<PreparedData> d = PrepareData(ok, ".", 42);
  REQUIRE(d.ok());
  REQUIRE(d->images);
  CHECK(d->images->channels == 3);
  CHECK(d->images->height == 5);
  CHECK(d->train.rows == 12);
  CHECK(d->val.pixels.size() == static_cast<std::size_t>(d->val.rows) * 3 * 5 * 5);
  const auto pixels = [&](std::int64_t row, std::int64_t epoch) {
    std::vector<image::Draw> draws;
    Result<image::Image> im = TrainingImage(*d, row, epoch, &draws);
    REQUIRE(im.ok());
    return im->pixels;
  };
  std::size_t changed = 0;
  for (std::int64_t row = 0; row < 12; ++row) {
    CHECK(pixels(row, 1) == pixels(row, 1));
    changed += pixels(row, 1) != pixels(row, 2);
  }
  CHECK(changed >= 8);  // another epoch draws again (a few draws may repeat by chance)
  // The loader's batches are the same bytes with 0 or 2 workers.
  const BatchBuilder build = [&](const torch::Tensor& rows) {
    std::vector<torch::Tensor> out;
    for (std::int64_t i = 0; i < rows.size(0); ++i) {
      std::vector<std::uint8_t> p = pixels(rows[i].item<std::int64_t>(), 3);
      out.push_back(torch::tensor(std::vector<std::int64_t>(p.begin(), p.end())));
    }
    return std::pair{torch::stack(out), rows};
  };
  const auto batches = [&](std::int64_t workers) {
    LoaderOptions o;
    o.batch_size = 5;
    o.num_workers = workers;
    o.build = build;
    const torch::Tensor order =
        torch::tensor(std::vector<std::int64_t>{3, 7, 1, 11, 0, 5, 9, 2, 8, 4, 10, 6});
    BatchLoader loader(torch::arange(12), torch::arange(12), order, 0, 3, o);
    std::vector<torch::Tensor> xs;
    for (int b = 0; b < 3; ++b) xs.push_back(loader.Next().first);
    return torch::cat(xs);
  };
  const torch::Tensor serial = batches(0);
  CHECK(torch::equal(serial, batches(2)));
}

}  // namespace
}  // namespace entrenar::engine
