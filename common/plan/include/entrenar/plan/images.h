// Image data sets as a manifest names them: whether its data is images, how they are read, and
// its data.augmentation as the image library's transforms. The engine and `plan` share these.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/image/image_set.h"
#include "entrenar/image/transform.h"
#include "entrenar/manifest/manifest.h"

namespace entrenar::plan {

// The image format of the manifest's data (data.source, else data.train), relative to
// `base_dir`; nullopt for tables and text.
std::optional<image::SetFormat> ImageFormat(const manifest::DataConfig& d,
                                            const std::string& base_dir);

// How ReadImageSet reads the manifest's image files (data.image.color, data.target).
image::SetOptions ImageSetOptions(const manifest::DataConfig& d);

// The image steps of data.augmentation, in order (normalize, the last, is not one: it works on
// the scaled pixels; see NormalizeOf).
std::vector<image::Transform> ImageTransforms(const manifest::DataConfig& d);

// data.augmentation's normalize step, if any.
const manifest::NormalizeImageStep* NormalizeOf(const manifest::DataConfig& d);

// One split's images (`key` names it in messages): kUnimplemented for remote data, else as
// image::ReadImageSet.
Result<image::ImageSet> LoadImages(const manifest::DataConfig& d, const std::string& base_dir,
                                   const std::string& key, const std::string& path);

// The stratification of an image data set: by its label, the only column it has. kInvalidArgument
// naming data.split.stratify when it names something else.
Status CheckImageStratify(const manifest::DataConfig& d);

}  // namespace entrenar::plan
