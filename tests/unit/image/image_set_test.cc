#include "entrenar/image/image_set.h"

#include <filesystem>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::image {
namespace {

namespace fs = std::filesystem;
const std::string kFormats = std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats";

Image Grey(int w, int h, std::uint8_t v) {
  Image i;
  i.width = w;
  i.height = h;
  i.channels = 1;
  i.pixels.assign(static_cast<std::size_t>(w) * h, v);
  return i;
}

void WritePng(const std::string& path, const Image& image) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(WriteFileAtomic(path, *EncodePng(image)).ok());
}

TEST_CASE("A folder of class folders lists as torchvision's ImageFolder lists it",
          "[unit][image]") {
  testing::TempDir dir;
  const std::string root = dir.path + "/set";
  // Classes out of order and in both cases, images in nested folders, names that sort
  // differently by path than by name, and files that are not images.
  for (const char* f :
       {"dog/b.png", "dog/a.PNG", "dog/sub/c.jpg", "dog/sub-x/d.png", "dog/sub/a.png", "Cat/z.png",
        "Cat/y.jpeg", "bird/2.png", "bird/10.png", "bird/3.WebP"}) {
    WritePng(root + "/" + f, Grey(3, 2, 9));  // the extension names it; Get decodes by signature
  }
  REQUIRE(WriteFileAtomic(root + "/dog/notes.txt", "not an image").ok());
  REQUIRE(WriteFileAtomic(root + "/README", "not a class").ok());
  Result<ImageSet> set = ReadImageSet(root, SetFormat::kFolder);
  REQUIRE(set.ok());
  const auto r =
      testing::RunProcess({"/usr/bin/python3", kFormats + "/transforms_tv.py", "folder", root});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json tv = nlohmann::json::parse(r.out);
  CHECK(set->classes == tv["classes"].get<std::vector<std::string>>());
  REQUIRE(set->size() == tv["samples"].size());
  for (std::size_t i = 0; i < set->size(); ++i) {
    CHECK(set->files[i] == tv["samples"][i][0].get<std::string>());
    CHECK(set->labels[i] == tv["samples"][i][1].get<int>());
  }
  CHECK(set->size() == 10);
  Result<Image> first = set->Get(0);
  REQUIRE(first.ok());
  CHECK(first->channels == 3);  // RGB by default, as ImageFolder's loader converts
}

TEST_CASE("Folders that are not image data sets are refused naming the folder or file",
          "[unit][image]") {
  testing::TempDir dir;
  CHECK(ReadImageSet(dir.path + "/absent", SetFormat::kFolder).status().code() ==
        StatusCode::kNotFound);
  fs::create_directories(dir.path + "/flat");
  REQUIRE(WriteFileAtomic(dir.path + "/flat/x.png", *EncodePng(Grey(2, 2, 1))).ok());
  CHECK_THAT(ReadImageSet(dir.path + "/flat", SetFormat::kFolder).status().message(),
             Catch::Contains("no class folders"));
  WritePng(dir.path + "/empty/a/1.png", Grey(2, 2, 1));
  fs::create_directories(dir.path + "/empty/b");
  CHECK(ReadImageSet(dir.path + "/empty", SetFormat::kFolder).status().message() ==
        dir.path +
            "/empty/b: no PNG, JPEG or WebP images in this class folder (remove it, or add its "
            "images)");
  WritePng(dir.path + "/bmp/a/1.png", Grey(2, 2, 1));
  REQUIRE(WriteFileAtomic(dir.path + "/bmp/a/2.bmp", "BM").ok());
  CHECK_THAT(ReadImageSet(dir.path + "/bmp", SetFormat::kFolder).status().message(),
             Catch::StartsWith(dir.path + "/bmp/a/2.bmp: a bmp image; entrenar decodes PNG, "
                                          "JPEG and WebP"));
  // A damaged image is found when it is decoded, and named.
  WritePng(dir.path + "/bad/a/1.png", Grey(2, 2, 1));
  fs::create_directories(dir.path + "/bad/b");
  REQUIRE(WriteFileAtomic(dir.path + "/bad/b/2.png", "\x89PNG\r\n\x1a\n cut").ok());
  Result<ImageSet> bad = ReadImageSet(dir.path + "/bad", SetFormat::kFolder);
  REQUIRE(bad.ok());
  CHECK_THAT(bad->Get(1).status().message(), Catch::StartsWith(dir.path + "/bad/b/2.png: "));
}

