// Image data end to end: the real binary trains examples/images on the UCI digits as PNG files,
// resumes an augmented run bit for bit, and stops on a bad image naming it.
#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "run_files.h"
#include "subprocess.h"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using entrenar::testing::EntrenarBinary;
using entrenar::testing::LossByStep;
using entrenar::testing::ProcessResult;
using entrenar::testing::RunProcess;
using entrenar::testing::Slurp;
using entrenar::testing::TempDir;
using entrenar::testing::Train;
using entrenar::testing::WriteFile;

const std::string kSource = ENTRENAR_SOURCE_DIR;
const std::string kExample = kSource + "/examples/images/digits.yaml";

TEST_CASE(
    "images: the digits PNG example reaches 0.95 test accuracy, and the model keeps its "
    "classes",
    "[e2e][images]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  ProcessResult r = Train({kExample, "--output", run});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(Slurp(run + "/logs/train.log")
            .find("data: 1445 train, 176 val, 176 test images; images of 1 x 8 x 8; 10 classes") !=
        std::string::npos);
  const nlohmann::json summary = nlohmann::json::parse(Slurp(run + "/summary.json"));
  CHECK(summary["test"]["test_accuracy"].get<double>() >= 0.95);
  CHECK(summary["steps"].get<int>() == 345);  // 15 epochs x ceil(1445 / 64)
  ProcessResult py =
      RunProcess({"/usr/bin/python3", kSource + "/tests/formats/safetensors_numpy.py", "read",
                  run + "/model.safetensors"});
  INFO(py.err);
  REQUIRE(py.exit_code == 0);
  const nlohmann::json w = nlohmann::json::parse(py.out);
  CHECK(w["layers.0.weight"]["shape"] == nlohmann::json({16, 1, 3, 3}));
  const nlohmann::json pre =
      nlohmann::json::parse(w["__metadata__"]["entrenar.preprocessing"].get<std::string>());
  CHECK(pre["classes"] == nlohmann::json({"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  CHECK(pre["image"]["channels"] == 1);
  CHECK(pre["image"]["height"] == 8);
  CHECK(pre["image"]["mean"] == nlohmann::json({0.305}));
  // Validation images were centre-cropped to the random crop's size: the model's pipeline.
  CHECK(pre["image"]["transforms"] ==
        nlohmann::json::parse(R"([{"center_crop": {"size": [8, 8]}}])"));
  // sample_predictions name each validation image's file, a real one of its class.
  std::istringstream lines(Slurp(run + "/samples.jsonl"));
  std::string last, line;
  while (std::getline(lines, line)) last = line;
  const nlohmann::json samples = nlohmann::json::parse(last)["samples"];
  REQUIRE(samples.size() == 8);
  for (const auto& s : samples) {
    const std::string image = s["image"];
    CHECK(fs::exists(fs::path(kExample).parent_path() / image));
    CHECK(fs::path(image).parent_path().filename().string() == s["target"].get<std::string>());
  }
}

TEST_CASE("images: sample_predictions draw a contact sheet, and the HTML report shows it",
          "[e2e][images]") {
  TempDir dir;
  const std::string run = dir.path + "/run";
  ProcessResult r = Train({kExample, "--set", "training.epochs=2", "--set",
                           "output.report.format=html", "--output", run});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string sheet = Slurp(run + "/samples.svg");
  std::size_t images = 0;
  for (std::size_t at = sheet.find("<image"); at != std::string::npos;
       at = sheet.find("<image", at + 1))
    ++images;
  CHECK(images == 8);
  // Pillow reads the first embedded PNG: the 8 x 8 grey image the model saw.
  const std::size_t from = sheet.find("base64,") + 7;
  const std::string b64 = sheet.substr(from, sheet.find('"', from) - from);
  ProcessResult png = RunProcess(
      {"/usr/bin/python3", "-c",
       "import base64, io, sys; from PIL import Image; "
       "im = Image.open(io.BytesIO(base64.b64decode(sys.argv[1]))); print(im.size, im.mode)",
       b64});
  INFO(png.err);
  CHECK(png.out == "(8, 8) L\n");
  CHECK(sheet.find(" \u2192 ") != std::string::npos);  // captions: truth -> prediction
  CHECK(Slurp(run + "/report.html")
            .find("<svg xmlns=\"http://www.w3.org/2000/svg\" "
                  "class=\"samples\"") != std::string::npos);
}

TEST_CASE("images: an augmented run resumes mid-epoch bit for bit, with 2 workers or none",
          "[e2e][images]") {
  TempDir dir;
  // Three kinds of random step: the example's shifted crop, a rotation and colour jitter.
  const std::string augmentation =
      "data.augmentation=[{random_crop: {size: [8, 8], padding: 1}}, {rotation: {degrees: 15}}, "
      "{color_jitter: {brightness: 0.3, contrast: 0.3}}, {normalize: {mean: [0.305], std: "
      "[0.375]}}]";
  auto args = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {kExample,
                                  "--set",
                                  "training.epochs=null",
                                  "--set",
                                  "training.max_steps=40",
                                  "--set",
                                  "callbacks=[]",
                                  "--set",
                                  augmentation};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  const std::string full = dir.path + "/full";
  REQUIRE(Train(args({"--set", "training.checkpoint.save_every=20", "--output", full})).exit_code ==
          0);
  const std::map<std::int64_t, double> reference = LossByStep(full + "/metrics.jsonl");
  REQUIRE(reference.size() == 40);
  // Step 20 is mid-epoch (23 steps each); the resumed run decodes with no worker threads.
  const std::string resumed = dir.path + "/resumed";
  ProcessResult r = Train(args({"--resume", full + "/checkpoints/step-20", "--set",
                                "data.loader.num_workers=0", "--output", resumed}));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::map<std::int64_t, double> again = LossByStep(resumed + "/metrics.jsonl");
  REQUIRE(again.size() == 20);
  for (const auto& [step, loss] : again) CHECK(loss == reference.at(step));
  // Without the augmentation the losses differ: the random steps were in the batches.
  const std::string plain = dir.path + "/plain";
  REQUIRE(Train(args({"--set", "data.augmentation=[{normalize: {mean: [0.305], std: [0.375]}}]",
                      "--output", plain}))
              .exit_code == 0);
  CHECK(LossByStep(plain + "/metrics.jsonl").at(5) != reference.at(5));
}

TEST_CASE(
    "images: 8-bit static quantization without a validation split calibrates on decoded "
    "training images",
    "[e2e][images]") {
  TempDir dir;
  const std::string run = dir.path + "/q";
  ProcessResult r = Train({kExample, "--set", "quantize.enabled=true", "--set", "quantize.bits=8",
                           "--set", "data.split={train: 0.9, test: 0.1, stratify: label}", "--set",
                           "callbacks=[]", "--set", "training.checkpoint={save_best: false}",
                           "--set", "training.validation={every_epoch: false}", "--output", run});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("quantize: 8-bit symmetric per_channel weights") != std::string::npos);
  // Activation ranges from images, not from row numbers: the quantized model still reads digits.
  const nlohmann::json summary = nlohmann::json::parse(Slurp(run + "/summary.json"));
  CHECK(summary["test"]["test_accuracy"].get<double>() >= 0.95);
}

TEST_CASE("images: a damaged image or one of another size stops the run, naming the file",
          "[e2e][images]") {
  TempDir dir;
  fs::copy(kSource + "/examples/data/digits-png", dir.path + "/digits",
           fs::copy_options::recursive);
  std::string manifest = Slurp(kExample);
  manifest.replace(manifest.find("\"../data/digits-png/\""), 21, "\"digits/\"");
  WriteFile(dir.path + "/digits.yaml", manifest);
  const std::string damaged = dir.path + "/digits/3/0003.png";
  const std::string png = Slurp(damaged);
  WriteFile(damaged, png.substr(0, 40));
  ProcessResult r = Train({dir.path + "/digits.yaml", "--output", dir.path + "/r1"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("digits/3/0003.png: PNG: the file ends early") != std::string::npos);
  // on_error: skip leaves it out, logs it and counts it.
  r = Train({dir.path + "/digits.yaml", "--set", "data.image.on_error=skip", "--set",
             "training.epochs=1", "--output", dir.path + "/skipped"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const nlohmann::json summary = nlohmann::json::parse(Slurp(dir.path + "/skipped/summary.json"));
  CHECK(summary["skipped_images"]["count"] == 1);
  CHECK(summary["skipped_images"]["images"][0].get<std::string>().find(
            "digits/3/0003.png: PNG: the file ends early") != std::string::npos);
  CHECK(Slurp(dir.path + "/skipped/logs/train.log")
            .find("data: 1444 train, 176 val, 176 test images") != std::string::npos);
  WriteFile(damaged, png);
  // 10 x 12 among 8 x 8 images, and no step that gives every image one size.
  ProcessResult made = RunProcess({"/usr/bin/python3", "-c",
                                   "from PIL import Image; Image.new('L', (10, 12), 5).save('" +
                                       dir.path + "/digits/0/big.png')"});
  REQUIRE(made.exit_code == 0);
  r = Train({dir.path + "/digits.yaml", "--set",
             "data.augmentation=[{normalize: {mean: [0.3], std: [0.4]}}]", "--output",
             dir.path + "/r2"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("digits/0/big.png: after the transforms it is 10 x 12, but the first training "
                   "image gives 8 x 8; images of different sizes need a step that gives them "
                   "one size in data.augmentation: a resize to [height, width] or a crop") !=
        std::string::npos);
  // A resize makes them one size, and the run trains.
  r = Train({dir.path + "/digits.yaml", "--set", "training.epochs=1", "--set",
             "data.augmentation=[{resize: {size: [8, 8]}}]", "--output", dir.path + "/r3"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE(
    "images: validate refuses augmentation of a table, normalize before other steps, text "
    "steps, and steps not built",
    "[e2e][images]") {
  TempDir dir;
  const auto validate = [&](const std::string& data) {
    WriteFile(dir.path + "/m.yaml",
              "entrenar: \"1.0\"\nname: m\nversion: \"1\"\ndata:\n" + data +
                  "model:\n  architecture:\n    type: sequential\n    layers:\n      - flatten\n"
                  "      - linear: {in_features: 64, out_features: 10}\n");
    ProcessResult v = RunProcess({EntrenarBinary(), "validate", dir.path + "/m.yaml"});
    v.out += v.err;
    return v;
  };
  ProcessResult r = validate("  source: " + kSource +
                             "/examples/data/digits.csv\n  augmentation:\n    - horizontal_flip: "
                             "{probability: 0.5}\n");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("not supported yet: data.augmentation: augmenting a table") !=
        std::string::npos);
  const std::string images = "  source: " + kSource + "/examples/data/digits-png/\n";
  r = validate(images +
               "  augmentation:\n    - normalize: {mean: [0.3], std: [0.4]}\n    - "
               "horizontal_flip: {probability: 0.5}\n");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("normalize works on pixels scaled to [0, 1] and must come after the other "
                   "image steps") != std::string::npos);
  r = validate(images + "  preprocessing:\n    - normalize: {method: zscore}\n");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("not supported yet: data.preprocessing: table preprocessing of images") !=
        std::string::npos);
  r = validate(images + "  augmentation:\n    - rotation: {degrees: 200}\n");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("data.augmentation[0].rotation.degrees") != std::string::npos);
  r = validate(images + "  augmentation:\n    - random_swap: {probability: 0.1}\n");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("not supported yet: data.augmentation[0]: a text step on images") !=
        std::string::npos);
  r = validate(images + "  augmentation:\n    - back_translate: {languages: [de]}\n");
  CHECK(r.out.find("translate the data beforehand") != std::string::npos);
  r = validate(images +
               "  augmentation:\n    - random_resized_crop: {size: [8], scale: [0.5, 0.2]}\n");
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("data.augmentation[0].random_resized_crop.scale") != std::string::npos);
  r = validate(images +
               "  augmentation:\n    - random_crop: {size: [8], padding: 1}\n"
               "    - rotation: {degrees: 15, fill: 255}\n");
  INFO(r.out);
  CHECK(r.exit_code == 0);
}

TEST_CASE(
    "images: a Parquet table of {bytes, path} images (DuckDB) and a CSV of paths train "
    "exactly as their folder",
    "[e2e][images]") {
  TempDir dir;
  const std::string folder = kSource + "/examples/data/digits-png";
  const std::string parquet = dir.path + "/digits.parquet";
  ProcessResult made = RunProcess(
      {"/usr/bin/env", "node", kSource + "/tests/formats/duckdb_images.mjs", folder, parquet});
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  // The CSV names each file relative to itself, as the folder lists them.
  std::string csv = "file,label\n";
  for (int c = 0; c < 10; ++c) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(folder + "/" + std::to_string(c)))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    for (const std::string& n : names)
      csv += "digits-png/" + std::to_string(c) + "/" + n + "," + std::to_string(c) + "\n";
  }
  fs::copy(folder, dir.path + "/digits-png", fs::copy_options::recursive);
  const std::string paths = dir.path + "/paths.csv";
  WriteFile(paths, csv);
  const auto train = [&](const std::string& name, std::vector<std::string> sets) {
    std::vector<std::string> a = {kExample, "--set", "training.epochs=2", "--set", "callbacks=[]"};
    for (const std::string& s : sets) a.insert(a.end(), {"--set", s});
    a.insert(a.end(), {"--output", dir.path + "/" + name});
    ProcessResult r = Train(a);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return LossByStep(dir.path + "/" + name + "/metrics.jsonl");
  };
  const auto from_folder = train("folder", {});
  REQUIRE(from_folder.size() == 46);
  CHECK(train("parquet", {"data.source=" + parquet, "data.image.column=image"}) == from_folder);
  // A plain column of the files' bytes (no struct) reads as bytes too.
  const std::string blobs = dir.path + "/blobs.parquet";
  made = RunProcess({"/usr/bin/env", "node", kSource + "/tests/formats/duckdb_images.mjs", folder,
                     blobs, "plain"});
  INFO(made.err);
  REQUIRE(made.exit_code == 0);
  CHECK(train("blobs", {"data.source=" + blobs, "data.image.column=image"}) == from_folder);
  CHECK(train("csv", {"data.source=" + paths, "data.image.column=file"}) == from_folder);
  // A column that is not there is named with the table's columns.
  ProcessResult r = Train({kExample, "--set", "data.source=" + parquet, "--set",
                           "data.image.column=picture", "--output", dir.path + "/bad"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("data.image.column: column `picture` is not in " + parquet) !=
        std::string::npos);
}

TEST_CASE("images: plan shows the images, the pipeline and the split training uses",
          "[e2e][images]") {
  ProcessResult r = RunProcess({EntrenarBinary(), "plan", kExample});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("1,445 / 176 / 176 images, stratified by label") != std::string::npos);
  CHECK(r.out.find("images      a folder of class folders, 10 classes; decoded 1 x 8 x 8 (the "
                   "first), the model reads 1 x 8 x 8") != std::string::npos);
  CHECK(r.out.find("transforms  random_crop 8 x 8 (padding 1) (train) → /255, normalize mean "
                   "[0.305] std [0.375]") != std::string::npos);
  r = RunProcess(
      {EntrenarBinary(), "plan", kExample, "--set",
       "data.augmentation=[{resize: {size: [12]}}, {rotation: {degrees: 10, fill: 3}}]"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("the model reads 1 x 12 x 12") != std::string::npos);
  CHECK(r.out.find("transforms  resize 12 → rotation ±10.0 degrees (fill 3) (train) → /255\n") !=
        std::string::npos);
}

}  // namespace
