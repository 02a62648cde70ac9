#include "entrenar/image/datasets.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::image {
namespace {

std::string Hex(const std::vector<std::uint8_t>& bytes) {
  static const char* const kDigits = "0123456789abcdef";
  std::string out;
  for (const std::uint8_t b : bytes) out += {kDigits[b >> 4], kDigits[b & 15]};
  return out;
}

std::string Bytes(const std::string& path) { return *ReadWholeFile(path); }

TEST_CASE("MNIST idx files and CIFAR batches decode as numpy lays them out", "[unit][image]") {
  testing::TempDir dir;
  const auto made = testing::RunProcess(
      {"/usr/bin/python3", std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/image_sets.py",
       dir.path});
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  const nlohmann::json expected = nlohmann::json::parse(Bytes(dir.path + "/expected.json"));
  for (const char* file : {"images-idx3-ubyte", "images-idx3-ubyte.gz"}) {
    INFO(file);
    Result<std::vector<Image>> images = DecodeIdxImages(Bytes(dir.path + "/" + file));
    REQUIRE(images.ok());
    REQUIRE(images->size() == 7);
    for (std::size_t i = 0; i < 7; ++i) {
      CHECK(images->at(i).width == 5);
      CHECK(images->at(i).height == 6);
      CHECK(images->at(i).channels == 1);
      CHECK(Hex(images->at(i).pixels) == expected["idx"]["hex"][i]);
    }
  }
  Result<std::vector<int>> labels = DecodeIdxLabels(Bytes(dir.path + "/labels-idx1-ubyte"));
  REQUIRE(labels.ok());
  CHECK(nlohmann::json(*labels) == expected["idx"]["labels"]);
  for (const auto& [name, kind, column] : {std::tuple{"cifar10", Cifar::k10, 0},
                                           {"cifar100", Cifar::k100Fine, 1},
                                           {"cifar100", Cifar::k100Coarse, 0}}) {
    INFO(name << " " << column);
    Result<LabeledImages> cifar = DecodeCifar(Bytes(dir.path + "/" + name + ".bin"), kind);
    REQUIRE(cifar.ok());
    REQUIRE(cifar->images.size() == 4);
    for (std::size_t i = 0; i < 4; ++i) {
      CHECK(cifar->images[i].width == 32);
      CHECK(Hex(cifar->images[i].pixels) == expected[name]["hex"][i]);
      CHECK(cifar->labels[i] == expected[name]["labels"][i][column]);
    }
  }
}

TEST_CASE("Damaged idx files and CIFAR batches say what is wrong", "[unit][image]") {
  testing::TempDir dir;
  REQUIRE(testing::RunProcess({"/usr/bin/python3",
                               std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/image_sets.py",
                               dir.path})
              .exit_code == 0);
  const std::string idx = Bytes(dir.path + "/images-idx3-ubyte");
  const Status cut = DecodeIdxImages(idx.substr(0, idx.size() - 3)).status();
  CHECK(cut.code() == StatusCode::kDataLoss);
  CHECK(cut.message() == "idx: the header says 210 bytes of data, the file has 207");
  CHECK(DecodeIdxLabels(idx).status().message().find("not an idx label file") != std::string::npos);
  const std::string gz = Bytes(dir.path + "/images-idx3-ubyte.gz");
  CHECK(DecodeIdxImages(gz.substr(0, gz.size() / 2)).status().message() ==
        "gzip: the stream is damaged or cut short");
  CHECK(DecodeIdxImages(gz, 100).status().message().find("inflates to more than 100 bytes") !=
        std::string::npos);
  // 600 images of one pixel: 600 bytes of file, but each image's bookkeeping too.
  std::string tiny("\0\0\x08\x03\0\0\x02\x58\0\0\0\x01\0\0\0\x01", 16);
  tiny += std::string(600, '\x7f');
  CHECK(DecodeIdxImages(tiny, 2000).status().message() ==
        "idx: 600 images of 1 x 1 pixels would need more memory than allowed");
  CHECK(DecodeIdxImages(tiny)->size() == 600);
  // A header claiming four billion images of no pixels.
  const std::string empty("\0\0\x08\x03\xff\xff\xff\xff\0\0\0\0\0\0\0\0", 16);
  CHECK(DecodeIdxImages(empty).status().code() == StatusCode::kDataLoss);
  std::string cifar = Bytes(dir.path + "/cifar10.bin");
  CHECK(DecodeCifar(cifar.substr(1), Cifar::k10).status().message() ==
        "cifar: 12291 bytes are not whole records of 3073");
  cifar[3073] = 10;
  CHECK(DecodeCifar(cifar, Cifar::k10).status().message() ==
        "cifar: record 2 has label 10 of 10 classes");
}

}  // namespace
}  // namespace entrenar::image
