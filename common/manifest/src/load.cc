#include "entrenar/manifest/load.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "entrenar/base/files.h"
#include "entrenar/manifest/limits.h"

#include "pipeline.h"
#include "reader.h"
#include "writer.h"

namespace entrenar::manifest {
namespace {

bool LooksLegacy(const Node& root) {
  const Node* model = root.Find("model");
  const Node* data = root.Find("data");
  return (model && model->IsMap() && model->Find("path")) ||
         (data && data->IsMap() && data->Find("train") && data->Find("batch_size"));
}

// A root without `entrenar:` is not a 1.0 manifest at all: say so once instead of listing every
// key that differs.
bool CheckFormatMarker(const Node& root, const std::string& file, std::vector<Diagnostic>* diags) {
  if (root.IsNull() && diags->empty()) {
    diags->push_back({Severity::kError,
                      "",
                      Location{file, 1, 1},
                      "the manifest is empty",
                      {"start from `entrenar init --template minimal`"}});
    return false;
  }
  if (!root.IsMap()) {
    if (!root.IsNull()) {
      diags->push_back({Severity::kError,
                        "",
                        root.loc,
                        "a manifest is a mapping of keys, found " + root.Describe(),
                        {}});
    }
    return false;
  }
  if (root.Find("entrenar")) return true;
  std::vector<std::string> hints = {"an entrenar 1.0 manifest starts with `entrenar: \"1.0\"`"};
  if (LooksLegacy(root)) {
    hints.insert(hints.begin(),
                 "this looks like the older TrainSpec format (model.path, data.train), which "
                 "entrenar does not read; see docs/compatibility.md");
  }
  diags->push_back({Severity::kError, "entrenar", Location{file, 1, 1},
                    "not an entrenar 1.0 manifest: missing required key `entrenar`", hints});
  return LooksLegacy(root) ? false : true;
}

void SortByLocation(std::vector<Diagnostic>* diags) {
  std::stable_sort(diags->begin(), diags->end(), [](const Diagnostic& a, const Diagnostic& b) {
    const bool a_set = a.location.line == 0, b_set = b.location.line == 0;
    if (a_set != b_set) return a_set < b_set;  // file positions first, then --set ones
    if (a.location.line != b.location.line) return a.location.line < b.location.line;
    return a.location.column < b.location.column;
  });
}

// Defaults that depend on what was written. A `split` that names only some ratios means the
// others are 0, except `train`, which takes the rest (so `{train: 0.9, val: 0.1}` sums to 1).
// A time budget leaves the run's length in steps unknown: with the scheduler left at its default
// (which decays over that length) and no T_max, the learning rate stays constant, and a note says
// so. A schedule written out that needs the length is refused by Validate.
void ApplyWrittenDefaults(Manifest& m, std::vector<Diagnostic>* diags) {
  if (m.data.split) {
    SplitConfig& s = *m.data.split;
    if (!m.IsSet("data.split.val")) s.val = 0;
    if (!m.IsSet("data.split.test")) s.test = 0;
    if (!m.IsSet("data.split.train")) s.train = 1.0 - s.val - s.test;
  }
  if (m.training.duration && !m.IsSet("scheduler.name") && !m.scheduler.T_max) {
    diags->push_back({Severity::kNote,
                      "scheduler.name",
                      m.LocationOf("training.duration"),
                      "the learning rate stays constant on a time budget: the default `" +
                          m.scheduler.name + "` schedule needs the run's length in steps",
                      {"for a decay, set scheduler.name and scheduler.T_max"}});
    m.scheduler.name = "constant";
  }
}

// A manifest of 100k unknown keys gets the first Limits::kMaxDiagnostics and a count of the rest.
void CapDiagnostics(std::vector<Diagnostic>* diags) {
  if (diags->size() <= Limits::kMaxDiagnostics) return;
  const std::size_t more = diags->size() - Limits::kMaxDiagnostics;
  const Location last = (*diags)[Limits::kMaxDiagnostics].location;
  diags->resize(Limits::kMaxDiagnostics);
  diags->push_back({Severity::kError,
                    "",
                    last,
                    "and " + std::to_string(more) + " more errors, from here on",
                    {"fix the ones above first"}});
}

}  // namespace

Manifest ReadManifest(const Node& root, const std::string& file, std::vector<Diagnostic>* diags) {
  Manifest m;
  m.file = file;
  ReadContext ctx{diags, &m.locations};
  ReadStruct(ctx, root, "", m);
  ApplyWrittenDefaults(m, diags);
  return m;
}

LoadResult LoadText(const std::string& text, const std::string& file_name,
                    const LoadOptions& options) {
  LoadResult result;
  std::vector<Diagnostic>& diags = result.diagnostics;
  Node root = ParseYaml(text, file_name, &diags);
  if (HasErrors(diags)) return result;
  ReplaceBudgetKeys(root, options.overrides, &diags);
  for (const std::string& arg : options.overrides) ApplyOverride(root, arg, &diags);
  if (!CheckFormatMarker(root, file_name, &diags)) return result;

  std::size_t before = diags.size();
  ResolveTemplates(root, options, &diags);
  std::set<std::string> failed_templates;
  for (std::size_t i = before; i < diags.size(); ++i) failed_templates.insert(diags[i].path);

  before = diags.size();
  Manifest m = ReadManifest(root, file_name, &diags);
  // A template that failed left a null behind: do not report that null a second time.
  diags.erase(std::remove_if(diags.begin() + static_cast<long>(before), diags.end(),
                             [&](const Diagnostic& d) { return failed_templates.count(d.path); }),
              diags.end());
  // Cross-field rules run even when some keys failed to read, so one pass reports everything;
  // a rule about a key that already has an error (and so kept its default) is left out.
  std::vector<Diagnostic> cross;
  Validate(m, &cross);
  const std::vector<Diagnostic> read_errors(diags.begin() + static_cast<long>(before), diags.end());
  for (Diagnostic& d : cross) {
    const bool related =
        std::any_of(read_errors.begin(), read_errors.end(), [&](const Diagnostic& e) {
          return e.path == d.path || StartsWith(e.path, d.path + ".") ||
                 StartsWith(d.path, e.path + ".") || StartsWith(e.path, d.path + "[");
        });
    if (!related) diags.push_back(std::move(d));
  }
  SortByLocation(&diags);
  CapDiagnostics(&diags);
  if (!HasErrors(diags)) result.manifest = std::move(m);
  return result;
}

LoadResult LoadFile(const std::string& path, const LoadOptions& options) {
  // A FIFO is read (a shell's `<(...)`), a device or a socket is not, and neither past the size
  // a manifest may have: `validate /dev/zero` is refused at once.
  const Result<std::string> text = ReadWholeFile(path, {Limits::kMaxBytes, /*pipes=*/true});
  if (!text.ok()) {
    LoadResult r;
    r.diagnostics.push_back({Severity::kError,
                             "",
                             Location{path, 0, 0},
                             "cannot open the manifest: " + text.status().message(),
                             {}});
    return r;
  }
  const auto start = std::chrono::steady_clock::now();
  LoadResult r = LoadText(*text, path, options);
  spdlog::debug("loaded manifest {} in {} us: {} diagnostics, {}", path,
                std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::steady_clock::now() - start)
                    .count(),
                r.diagnostics.size(), r.ok() ? "valid" : "invalid");
  return r;
}

