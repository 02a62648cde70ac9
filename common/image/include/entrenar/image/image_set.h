// An image data set on disk: a folder of class folders (torchvision's ImageFolder layout), MNIST
// idx files, or CIFAR batches. Listing it is cheap (file names, or the small label data); the
// folder's images are decoded when asked for, the binary sets' when read.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/image/image.h"

namespace entrenar::image {

// kTable: the rows of a table (plan::LoadImages reads it), each an image file or its bytes.
enum class SetFormat { kFolder, kIdx, kCifar, kTable };

// The image format of `path` under `format` (data.format: "images", "idx" or "cifar"; "auto" by
// the path: a folder is an ImageFolder, a name holding `idx3-ubyte` an idx file, `.bin` a CIFAR
// batch). nullopt: not image data (a table).
std::optional<SetFormat> ImageSetFormat(const std::string& format, const std::string& path);

// The file extensions a folder's images may have (lower case); others are not images.
bool IsImageFileName(const std::string& name);

struct ImageSet {
  SetFormat format = SetFormat::kFolder;
  std::string path;
  std::vector<std::string> classes;  // class names in index order
  std::vector<int> labels;           // each sample's class index
  std::vector<std::string> files;    // kFolder, kTable: each sample's file, decoded by Get
  std::vector<Image> images;         // kIdx, kCifar: decoded when read
  std::vector<std::string> encoded;  // kTable: each sample's bytes (empty: its file instead)
  std::vector<std::string> origins;  // kTable: each sample's row (`table.parquet:12`)
  ColorMode color = ColorMode::kRgb;

  std::size_t size() const { return labels.size(); }
  // Sample `i` (< size()) in `color`. Errors name the file.
  Result<Image> Get(std::size_t i) const;
  // Where sample `i` comes from, for messages: its file, or the set's file and the index.
  std::string Where(std::size_t i) const;
};

// What ReadImageSet reads: `target` picks CIFAR-100's labels (`coarse_label` the 20 coarse
// classes, anything else the 100 fine ones).
struct SetOptions {
  std::optional<ColorMode> color;  // nullopt: grey for idx, RGB otherwise (as torchvision)
  std::string target = "label";
};

// A table's classes in index order from its label texts: by value when every label is an
// integer (`2` before `10`), else sorted as text. Returns each sample's class index in `labels`.
std::vector<std::string> ClassesOf(const std::vector<std::string>& label_texts,
                                   std::vector<int>* labels);

// Lists a folder (class folders sorted by name, each class's images sorted by path, found in its
// sub-folders too, as torchvision's ImageFolder) or reads idx / CIFAR files. `path` may be a
// pattern of idx or CIFAR files (`data_batch_*.bin`), read in order as one set. kNotFound when
// nothing is there; kInvalidArgument naming the file for a layout that is not one of these.
Result<ImageSet> ReadImageSet(const std::string& path, SetFormat format,
                              const SetOptions& options = {});

}  // namespace entrenar::image
