#include "entrenar/plan/images.h"

#include <filesystem>
#include <tuple>

#include "entrenar/base/strings.h"
#include "entrenar/plan/split.h"

namespace entrenar::plan {

std::optional<image::SetFormat> ImageFormat(const manifest::DataConfig& d,
                                            const std::string& base_dir) {
  const std::optional<std::string>& first = d.source ? d.source : d.train;
  if (!first) return std::nullopt;
  if (d.image.column) return image::SetFormat::kTable;
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
    } else if (s.color_jitter) {
      t.kind = Kind::kColorJitter;
      t.brightness = s.color_jitter->brightness;
      t.contrast = s.color_jitter->contrast;
      t.saturation = s.color_jitter->saturation;
      t.hue = s.color_jitter->hue;
    } else if (s.rotation) {
      t.kind = Kind::kRotation;
      t.degrees = s.rotation->degrees;
      t.fill = static_cast<std::uint8_t>(s.rotation->fill);
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

namespace {

// Whether a cell holds an image file's bytes (a PNG, JPEG or WebP signature), not its path.
bool IsImageBytes(const std::string& cell) { return image::IsImageSignature(cell); }

// A table whose rows are images (data.image.column): each row's bytes (the struct's `bytes`, or
// a cell that starts as a PNG, JPEG or WebP does), else its file relative to the table's folder;
// its label from data.target. With on_error: skip a row without an image is left out.
Result<image::ImageSet> ImagesOfTable(const manifest::DataConfig& d, const std::string& base_dir,
                                      const std::string& key, const std::string& path) {
  ENTRENAR_ASSIGN_OR_RETURN(formats::Table t, LoadTable(d, base_dir, key, path));
  const std::string& column = *d.image.column;
  const std::optional<std::size_t> bytes = t.ColumnIndex(column + ".bytes");
  const std::optional<std::size_t> file =
      bytes ? t.ColumnIndex(column + ".path") : t.ColumnIndex(column);
  if (!bytes && !file) {
    const std::string dym = DidYouMean(Suggest(column, t.columns));
    return InvalidArgument("data.image.column: column `" + column + "` is not in " + t.file + " (" +
                           (dym.empty() ? "columns: " + JoinQuoted(t.columns) : dym) + ")");
  }
  const std::optional<std::size_t> label = t.ColumnIndex(d.target);
  if (!label) {
    return InvalidArgument("data.target: column `" + d.target + "` is not in " + t.file +
                           " (columns: " + JoinQuoted(t.columns) + ")");
  }
  image::ImageSet set;
  set.format = image::SetFormat::kTable;
  set.path = t.file;
  const bool pattern = t.file.find_first_of("*?[") != std::string::npos;
  const std::string folder = std::filesystem::path(t.file).parent_path().string();
  std::vector<std::string> label_texts;
  for (std::size_t i = 0; i < t.rows.size(); ++i) {
    auto& row = t.rows[i];
    const std::string where = t.file + ":" + std::to_string(t.row_lines[i]);
    if (!row[*label]) return InvalidArgument(where + ": the label `" + d.target + "` is missing");
    const bool struct_bytes = bytes && row[*bytes] && !row[*bytes]->empty();
    std::optional<std::string>& cell = row[struct_bytes || !file ? *bytes : *file];
    if (!cell || cell->empty()) {
      if (d.image.on_error == "skip") continue;
      return InvalidArgument(where + ": the image `" + column + "` is missing");
    }
    const bool encoded = struct_bytes || IsImageBytes(*cell);
    if (!encoded && pattern && !std::filesystem::path(*cell).is_absolute()) {
      return InvalidArgument(where +
                             ": a relative image path in a pattern of tables; give "
                             "absolute paths, or name one table");
    }
    set.files.push_back(encoded ? std::string() : ResolvePath(folder, *cell));
    set.encoded.push_back(encoded ? std::move(*cell) : std::string());
    set.origins.push_back(where);
    label_texts.push_back(*row[*label]);
  }
  set.classes = image::ClassesOf(label_texts, &set.labels);
  set.color = ImageSetOptions(d).color.value_or(image::ColorMode::kRgb);
  return set;
}

}  // namespace

Result<image::ImageSet> LoadImages(const manifest::DataConfig& d, const std::string& base_dir,
                                   const std::string& key, const std::string& path) {
  if (d.image.column) return ImagesOfTable(d, base_dir, key, path);
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