std::string ToYaml(const Manifest& m) { return EmitYaml(WriteValue(m)); }
std::string ToJson(const Manifest& m) { return EmitJson(WriteValue(m)); }

namespace {

// Makes the local relative paths of `uri` keys absolute against `base`, or, given `relative_to`,
// relative to that directory instead.
class AbsolutePaths {
 public:
  explicit AbsolutePaths(std::filesystem::path base, std::filesystem::path relative_to = {})
      : base_(std::move(base)), relative_to_(std::move(relative_to)) {}

  template <typename T>
  void Key(const char*, T& field, const Rule& rule) {
    Apply(field, rule.format == "uri");
  }
  template <typename T>
  void Variant(const char*, std::optional<T>& field, const Rule&) {
    if (field) Apply(*field, false);
  }

 private:
  template <typename T>
  void Apply(T& v, bool uri) {
    if constexpr (IsOptional<T>::value) {
      if (v) Apply(*v, uri);
    } else if constexpr (IsVector<T>::value) {
      for (auto& item : v) Apply(item, uri);
    } else if constexpr (std::is_same_v<T, std::string>) {
      // file://data/x.csv is a local path, relative to the manifest as a bare one is.
      const std::string scheme = v.rfind("file://", 0) == 0 ? "file://" : "";
      const std::string path = v.substr(scheme.size());
      const bool remote = path.find("://") != std::string::npos;
      if (!uri || path.empty() || remote || path[0] == '/') return;
      const std::filesystem::path absolute = (base_ / path).lexically_normal();
      const std::filesystem::path relative = relative_to_.empty()
                                                 ? std::filesystem::path()
                                                 : absolute.lexically_relative(relative_to_);
      v = scheme + (relative.empty() ? absolute.string() : relative.string());
    } else if constexpr (kIsStruct<T>) {
      Visit(*this, v);
    }
  }

