// Image data sets as a run's data: splits, classes, the model's input shape, and each sample's
// pixels through data.augmentation.
#include <algorithm>
#include <atomic>
#include <new>
#include <thread>

#include "entrenar/base/random.h"
#include "entrenar/engine/dataset.h"
#include "entrenar/plan/images.h"

#include "table_source.h"

namespace entrenar::engine {
namespace {

using image::Image;
using image::ImageSet;

std::vector<std::size_t> AllSamples(std::size_t n) {
  std::vector<std::size_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

// `set`'s labels as the training set's class indices: a class the training images lack is an
// error naming it.
Result<std::vector<float>> Labels(const ImageSet& set, const std::vector<std::string>& classes,
                                  const std::string& key) {
  std::vector<int> map(set.classes.size(), -1);
  for (std::size_t c = 0; c < set.classes.size(); ++c) {
    const auto it = std::find(classes.begin(), classes.end(), set.classes[c]);
    if (it != classes.end()) map[c] = static_cast<int>(it - classes.begin());
  }
  std::vector<float> y;
  y.reserve(set.size());
  for (std::size_t i = 0; i < set.size(); ++i) {
    const int c = map[static_cast<std::size_t>(set.labels[i])];
    if (c < 0) {
      return InvalidArgument(key + ": " + set.Where(i) + " is of class `" +
                             set.classes[static_cast<std::size_t>(set.labels[i])] +
                             "`, which the training images do not have");
    }
    y.push_back(static_cast<float>(c));
  }
  return y;
}

Split MakeSplit(const std::vector<float>& labels, std::vector<std::size_t> samples) {
  Split s;
  s.rows = static_cast<std::int64_t>(samples.size());
  for (std::size_t i : samples) s.y.push_back(labels[i]);
  s.samples = std::move(samples);
  return s;
}

// `image` checked against the model's input size; `where` names it.
Status CheckSize(const ImageData& d, const Image& image, const std::string& where,
                 const std::string& what) {
  if (image.channels != d.channels) {
    return InvalidArgument(where + ": decoded to " + std::to_string(image.channels) +
                           " channels, the training images to " + std::to_string(d.channels));
  }
  if (image.height == d.height && image.width == d.width) return OkStatus();
  return InvalidArgument(where + ": " + what + " " + std::to_string(image.width) + " x " +
                         std::to_string(image.height) + ", but the first training image gives " +
                         std::to_string(d.width) + " x " + std::to_string(d.height) +
                         "; images of different sizes need a step that gives them one size in "
                         "data.augmentation: a resize to [height, width] or a crop (e.g. - "
                         "resize: {size: [" +
                         std::to_string(d.height) + ", " + std::to_string(d.width) + "]})");
}

// Sample `sample` of `set` through `transforms` (the random ones when `rng` is given), checked
// against the model's input size. Errors name the image.
Result<Image> Transformed(const ImageData& d, const ImageSet& set, std::size_t sample,
                          std::mt19937_64* rng, std::vector<image::Draw>* draws) {
  ENTRENAR_ASSIGN_OR_RETURN(Image decoded, set.Get(sample));  // its errors name the file
  Result<Image> image = image::ApplyTransforms(d.transforms, std::move(decoded), rng, draws);
  if (!image.ok()) {
    return Status(image.status().code(), set.Where(sample) + ": " + image.status().message());
  }
  ENTRENAR_RETURN_IF_ERROR(CheckSize(d, *image, set.Where(sample), "after the transforms it is"));
  return image;
}

// Decodes the samples of `split` a worker takes (the next not taken) into its pixels, CHW; the
// first error stops every worker.
void DecodeSome(const ImageData& d, const ImageSet& set, Split* split,
                std::atomic<std::size_t>& next, Status* error) {
  const std::size_t per = static_cast<std::size_t>(d.channels) * d.height * d.width;
  for (std::size_t i = next++; i < split->samples.size(); i = next++) {
    const Result<Image> image = Transformed(d, set, split->samples[i], nullptr, nullptr);
    if (!image.ok()) {
      *error = image.status();
      next = split->samples.size();
      return;
    }
    ToPlanar(*image, split->pixels.data() + i * per);
  }
}

// The validation or test split's images, decoded and through the deterministic steps, CHW, with
// up to `threads` threads (at most 16).
Status DecodeEvalSplit(const ImageData& d, const ImageSet& set, int threads, Split* split) {
  const std::size_t per = static_cast<std::size_t>(d.channels) * d.height * d.width;
  split->pixels.assign(per * split->samples.size(), 0);
  std::atomic<std::size_t> next{0};
  std::vector<Status> errors(static_cast<std::size_t>(std::clamp(threads, 1, 16)));
  auto work = [&](std::size_t w) {
    try {
      DecodeSome(d, set, split, next, &errors[w]);
    } catch (const std::bad_alloc&) {  // a status, never std::terminate
      errors[w] = Status(StatusCode::kResourceExhausted,
                         "decoding the validation and test images: out of memory");
      next = split->samples.size();
    } catch (const std::exception& e) {
      errors[w] = Internal(std::string("decoding the validation and test images: ") + e.what());
      next = split->samples.size();
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t w = 1; w < errors.size(); ++w) pool.emplace_back(work, w);
  work(0);
  for (std::thread& t : pool) t.join();
  for (const Status& s : errors) {
    if (!s.ok()) return s;
  }
  return OkStatus();
}

// data.image.on_error: skip: every image of `set` decoded once (with up to `threads` threads);
// those that fail are left out of it, and named with their reason in `skipped`.
void SkipUnreadable(ImageSet* set, int threads, std::vector<std::string>* skipped) {
  if (set->format == image::SetFormat::kIdx || set->format == image::SetFormat::kCifar) return;
  std::vector<std::string> errors(set->size());
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < set->size(); i = next++) {
      try {
        if (Result<Image> im = set->Get(i); !im.ok()) errors[i] = im.status().message();
      } catch (const std::exception& e) {
        errors[i] = set->Where(i) + ": " + e.what();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::clamp(threads, 1, 16); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  ImageSet kept;  // the metadata, then the good samples moved over
  kept.format = set->format;
  kept.path = set->path;
  kept.classes = set->classes;
  kept.color = set->color;
  for (std::size_t i = 0; i < set->size(); ++i) {
    if (!errors[i].empty()) {
      skipped->push_back(errors[i]);
      continue;
    }
    kept.labels.push_back(set->labels[i]);
    if (!set->files.empty()) kept.files.push_back(std::move(set->files[i]));
    if (!set->encoded.empty()) kept.encoded.push_back(std::move(set->encoded[i]));
    if (!set->origins.empty()) kept.origins.push_back(std::move(set->origins[i]));
  }
  *set = std::move(kept);
}

// The model's input shape from the first training image; the random steps must give the size
// the deterministic ones give validation images.
Status InputShape(const manifest::DataConfig& cfg, const ImageSet& train, ImageData* d) {
  ENTRENAR_ASSIGN_OR_RETURN(const Image first, train.Get(0));
  d->channels = first.channels;
  // The first image through the random steps too: a crop larger than the images is found now,
  // not at the first batch.
  std::mt19937_64 rng(d->seed);
  if (Result<Image> tried = image::ApplyTransforms(d->transforms, first, &rng); !tried.ok()) {
    return Status(tried.status().code(), train.Where(0) + ": " + tried.status().message());
  }
  const auto [th, tw] = image::TransformedSize(d->transforms, first.height, first.width, true);
  const auto [eh, ew] = image::TransformedSize(d->transforms, first.height, first.width, false);
  if (th != eh || tw != ew) {
    return InvalidArgument(
        "data.augmentation: training images come out " + std::to_string(tw) + " x " +
        std::to_string(th) + " but validation and test images (which skip the random steps) " +
        std::to_string(ew) + " x " + std::to_string(eh) +
        "; add a step that gives both the same size (e.g. - center_crop: {size: [" +
        std::to_string(th) + ", " + std::to_string(tw) + "]})");
  }
  d->height = th;
  d->width = tw;
  if (const manifest::NormalizeImageStep* n = plan::NormalizeOf(cfg)) {
    const auto channels = static_cast<std::size_t>(d->channels);
    if (n->mean.size() == 1 && channels > 1) {  // one value for every channel, as torchvision
      d->mean.assign(channels, n->mean[0]);
      d->std.assign(channels, n->std[0]);
      return OkStatus();
    }
    if (n->mean.size() != channels) {
      std::size_t i = 0;
      while (!cfg.augmentation[i].normalize) ++i;
      return InvalidArgument("data.augmentation[" + std::to_string(i) +
                             "].normalize: " + std::to_string(n->mean.size()) +
                             " means for images of " + std::to_string(d->channels) + " channel" +
                             (d->channels == 1 ? "" : "s") +
                             " (data.image.color: " + cfg.image.color + ")");
    }
    d->mean = n->mean;
    d->std = n->std;
  }
  return OkStatus();
}

}  // namespace

Result<PreparedData> PrepareImages(const manifest::Manifest& m, const std::string& base_dir,
                                   std::uint64_t seed, int threads) {
  const manifest::DataConfig& cfg = m.data;
  ENTRENAR_RETURN_IF_ERROR(plan::CheckImageStratify(cfg));
  if (m.training.loss != "auto" && m.training.loss != "cross_entropy") {
    return InvalidArgument("training.loss: " + m.training.loss +
                           " for image classes; images train a classifier with cross_entropy");
  }
  PreparedData out;
  out.task = Task::kClassification;
  out.target = cfg.target;
  const manifest::SplitConfig split = manifest::EffectiveSplit(cfg);
  out.split_seed = split.seed ? static_cast<std::uint64_t>(*split.seed) : seed;
  ImageData d;
  d.transforms = plan::ImageTransforms(cfg);
  d.seed = cfg.loader.seed ? static_cast<std::uint64_t>(*cfg.loader.seed) : seed;
  const std::string first_key = cfg.source ? "data.source" : "data.train";
  ENTRENAR_ASSIGN_OR_RETURN(
      ImageSet first,
      plan::LoadImages(cfg, base_dir, first_key, cfg.source ? *cfg.source : *cfg.train));
  const bool skip = cfg.image.on_error == "skip";
  if (skip) SkipUnreadable(&first, threads, &out.skipped);
  if (first.size() == 0) {
    return InvalidArgument(first_key + ": " + first.path + " holds no images" +
                           (out.skipped.empty()
                                ? std::string()
                                : " that can be read (" + std::to_string(out.skipped.size()) +
                                      " skipped, the first: " + out.skipped[0] + ")"));
  }
  if (first.classes.size() < 2) {
    return InvalidArgument(first_key + ": " + first.path +
                           " has a single class; a classifier needs two or more");
  }
  out.classes = first.classes;
  auto train_set = std::make_shared<const ImageSet>(std::move(first));
  ENTRENAR_ASSIGN_OR_RETURN(const std::vector<float> train_labels,
                            Labels(*train_set, out.classes, first_key));
  d.sets = {train_set, train_set, train_set};
  if (cfg.source) {
    std::vector<std::string> strata;
    for (int label : train_set->labels) strata.push_back(std::to_string(label));
    const auto parts = SplitIndices(strata, split, out.split_seed, split.stratify.has_value());
    out.train = MakeSplit(train_labels, parts[0]);
    out.val = MakeSplit(train_labels, parts[1]);
    out.test = MakeSplit(train_labels, parts[2]);
  } else {
    out.train = MakeSplit(train_labels, AllSamples(train_set->size()));
    for (const auto& [key, path, index] :
         {std::tuple{"data.val", cfg.val, 1}, {"data.test", cfg.test, 2}}) {
      if (!path) continue;
      ENTRENAR_ASSIGN_OR_RETURN(ImageSet set, plan::LoadImages(cfg, base_dir, key, *path));
      set.color = train_set->color;  // one colour for every split (idx is grey by default)
      if (skip) SkipUnreadable(&set, threads, &out.skipped);
      ENTRENAR_ASSIGN_OR_RETURN(const std::vector<float> labels, Labels(set, out.classes, key));
      auto shared = std::make_shared<const ImageSet>(std::move(set));
      (index == 1 ? out.val : out.test) = MakeSplit(labels, AllSamples(shared->size()));
      d.sets[static_cast<std::size_t>(index)] = shared;
    }
  }
  if (out.train.rows == 0) return InvalidArgument("data.split: the training split is empty");
  ENTRENAR_RETURN_IF_ERROR(InputShape(cfg, *train_set, &d));
  ENTRENAR_RETURN_IF_ERROR(DecodeEvalSplit(d, *d.sets[1], threads, &out.val));
  ENTRENAR_RETURN_IF_ERROR(DecodeEvalSplit(d, *d.sets[2], threads, &out.test));
  out.images = std::move(d);
  return out;
}

void ToPlanar(const Image& image, std::uint8_t* out) {
  const std::size_t plane = static_cast<std::size_t>(image.height) * image.width;
  const auto channels = static_cast<std::size_t>(image.channels);
  for (std::size_t p = 0; p < plane; ++p) {
    for (std::size_t c = 0; c < channels; ++c) out[c * plane + p] = image.pixels[p * channels + c];
  }
}

Result<Image> TrainingImage(const PreparedData& data, std::int64_t row, std::int64_t epoch,
                            std::vector<image::Draw>* draws) {
  const ImageData& d = *data.images;
  std::mt19937_64 rng(SampleSeed(d.seed, epoch, row));
  return Transformed(d, *d.sets[0], data.train.samples[static_cast<std::size_t>(row)], &rng, draws);
}

}  // namespace entrenar::engine
