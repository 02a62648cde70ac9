#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/image/image_set.h"
#include "entrenar/image/transform.h"
#include "entrenar/manifest/manifest.h"
#include "entrenar/plan/split.h"

namespace entrenar::engine {

using plan::ResolvePath;

enum class Task { kClassification, kRegression };

// One split of the data as dense float features (row-major) and targets (class index or value).
// Image data: `samples` are the split's images in its set, and the validation and test splits
// keep their images decoded (after the deterministic transforms) in `pixels`, CHW per sample.
struct Split {
  std::int64_t rows = 0;
  std::vector<float> x;
  std::vector<float> y;
  std::vector<std::size_t> samples;
  std::vector<std::uint8_t> pixels;
};

// Image data: where each split's images come from and how they become the model's input.
struct ImageData {
  std::array<std::shared_ptr<const image::ImageSet>, 3> sets;  // train, val, test
  std::vector<image::Transform> transforms;  // data.augmentation's steps but normalize
  std::vector<double> mean, std;             // normalize's, applied to pixels / 255
  int channels = 0, height = 0, width = 0;   // one sample's shape as the model sees it
  std::uint64_t seed = 0;                    // the random steps' (data.loader.seed or the run's)
};

// How a feature column was scaled, fitted on the training split (saved with the model).
struct ColumnScale {
  std::string column;
  std::string method;  // "minmax", "zscore" or "robust"
  double shift = 0;    // x' = (x - shift) / scale
  double scale = 1;
};

// How a column's missing values were filled (the value fitted on the training split).
struct FillValue {
  std::string column;
  std::string strategy;  // "mean", "median", "mode" or "constant"
  std::string value;
};

// How a categorical column was encoded, with the categories seen in the training split.
// onehot: one 0/1 feature per category (`column=category`), an unseen category is all zeros;
// label: codes in order of first appearance; ordinal: codes in sorted order. Unseen categories
// get the code categories.size().
struct Encoding {
  std::string column;
  std::string method;
  std::vector<std::string> categories;
};

// The data of a run after loading, splitting and preprocessing. Plain value type.
struct PreparedData {
  Task task = Task::kClassification;
  std::vector<std::string> features;
  std::string target;
  std::vector<std::string> classes;  // classification: class names, in index order
  std::vector<FillValue> fills;
  std::vector<Encoding> encodings;
  std::vector<ColumnScale> scaling;
  std::uint64_t split_seed = 0;
  Split train, val, test;
  std::optional<ImageData> images;   // set for image data
  std::vector<std::string> skipped;  // images left out (data.image.on_error: skip), and why
  std::int64_t NumFeatures() const { return static_cast<std::int64_t>(features.size()); }
  // Values per sample the model reads: features, or an image's channels x height x width.
  std::int64_t InputSize() const {
    return images ? std::int64_t{images->channels} * images->height * images->width : NumFeatures();
  }
};

// Loads `data.source` (split by ratio, stratified when asked) or `data.train/val/test`, relative
// to `base_dir`; selects the target and feature columns; applies `drop`, then `fillna` and
// `encode` in the order written, then `normalize`, all fitted on the training split only. `seed` is
// the run's seed (data.split.seed wins). Returns kNotFound for a missing file and kInvalidArgument,
// naming the file and line, for bad values (non-numeric features, missing values, an unknown target
// column).
Result<PreparedData> PrepareData(const manifest::Manifest& m, const std::string& base_dir,
                                 std::uint64_t seed);

// PrepareData of an image data set (plan::ImageFormat says which): data.source split by ratio
// (stratified by class when asked) or data.train/val/test; classes from the training images
// (val and test name theirs alike); the validation and test images decoded through the
// deterministic transforms, with `threads` threads. kInvalidArgument naming the file for an image
// that cannot be read or whose size the transforms do not make the first one's.
Result<PreparedData> PrepareImages(const manifest::Manifest& m, const std::string& base_dir,
                                   std::uint64_t seed, int threads);

// The image of training sample `row` (its position in the training split) in epoch `epoch`,
// through every transform, random steps drawn from a generator seeded by the seed, the epoch and
// the row alone (the same for any batch, worker count or resume); HWC, checked against the
// model's input size. `draws` records the random steps' choices.
// `image`'s pixels channel by channel (HWC to CHW, as the model reads them) into `out`, which
// holds channels x height x width bytes.
void ToPlanar(const image::Image& image, std::uint8_t* out);

Result<image::Image> TrainingImage(const PreparedData& d, std::int64_t row, std::int64_t epoch,
                                   std::vector<image::Draw>* draws = nullptr);

// One fold of training.validation.cross_validation: the training and validation rows together are
// dealt into `count` folds (per class when stratified, after a seeded shuffle when shuffle);
// fold `index` (0-based) is the validation split and the others train. Preprocessing is fitted
// on the fold's own training rows; the test split is unchanged.
struct Fold {
  std::int64_t index = 0;
  std::int64_t count = 5;
  bool stratified = true;
  bool shuffle = true;
};
Result<PreparedData> PrepareData(const manifest::Manifest& m, const std::string& base_dir,
                                 std::uint64_t seed, const Fold& fold);

}  // namespace entrenar::engine
