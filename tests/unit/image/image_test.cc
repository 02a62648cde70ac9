#include "entrenar/image/image.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/sha256.h"

#include "subprocess.h"
#include "temp_dir.h"

namespace entrenar::image {
namespace {

namespace fs = std::filesystem;
using testing::RunProcess;

const std::string kPil = std::string(ENTRENAR_SOURCE_DIR) + "/tests/formats/images_pil.py";

// `path` as Pillow decodes it in `mode` ("RGB" or "L").
Image PilRead(const std::string& path, const std::string& mode) {
  const auto r = RunProcess({"/usr/bin/python3", kPil, "read", path, mode});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json j = nlohmann::json::parse(r.out);
  Image out;
  out.width = j["width"];
  out.height = j["height"];
  out.channels = j["channels"];
  const std::string hex = j["hex"];
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.pixels.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string Bytes(const std::string& path) { return *ReadWholeFile(path); }

TEST_CASE("PNG, JPEG and WebP files of every kind decode to Pillow's pixels, in RGB and grey",
          "[unit][image]") {
  testing::TempDir dir;
  const auto made = RunProcess({"/usr/bin/python3", kPil, "make", dir.path});
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  std::size_t files = 0;
  for (const auto& f : fs::directory_iterator(dir.path)) {
    const std::string path = f.path().string();
    for (const auto& [mode, name] : {std::pair{ColorMode::kRgb, "RGB"}, {ColorMode::kGrey, "L"}}) {
      INFO(path << " as " << name);
      DecodeOptions options;
      options.color = mode;
      Result<Image> ours = ReadImageFile(path, options);
      REQUIRE(ours.ok());
      const Image theirs = PilRead(path, name);
      CHECK(ours->width == theirs.width);
      CHECK(ours->height == theirs.height);
      CHECK(ours->channels == theirs.channels);
      REQUIRE(ours->pixels.size() == theirs.pixels.size());
      std::size_t differ = 0;
      for (std::size_t i = 0; i < theirs.pixels.size(); ++i)
        differ += ours->pixels[i] != theirs.pixels[i];
      CHECK(differ == 0);
    }
    ++files;
  }
  CHECK(files == 27);
  // EXIF orientation 6 (a camera held upright): 20 x 13 stored, 13 x 20 shown.
  Result<Image> turned = ReadImageFile(dir.path + "/orientation6.jpg");
  REQUIRE(turned.ok());
  CHECK(turned->width == 13);
  CHECK(turned->height == 20);
  DecodeOptions stored;
  stored.apply_orientation = false;
  CHECK(ReadImageFile(dir.path + "/orientation6.jpg", stored)->width == 20);
  // A WebP's EXIF chunk turns it too.
  Result<Image> webp = ReadImageFile(dir.path + "/orientation6.webp");
  REQUIRE(webp.ok());
  CHECK(webp->width == 13);
  CHECK(webp->height == 20);
  // An XMP segment (APP1 too) before the EXIF one: the orientation is still the EXIF one's.
  const std::string jpeg = Bytes(dir.path + "/orientation6.jpg");
  const std::string xmp_body = std::string("http://ns.adobe.com/xap/1.0/\0", 29) + "<x:xmpmeta/>";
  const std::string xmp = std::string("\xff\xe1") + static_cast<char>(0) +
                          static_cast<char>(xmp_body.size() + 2) + xmp_body;
  Result<Image> with_xmp = DecodeJpeg(jpeg.substr(0, 2) + xmp + jpeg.substr(2));
  REQUIRE(with_xmp.ok());
  CHECK(with_xmp->width == 13);
}

TEST_CASE("Real photographs (scikit-image's sample data) decode to Pillow's pixels",
          "[unit][image]") {
  // tools/setup puts the PNG and JPEG files of Debian's python3-skimage in tests/photos.
  const std::string photos = std::string(ENTRENAR_SOURCE_DIR) + "/tests/photos";
  INFO("run tools/setup: it fetches " << photos);
  REQUIRE(fs::exists(photos + "/.complete"));
  std::vector<std::string> files;
  for (const auto& f : fs::directory_iterator(photos)) {
    const std::string ext = f.path().extension().string();
    if (ext == ".png" || ext == ".jpg") files.push_back(f.path().string());
  }
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 30);
  for (const auto& [mode, name] : {std::pair{ColorMode::kRgb, "RGB"}, {ColorMode::kGrey, "L"}}) {
    std::vector<std::string> args = {"/usr/bin/python3", kPil, "digest", name};
    args.insert(args.end(), files.begin(), files.end());
    const auto r = RunProcess(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    std::istringstream lines(r.out);
    std::size_t compared = 0, refused = 0;
    for (std::string line; std::getline(lines, line);) {
      const nlohmann::json theirs = nlohmann::json::parse(line);
      const std::string file = theirs["file"];
      INFO(file << " as " << name);
      DecodeOptions options;
      options.color = mode;
      Result<Image> ours = ReadImageFile(file, options);
      // What Pillow refuses (scikit-image's truncated.jpg) we refuse, naming why.
      if (theirs.contains("error")) {
        CHECK_FALSE(ours.ok());
        if (!ours.ok()) CHECK_FALSE(ours.status().message().empty());
        ++refused;
        continue;
      }
      REQUIRE(ours.ok());
      CHECK(ours->width == theirs["width"]);
      CHECK(ours->height == theirs["height"]);
      CHECK(ours->channels == theirs["channels"]);
      const std::string bytes(ours->pixels.begin(), ours->pixels.end());
      CHECK(Sha256Hex(bytes) == theirs["sha256"]);
      ++compared;
    }
    CHECK(compared + refused == files.size());
    CHECK(refused == 1);  // truncated.jpg
  }
}

TEST_CASE("PNG written by EncodePng reads back, in Pillow too", "[unit][image]") {
  testing::TempDir dir;
  std::mt19937 rng(7);
  for (const int channels : {1, 3}) {
    Image image;
    image.width = 17;
    image.height = 9;
    image.channels = channels;
    for (int i = 0; i < 17 * 9 * channels; ++i)
      image.pixels.push_back(static_cast<std::uint8_t>(rng()));
    Result<std::string> png = EncodePng(image);
    REQUIRE(png.ok());
    Result<Image> back = DecodePng(*png, {channels == 1 ? ColorMode::kGrey : ColorMode::kRgb});
    REQUIRE(back.ok());
    CHECK(back->pixels == image.pixels);
    const std::string path = dir.path + "/out" + std::to_string(channels) + ".png";
    REQUIRE(WriteFileAtomic(path, *png).ok());
    CHECK(PilRead(path, channels == 1 ? "L" : "RGB").pixels == image.pixels);
  }
  Image bad;
  bad.width = 2;
  bad.height = 2;
  bad.channels = 4;
  bad.pixels.resize(16);
  CHECK(EncodePng(bad).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("Damaged, truncated and oversized images are refused, never a crash", "[unit][image]") {
  testing::TempDir dir;
  REQUIRE(RunProcess({"/usr/bin/python3", kPil, "make", dir.path}).exit_code == 0);
  for (const char* name :
       {"rgb.png", "baseline.jpg", "progressive.jpg", "lossy.webp", "alpha_lossless.webp"}) {
    INFO(name);
    const std::string bytes = Bytes(dir.path + "/" + name);
    const Status cut = DecodeImage(bytes.substr(0, bytes.size() * 2 / 3)).status();
    CHECK(cut.code() == StatusCode::kDataLoss);
    std::mt19937 rng(11);
    for (int trial = 0; trial < 300; ++trial) {
      std::string damaged = bytes;
      for (int k = 0; k < 4; ++k)
        damaged[rng() % damaged.size()] ^= static_cast<char>(1 + rng() % 255);
      (void)DecodeImage(damaged);  // any answer but a crash (the sanitizer build checks)
    }
  }
  CHECK(DecodeImage("GIF89a...").status().code() == StatusCode::kInvalidArgument);
  // Signatures cut short (found by the fuzzer: "RIFF" and a byte).
  for (const char* cut : {"RIFF", "RIFF\x01", "RIFF....WEB", "\x89PN", "\xff\xd8"}) {
    CHECK_FALSE(IsImageSignature(cut));
    CHECK(DecodeImage(cut).status().code() == StatusCode::kInvalidArgument);
  }
  // A 60000 x 60000 header: refused before any pixel is decoded.
  std::string png = Bytes(dir.path + "/rgb.png");
  for (int i = 0; i < 2; ++i) {
    png[16 + 4 * i] = 0, png[17 + 4 * i] = 0, png[18 + 4 * i] = static_cast<char>(0xea),
                 png[19 + 4 * i] = static_cast<char>(0x60);
  }
  const Status big_png = DecodePng(png).status();
  CHECK((big_png.code() == StatusCode::kResourceExhausted ||
         big_png.code() == StatusCode::kDataLoss));
  std::string jpeg = Bytes(dir.path + "/baseline.jpg");
  const std::size_t sof = jpeg.find("\xff\xc0", 2);
  REQUIRE(sof != std::string::npos);
  for (const std::size_t at : {sof + 5, sof + 7}) {  // height and width: 60000
    jpeg[at] = static_cast<char>(0xea);
    jpeg[at + 1] = static_cast<char>(0x60);
  }
  const Status big_jpeg = DecodeJpeg(jpeg).status();
  CHECK(big_jpeg.code() == StatusCode::kResourceExhausted);
  CHECK(big_jpeg.message().find("60000 x 60000 pixels") != std::string::npos);
  // A lossless WebP claiming 16384 x 16384 (its 14-bit sizes all ones).
  std::string webp = Bytes(dir.path + "/lossless.webp");
  REQUIRE(webp.substr(12, 4) == "VP8L");
  webp[21] = webp[22] = webp[23] = static_cast<char>(0xff);
  webp[24] = static_cast<char>(webp[24] | 0x0f);
  const Status big_webp = DecodeWebp(webp).status();
  CHECK(big_webp.code() == StatusCode::kResourceExhausted);
  CHECK(big_webp.message().find("16384 x 16384 pixels") != std::string::npos);
  // An animated WebP (Pillow would take its first frame) is refused by name.
  REQUIRE(RunProcess({"/usr/bin/python3", kPil, "animated", dir.path + "/anim.webp"}).exit_code ==
          0);
  const Status anim = ReadImageFile(dir.path + "/anim.webp").status();
  CHECK(anim.code() == StatusCode::kInvalidArgument);
  CHECK(anim.message().find("anim.webp: WebP: an animation") != std::string::npos);
  // A file's errors name it.
  REQUIRE(WriteFileAtomic(dir.path + "/cut.png", Bytes(dir.path + "/rgb.png").substr(0, 100)).ok());
  const Status named = ReadImageFile(dir.path + "/cut.png").status();
  CHECK(named.message().rfind(dir.path + "/cut.png: PNG: ", 0) == 0);
}

TEST_CASE("The EXIF orientation is read from either byte order, 1 when absent or odd",
          "[unit][image]") {
  const std::string le("Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0\x06\0\0\0", 26);
  const std::string be("Exif\0\0MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x08\0\0", 26);
  CHECK(ExifOrientation(le) == 6);
  CHECK(ExifOrientation(be) == 8);
  CHECK(ExifOrientation("") == 1);
  CHECK(ExifOrientation(le.substr(0, 20)) == 1);
  std::string nine = le;
  nine[24] = 9;
  CHECK(ExifOrientation(nine) == 1);
  // Orient 6 then 8 is the image again; 2 twice too.
  Image image;
  image.width = 3;
  image.height = 2;
  image.channels = 1;
  image.pixels = {1, 2, 3, 4, 5, 6};
  const Image turned = Orient(image, 6);
  CHECK(turned.width == 2);
  CHECK(turned.pixels == std::vector<std::uint8_t>{4, 1, 5, 2, 6, 3});
  CHECK(Orient(turned, 8).pixels == image.pixels);
  CHECK(Orient(Orient(image, 2), 2).pixels == image.pixels);
}

}  // namespace
}  // namespace entrenar::image