  std::filesystem::path base_;
  std::filesystem::path relative_to_;
};

// The node at `path` under `n`, or nullptr.
const Node* Navigate(const Node& n, std::string_view path) {
  const Node* at = &n;
  while (at && !path.empty()) {
    if (path[0] == '.') path.remove_prefix(1);
    if (path.empty()) break;
    if (path[0] == '[') {
      const std::size_t close = path.find(']');
      if (close == std::string_view::npos || !at->IsSeq()) return nullptr;
      const std::size_t i =
          std::strtoul(std::string(path.substr(1, close - 1)).c_str(), nullptr, 10);
      if (i >= at->items.size()) return nullptr;
      at = &at->items[i];
      path.remove_prefix(close + 1);
      continue;
    }
    const std::size_t end = std::min(path.find('.'), path.find('['));
    at = at->IsMap() ? at->Find(path.substr(0, end)) : nullptr;
    path.remove_prefix(end == std::string_view::npos ? path.size() : end);
  }
  return at;
}

}  // namespace

Manifest AsRun(const Manifest& m, const std::string& base_dir, const std::string& run_dir) {
  Manifest out = m;
  const std::filesystem::path base = std::filesystem::absolute(base_dir.empty() ? "." : base_dir);
  AbsolutePaths paths(base);
  Visit(paths, out);
  out.output.dir = std::filesystem::absolute(run_dir).lexically_normal().string();
  if (!m.IsSet("output.report")) out.output.report.enabled = false;
  return out;
}

Manifest Rebased(const Manifest& m, const std::string& base_dir, const std::string& new_dir) {
  Manifest out = m;
  auto absolute = [](const std::string& dir) {
    return std::filesystem::absolute(dir.empty() ? "." : dir).lexically_normal();
  };
  AbsolutePaths paths(absolute(base_dir), absolute(new_dir));
  Visit(paths, out);
  return out;
}

std::string ValueJson(const Manifest& m, const std::string& path) {
  const Node root = WriteValue(m);
  const Node* n = Navigate(root, path);
  return n ? EmitJson(*n, -1) : "";
}

std::string ToWrittenYaml(const Manifest& m) {
  Node root = Node::Map();
  WrittenWriter w(&root, m.locations, "");
  Visit(w, const_cast<Manifest&>(m));
  return EmitYaml(root);
}

SplitConfig EffectiveSplit(const DataConfig& d) {
  if (d.split) return *d.split;
  SplitConfig s;
  if (d.train || d.val || d.test) s.train = 1.0, s.val = 0, s.test = 0;
  return s;
}

std::int64_t EffectiveEpochs(const TrainingConfig& t) { return t.epochs.value_or(kDefaultEpochs); }

Location Manifest::LocationOf(const std::string& path) const {
  std::string p = path;
  while (!p.empty()) {
    auto it = locations.find(p);
    if (it != locations.end()) return it->second;
    const std::size_t cut = p.find_last_of(".[");
    if (cut == std::string::npos) break;
    p = p.substr(0, cut);
  }
  return Location{file, 1, 1};
}

}  // namespace entrenar::manifest
