// The local pacha:// model registry: content-addressed blobs and one JSON entry per version.
#include "entrenar/registry/registry.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <tuple>

#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/sha256.h"

namespace entrenar::registry {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

bool NameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

bool ValidPart(const std::string& part, bool version) {
  if (part.empty() || part == "." || part == "..") return false;
  return std::all_of(part.begin(), part.end(),
                     [&](char c) { return NameChar(c) || (version && c == '+'); });
}

ordered_json ToJson(const Entry& e) {
  ordered_json j = {{"name", e.ref.name},
                    {"version", e.ref.version},
                    {"ref", e.ref.ToString()},
                    {"created", e.created},
                    {"run_dir", e.run_dir}};
  j["files"] = ordered_json::array();
  for (const StoredFile& f : e.files) {
    j["files"].push_back({{"name", f.name}, {"sha256", f.sha256}, {"size", f.size}});
  }
  j["metrics"] = e.metrics;
  if (e.quality_score) j["quality"] = {{"score", *e.quality_score}, {"grade", e.quality_grade}};
  return j;
}

Result<Entry> FromJson(const std::string& text, const std::string& path) {
  const ordered_json j = ordered_json::parse(text, nullptr, false);
  if (!j.is_object()) return DataLoss(path + ": not a registry entry");
  Entry e;
  try {
    e.ref = {j.at("name").get<std::string>(), j.at("version").get<std::string>()};
    e.created = j.value("created", "");
    e.run_dir = j.value("run_dir", "");
    for (const auto& f : j.at("files")) {
      e.files.push_back({f.at("name"), f.at("sha256"), f.at("size").get<std::int64_t>()});
    }
    const ordered_json metrics = j.value("metrics", ordered_json::object());
    for (const auto& [k, v] : metrics.items()) e.metrics[k] = v.get<double>();
    if (j.contains("quality")) {
      e.quality_score = j["quality"].at("score").get<double>();
      e.quality_grade = j["quality"].at("grade").get<std::string>();
    }
  } catch (const nlohmann::json::exception& ex) {
    return DataLoss(path + ": a damaged registry entry (" + ex.what() + ")");
  }
  return e;
}

}  // namespace

std::string DefaultTarget(const std::string& name, const std::string& version) {
  return ModelRef{name, version}.ToString();
}

Result<ModelRef> ParseModelRef(const std::string& text) {
  const std::string prefix = "pacha://models/";
  if (text.rfind("pacha://", 0) != 0)
    return InvalidArgument("`" + text + "` is not a pacha:// address");
  if (text.rfind(prefix, 0) != 0)
    return InvalidArgument("`" + text + "`: expected pacha://models/NAME:VERSION");
  const std::string rest = text.substr(prefix.size());
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos)
    return InvalidArgument("`" + text + "` has no version: pacha://models/NAME:VERSION");
  ModelRef ref{rest.substr(0, colon), rest.substr(colon + 1)};
  std::size_t start = 0;
  for (std::size_t slash = 0; slash != std::string::npos; start = slash + 1) {
    slash = ref.name.find('/', start);
    if (!ValidPart(ref.name.substr(start, slash - start), false))
      return InvalidArgument("`" + text + "`: a model name is letters, digits, . _ - and /");
  }
  if (!ValidPart(ref.version, true))
    return InvalidArgument("`" + text + "`: a version is letters, digits, . _ - and +");
  return ref;
}

std::string DefaultRoot() {
  if (const char* r = std::getenv("ENTRENAR_REGISTRY"); r && *r) return r;
  if (const char* d = std::getenv("XDG_DATA_HOME"); d && *d)
    return std::string(d) + "/entrenar/registry";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.local/share/entrenar/registry";
}

std::string Registry::BlobPath(const std::string& sha256) const {
  return root_ + "/blobs/sha256/" + sha256;
}

std::string Registry::EntryPath(const ModelRef& ref) const {
  return root_ + "/models/" + ref.name + "/" + ref.version + ".json";
}

Status Registry::Publish(Entry entry, const std::map<std::string, std::string>& files) {
  entry.files.clear();
  for (const auto& [name, path] : files) {
    ENTRENAR_ASSIGN_OR_RETURN(const std::string bytes, ReadWholeFile(path));
    StoredFile f{name, Sha256Hex(bytes), static_cast<std::int64_t>(bytes.size())};
    std::error_code ec;
    fs::create_directories(root_ + "/blobs/sha256", ec);
    if (ec) return Internal("cannot create " + root_ + "/blobs: " + ec.message());
    if (!fs::exists(BlobPath(f.sha256), ec)) {
      ENTRENAR_RETURN_IF_ERROR(WriteFileAtomic(BlobPath(f.sha256), bytes));
    }
    entry.files.push_back(f);
  }
  if (Result<Entry> existing = Get(entry.ref); existing.ok()) {
    auto same = [](const StoredFile& a, const StoredFile& b) {
      return a.name == b.name && a.sha256 == b.sha256;
    };
    if (std::equal(existing->files.begin(), existing->files.end(), entry.files.begin(),
                   entry.files.end(), same)) {
      return OkStatus();
    }
    return Status(StatusCode::kAlreadyExists,
                  entry.ref.ToString() + " is already published with other files (from " +
                      existing->run_dir + "); versions are immutable: publish a new version");
  }
  const std::string path = EntryPath(entry.ref);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Internal("cannot create " + fs::path(path).parent_path().string());
  return WriteFileAtomic(path, ToJson(entry).dump(2) + "\n");
}

Result<Entry> Registry::Get(const ModelRef& ref) const {
  const std::string path = EntryPath(ref);
  Result<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return NotFound(ref.ToString() + " is not in the registry at " + root_);
  return FromJson(*text, path);
}

Result<std::vector<Entry>> Registry::List(const std::string& name) const {
  std::vector<Entry> out;
  const fs::path models = root_ + "/models";
  std::error_code ec;
  if (!fs::is_directory(models, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(models, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".json") continue;
    Result<std::string> text = ReadWholeFile(it->path().string());
    if (!text.ok()) continue;
    Result<Entry> e = FromJson(*text, it->path().string());
    if (!e.ok()) return e.status();
    if (name.empty() || e->ref.name == name) out.push_back(*std::move(e));
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.ref.name, a.created, a.ref.version) <
           std::tie(b.ref.name, b.created, b.ref.version);
  });
  return out;
}

}  // namespace entrenar::registry
