// Image data sets on disk: ImageFolder layouts, idx files and CIFAR batches.
#include "entrenar/image/image_set.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"
#include "entrenar/image/datasets.h"

namespace entrenar::image {
namespace fs = std::filesystem;

namespace {

constexpr std::size_t kMaxSetFile = std::size_t{2} << 30;  // an idx or CIFAR file, inflated
constexpr int kMaxDepth = 32;                              // a folder's nesting (a link loop)

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Extension(const std::string& name) {
  const std::size_t dot = name.find_last_of('.');
  return dot == std::string::npos ? "" : Lower(name.substr(dot));
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// torchvision's other image extensions: images it would load, that are not decoded here.
bool IsOtherImageName(const std::string& name) {
  static const char* const kOther[] = {".ppm", ".bmp", ".pgm", ".tif", ".tiff"};
  const std::string ext = Extension(name);
  return std::any_of(std::begin(kOther), std::end(kOther), [&](const char* e) { return ext == e; });
}

// The files of a pattern, sorted; the path itself when it has no pattern characters.
Result<std::vector<std::string>> Expand(const std::string& path) {
  if (path.find_first_of("*?[") == std::string::npos) return std::vector<std::string>{path};
  std::vector<std::string> out;
  glob_t g{};
  if (::glob(path.c_str(), 0, nullptr, &g) == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  }
  ::globfree(&g);
  if (out.empty()) return NotFound(path + ": no file matches the pattern");
  return out;
}

Result<std::string> ReadSetFile(const std::string& path) {
  ReadLimits limits;
  limits.max_bytes = kMaxSetFile;
  return ReadWholeFile(path, limits);
}

Status Named(const std::string& file, const Status& s) {
  return Status(s.code(), file + ": " + s.message());
}

// A class folder's image files, as torchvision walks it: directories in sorted order, each
// one's files sorted by name.
Status ListClass(const fs::path& dir, int label, ImageSet* set) {
  std::map<std::string, std::vector<std::string>> by_dir;
  std::error_code ec;
  const auto opts = fs::directory_options::follow_directory_symlink |
                    fs::directory_options::skip_permission_denied;
  for (fs::recursive_directory_iterator it(dir, opts, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it.depth() > kMaxDepth) {
      return InvalidArgument(it->path().string() + ": folders nested more than " +
                             std::to_string(kMaxDepth) + " deep (a link to a folder above it?)");
    }
    std::error_code stat_ec;
    if (!it->is_regular_file(stat_ec)) continue;
    const std::string name = it->path().filename().string();
    if (IsOtherImageName(name)) {
      return InvalidArgument(it->path().string() + ": a " + Extension(name).substr(1) +
                             " image; entrenar decodes PNG, JPEG and WebP (convert it, e.g. with "
                             "Pillow's Image.save to .png)");
    }
    if (!IsImageFileName(name)) continue;  // as torchvision: not an image, not a sample
    by_dir[it->path().parent_path().string()].push_back(it->path().string());
  }
  if (ec) return InvalidArgument(dir.string() + ": cannot list it: " + ec.message());
  for (auto& [d, files] : by_dir) {
    std::sort(files.begin(), files.end());
    for (std::string& f : files) {
      set->files.push_back(std::move(f));
      set->labels.push_back(label);
    }
  }
  return OkStatus();
}

Result<ImageSet> ReadFolder(const std::string& path) {
  ImageSet set;
  set.format = SetFormat::kFolder;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return NotFound(path + ": no such folder");
  for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dir_ec;
    if (it->is_directory(dir_ec)) set.classes.push_back(it->path().filename().string());
  }
  if (ec) return InvalidArgument(path + ": cannot list it: " + ec.message());
  std::sort(set.classes.begin(), set.classes.end());
  if (set.classes.empty()) {
    return InvalidArgument(path +
                           ": no class folders; an image folder holds one folder per class "
                           "(cat/001.png, dog/001.png, ...)");
  }
  for (std::size_t c = 0; c < set.classes.size(); ++c) {
    const std::size_t before = set.files.size();
    ENTRENAR_RETURN_IF_ERROR(ListClass(fs::path(path) / set.classes[c], static_cast<int>(c), &set));
    if (set.files.size() == before) {
      return InvalidArgument(
          path + "/" + set.classes[c] +
          ": no PNG, JPEG or WebP images in this class folder (remove it, or add "
          "its images)");
    }
  }
  return set;
}

// The labels file beside an idx images file, as MNIST names them (train-images-idx3-ubyte,
// train-labels-idx1-ubyte; also train-images.idx3-ubyte as some copies have it).
Result<std::string> IdxLabelsFile(const std::string& images) {
  const std::size_t idx = images.rfind("idx3-ubyte");
  const std::size_t name = idx == std::string::npos ? idx : images.rfind("images", idx);
  const std::size_t slash = images.rfind('/');
  if (name == std::string::npos || (slash != std::string::npos && name < slash)) {
    return InvalidArgument(images +
                           ": an idx images file is named *-images-idx3-ubyte[.gz], "
                           "with its labels beside it in *-labels-idx1-ubyte[.gz]");
  }
  std::string base = images.substr(0, idx + 10);
  base.replace(idx, 4, "idx1");
  base.replace(name, 6, "labels");
  std::error_code ec;
  for (const std::string& candidate : {base, base + ".gz"}) {
    if (fs::exists(candidate, ec)) return candidate;
  }
  return NotFound(images + ": its labels are not beside it (looked for " + base + "[.gz])");
}

Status ReadIdx(const std::string& file, ImageSet* set) {
  ENTRENAR_ASSIGN_OR_RETURN(const std::string labels_file, IdxLabelsFile(file));
  ENTRENAR_ASSIGN_OR_RETURN(const std::string image_bytes, ReadSetFile(file));
  Result<std::vector<Image>> images = DecodeIdxImages(image_bytes, kMaxSetFile);
  if (!images.ok()) return Named(file, images.status());
  if (!images->empty() &&
      static_cast<std::int64_t>(images->front().width) * images->front().height >
          DecodeOptions().max_pixels) {
    return InvalidArgument(file + ": idx images of " + std::to_string(images->front().width) +
                           " x " + std::to_string(images->front().height) + " pixels, past the " +
                           std::to_string(DecodeOptions().max_pixels) + " an image may have");
  }
  ENTRENAR_ASSIGN_OR_RETURN(const std::string label_bytes, ReadSetFile(labels_file));
  Result<std::vector<int>> labels = DecodeIdxLabels(label_bytes, kMaxSetFile);
  if (!labels.ok()) return Named(labels_file, labels.status());
  if (labels->size() != images->size()) {
    return InvalidArgument(labels_file + ": " + std::to_string(labels->size()) + " labels for " +
                           std::to_string(images->size()) + " images in " + file);
  }
  for (Image& i : *images) set->images.push_back(std::move(i));
  set->labels.insert(set->labels.end(), labels->begin(), labels->end());
  return OkStatus();
}

// CIFAR-100's files are train.bin and test.bin, records of 3074 bytes; CIFAR-10's 3073.
Cifar CifarKind(const std::string& file, std::size_t size, const std::string& target) {
  const std::string name = fs::path(file).filename().string();
  const bool hundred =
      name == "train.bin" || name == "test.bin" || (size % 3074 == 0 && size % 3073 != 0);
  if (!hundred) return Cifar::k10;
  return target == "coarse_label" ? Cifar::k100Coarse : Cifar::k100Fine;
}

// Class names from the text files the binary CIFAR archives carry, else the label numbers.
std::vector<std::string> CifarClasses(const std::string& file, Cifar kind) {
  const char* names = kind == Cifar::k10          ? "batches.meta.txt"
                      : kind == Cifar::k100Coarse ? "coarse_label_names.txt"
                                                  : "fine_label_names.txt";
  const std::size_t count = kind == Cifar::k10 ? 10 : kind == Cifar::k100Coarse ? 20 : 100;
  std::vector<std::string> out;
  ReadLimits limits;
  limits.max_bytes = 1 << 16;
  if (Result<std::string> text =
          ReadWholeFile((fs::path(file).parent_path() / names).string(), limits);
      text.ok()) {
    std::size_t at = 0;
    while (at < text->size()) {
      const std::size_t end = std::min(text->find('\n', at), text->size());
      const std::string_view line = Trim(std::string_view(*text).substr(at, end - at));
      if (!line.empty()) out.emplace_back(line);
      at = end + 1;
    }
  }
  if (out.size() == count) return out;
  out.clear();
  for (std::size_t i = 0; i < count; ++i) out.push_back(std::to_string(i));
  return out;
}

Status ReadCifar(const std::string& file, const std::string& target, ImageSet* set) {
  ENTRENAR_ASSIGN_OR_RETURN(const std::string bytes, ReadSetFile(file));
  const Cifar kind = CifarKind(file, bytes.size(), target);
  Result<LabeledImages> read = DecodeCifar(bytes, kind);
  if (!read.ok()) return Named(file, read.status());
  std::vector<std::string> classes = CifarClasses(file, kind);
  if (!set->classes.empty() && set->classes != classes) {
    return InvalidArgument(file + ": a CIFAR batch of other classes than " + set->path);
  }
  set->classes = std::move(classes);
  for (Image& i : read->images) set->images.push_back(std::move(i));
  set->labels.insert(set->labels.end(), read->labels.begin(), read->labels.end());
  return OkStatus();
}

}  // namespace

std::optional<SetFormat> ImageSetFormat(const std::string& format, const std::string& path) {
  if (format == "images") return SetFormat::kFolder;
  if (format == "idx") return SetFormat::kIdx;
  if (format == "cifar") return SetFormat::kCifar;
  if (format != "auto") return std::nullopt;
  std::error_code ec;
  if (fs::is_directory(path, ec)) return SetFormat::kFolder;
  const std::string name = fs::path(path).filename().string();
  if (name.find("idx3-ubyte") != std::string::npos) return SetFormat::kIdx;
  if (EndsWith(Lower(name), ".bin")) return SetFormat::kCifar;
  return std::nullopt;
}

bool IsImageFileName(const std::string& name) {
  const std::string ext = Extension(name);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".webp";
}

Result<Image> ImageSet::Get(std::size_t i) const {
  if (format == SetFormat::kTable && !encoded[i].empty()) {
    DecodeOptions options;
    options.color = color;
    Result<Image> image = DecodeImage(encoded[i], options);
    if (!image.ok())
      return Status(image.status().code(), Where(i) + ": " + image.status().message());
    return image;
  }
  if (format == SetFormat::kFolder || format == SetFormat::kTable) {
    DecodeOptions options;
    options.color = color;
    return ReadImageFile(files[i], options);
  }
  return Convert(images[i], color);
}

std::string ImageSet::Where(std::size_t i) const {
  if (format == SetFormat::kTable) {
    return encoded[i].empty() ? files[i] + " (" + origins[i] + ")" : origins[i];
  }
  if (format == SetFormat::kFolder) return files[i];
  return path + " (image " + std::to_string(i + 1) + ")";
}

std::vector<std::string> ClassesOf(const std::vector<std::string>& label_texts,
                                   std::vector<int>* labels) {
  std::vector<std::string> classes = label_texts;
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  const auto integer = [](const std::string& s) {
    std::size_t i = s.rfind('-', 0) == 0 ? 1 : 0;
    if (i == s.size() || s.size() - i > 18) return false;
    for (; i < s.size(); ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
    }
    return true;
  };
  if (std::all_of(classes.begin(), classes.end(), integer)) {
    std::sort(classes.begin(), classes.end(), [](const std::string& a, const std::string& b) {
      return std::stoll(a) < std::stoll(b);
    });
  }
  std::map<std::string, int> index;
  for (std::size_t i = 0; i < classes.size(); ++i) index[classes[i]] = static_cast<int>(i);
  labels->clear();
  for (const std::string& t : label_texts) labels->push_back(index.at(t));
  return classes;
}

Result<ImageSet> ReadImageSet(const std::string& path, SetFormat format,
                              const SetOptions& options) {
  if (format == SetFormat::kTable) {
    return InvalidArgument(path + ": a table of images is read by plan::LoadImages");
  }
  if (format == SetFormat::kFolder) {
    ENTRENAR_ASSIGN_OR_RETURN(ImageSet set, ReadFolder(path));
    set.path = path;
    set.color = options.color.value_or(ColorMode::kRgb);
    return set;
  }
  ImageSet set;
  set.format = format;
  set.path = path;
  ENTRENAR_ASSIGN_OR_RETURN(const std::vector<std::string> files, Expand(path));
  for (const std::string& file : files) {
    ENTRENAR_RETURN_IF_ERROR(format == SetFormat::kIdx ? ReadIdx(file, &set)
                                                       : ReadCifar(file, options.target, &set));
  }
  if (format == SetFormat::kIdx) {
    int top = 0;
    for (int l : set.labels) top = std::max(top, l);
    for (int c = 0; c <= top; ++c) set.classes.push_back(std::to_string(c));
  }
  set.color =
      options.color.value_or(format == SetFormat::kIdx ? ColorMode::kGrey : ColorMode::kRgb);
  return set;
}

}  // namespace entrenar::image
