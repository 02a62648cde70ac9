#include "entrenar/plan/images.h"

#include <tuple>

#include "entrenar/plan/split.h"

namespace entrenar::plan {

std::optional<image::SetFormat> ImageFormat(const manifest::DataConfig& d,
                                            const std::string& base_dir) {
  const std::optional<std::string>& first = d.source ? d.source : d.train;
  if (!first) return std::nullopt;
  return image::ImageSetFormat(d.format, ResolvePath(base_dir, *first));
}

image::SetOptions ImageSetOptions(const manifest::DataConfig& d) {
  image::SetOptions o;
  if (d.image.color == "rgb") o.color = image::ColorMode::kRgb;
  if (d.image.color == "grey") o.color = image::ColorMode::kGrey;
  o.target = d.target;
  return o;
}

std::vector<image::Transform> ImageTransforms(const manifest::DataConfig& d) {
  using Kind = image::Transform::Kind;
  std::vector<image::Transform> out;
  const auto sizes = [](const std::vector<std::int64_t>& v) {
    return std::vector<int>(v.begin(), v.end());
  };
  for (const manifest::AugmentStep& s : d.augmentation) {
    image::Transform t;
    if (s.resize) {
      t.kind = Kind::kResize;
      t.size = sizes(s.resize->size);
    } else if (s.center_crop) {
      t.kind = Kind::kCenterCrop;
      t.size = sizes(s.center_crop->size);
    } else if (s.random_crop) {
      t.kind = Kind::kRandomCrop;
      t.size = sizes(s.random_crop->size);
      t.padding = static_cast<int>(s.random_crop->padding);
      const std::string& mode = s.random_crop->padding_mode;
      t.pad_mode = mode == "edge"        ? image::PadMode::kEdge
                   : mode == "reflect"   ? image::PadMode::kReflect
                   : mode == "symmetric" ? image::PadMode::kSymmetric
                                         : image::PadMode::kConstant;
    } else if (s.random_resized_crop) {
      const manifest::RandomResizedCropStep& r = *s.random_resized_crop;
      t.kind = Kind::kRandomResizedCrop;
      t.size = sizes(r.size);
      if (r.scale.size() == 2)
        std::tie(t.scale_min, t.scale_max) = std::pair{r.scale[0], r.scale[1]};
      if (r.ratio.size() == 2)
        std::tie(t.ratio_min, t.ratio_max) = std::pair{r.ratio[0], r.ratio[1]};
    } else if (s.horizontal_flip || s.vertical_flip) {
      t.kind = s.horizontal_flip ? Kind::kHorizontalFlip : Kind::kVerticalFlip;
      t.probability = (s.horizontal_flip ? *s.horizontal_flip : *s.vertical_flip).probability;
    } else {
      continue;  // normalize, and the steps validate refuses
    }
    out.push_back(std::move(t));
  }
  return out;
}

const manifest::NormalizeImageStep* NormalizeOf(const manifest::DataConfig& d) {
  for (const manifest::AugmentStep& s : d.augmentation) {
    if (s.normalize) return &*s.normalize;
  }
  return nullptr;
}

Result<image::ImageSet> LoadImages(const manifest::DataConfig& d, const std::string& base_dir,
                                   const std::string& key, const std::string& path) {
  if (path.find("://") != std::string::npos && path.rfind("file://", 0) != 0) {
    return Unimplemented(key + ": " + path +
                         " is fetched when the run starts (entrenar train, or the job's "
                         "worker); its images are not known before");
  }
  const std::string local = ResolvePath(base_dir, path);
  const image::SetFormat format =
      image::ImageSetFormat(d.format, local).value_or(image::SetFormat::kFolder);
  Result<image::ImageSet> set = image::ReadImageSet(local, format, ImageSetOptions(d));
  if (!set.ok()) return Status(set.status().code(), key + ": " + set.status().message());
  return set;
}

Status CheckImageStratify(const manifest::DataConfig& d) {
  const manifest::SplitConfig split = manifest::EffectiveSplit(d);
  if (!split.stratify || *split.stratify == d.target) return OkStatus();
  return InvalidArgument("data.split.stratify: image data is stratified by its class, `" +
                         d.target + "`; `" + *split.stratify + "` is not a column of it");
}

}  // namespace entrenar::plan