TEST_CASE("idx and CIFAR files read as image sets: labels beside, batches by pattern, names",
          "[unit][image]") {
  testing::TempDir dir;
  const auto made =
      testing::RunProcess({"/usr/bin/python3", kFormats + "/image_sets.py", dir.path});
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  const nlohmann::json expected =
      nlohmann::json::parse(*ReadWholeFile(dir.path + "/expected.json"));
  for (const char* name : {"images-idx3-ubyte", "images-idx3-ubyte.gz"}) {
    CHECK(ImageSetFormat("auto", dir.path + "/" + name) == SetFormat::kIdx);
    Result<ImageSet> idx = ReadImageSet(dir.path + "/" + name, SetFormat::kIdx);
    REQUIRE(idx.ok());
    CHECK(idx->size() == 7);
    CHECK(idx->labels == expected["idx"]["labels"].get<std::vector<int>>());
    CHECK(idx->Get(0)->channels == 1);  // grey, as torchvision's MNIST
  }
  // Some copies name them train-images.idx3-ubyte and train-labels.idx1-ubyte.
  fs::copy_file(dir.path + "/images-idx3-ubyte", dir.path + "/train-images.idx3-ubyte");
  fs::copy_file(dir.path + "/labels-idx1-ubyte", dir.path + "/train-labels.idx1-ubyte");
  CHECK(ReadImageSet(dir.path + "/train-images.idx3-ubyte", SetFormat::kIdx)->size() == 7);
  REQUIRE(WriteFileAtomic(dir.path + "/t10k-images-idx3-ubyte", "").ok());
  CHECK(ReadImageSet(dir.path + "/t10k-images-idx3-ubyte", SetFormat::kIdx).status().message() ==
        dir.path + "/t10k-images-idx3-ubyte: its labels are not beside it (looked for " + dir.path +
            "/t10k-labels-idx1-ubyte[.gz])");
  // Two CIFAR-10 batches read in order as one set, their classes named by batches.meta.txt.
  fs::copy_file(dir.path + "/cifar10.bin", dir.path + "/data_batch_1.bin");
  fs::copy_file(dir.path + "/cifar10.bin", dir.path + "/data_batch_2.bin");
  REQUIRE(WriteFileAtomic(dir.path + "/batches.meta.txt",
                          "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\n"
                          "truck\n\n")
              .ok());
  CHECK(ImageSetFormat("auto", dir.path + "/data_batch_1.bin") == SetFormat::kCifar);
  Result<ImageSet> cifar = ReadImageSet(dir.path + "/data_batch_*.bin", SetFormat::kCifar);
  REQUIRE(cifar.ok());
  CHECK(cifar->size() == 8);
  CHECK(cifar->classes.front() == "airplane");
  CHECK(cifar->classes.back() == "truck");
  std::vector<int> labels;
  for (const auto& l : expected["cifar10"]["labels"]) labels.push_back(l[0].get<int>());
  CHECK(std::vector<int>(cifar->labels.begin(), cifar->labels.begin() + 4) == labels);
  CHECK(std::vector<int>(cifar->labels.begin() + 4, cifar->labels.end()) == labels);
  // CIFAR-100: fine labels unless the target is coarse_label.
  SetOptions coarse;
  coarse.target = "coarse_label";
  Result<ImageSet> c100 = ReadImageSet(dir.path + "/cifar100.bin", SetFormat::kCifar, coarse);
  REQUIRE(c100.ok());
  CHECK(c100->classes.size() == 20);
  CHECK(c100->labels[0] == expected["cifar100"]["labels"][0][0].get<int>());
  CHECK(ReadImageSet(dir.path + "/cifar100.bin", SetFormat::kCifar)->classes.size() == 100);
  CHECK(ReadImageSet(dir.path + "/nothing_*.bin", SetFormat::kCifar).status().code() ==
        StatusCode::kNotFound);
}

}  // namespace
}  // namespace entrenar::image
