// The local pacha:// registry of models and data sets: content-addressed blobs, one JSON entry per
// version and a snapshot folder of links that names its files.
#include "entrenar/registry/registry.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
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

// A file's name in an entry: a relative path of plain parts.
bool ValidFileName(const std::string& name) {
  if (name.empty() || name.size() > 4096 || name[0] == '/' || name.find('\\') != std::string::npos)
    return false;
  std::size_t start = 0;
  for (std::size_t slash = 0; slash != std::string::npos; start = slash + 1) {
    slash = name.find('/', start);
    const std::string part = name.substr(start, slash - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string::npos)
      return false;
  }
  return true;
}

ordered_json ToJson(const Entry& e) {
  ordered_json j = {{"kind", e.ref.KindName()}, {"name", e.ref.name},   {"version", e.ref.version},
                    {"ref", e.ref.ToString()},  {"created", e.created}, {"run_dir", e.run_dir}};
  j["files"] = ordered_json::array();
  for (const StoredFile& f : e.files) {
    j["files"].push_back({{"name", f.name}, {"sha256", f.sha256}, {"size", f.size}});
  }
  j["metrics"] = e.metrics;
  if (e.quality_score) j["quality"] = {{"score", *e.quality_score}, {"grade", e.quality_grade}};
  return j;
}

}  // namespace

bool IsPachaUri(const std::string& text) { return text.rfind("pacha://", 0) == 0; }

Result<Entry> ParseEntry(const std::string& text, const std::string& path) {
  const ordered_json j = ordered_json::parse(text, nullptr, false);
  if (!j.is_object()) return DataLoss(path + ": not a registry entry");
  Entry e;
  try {
    const std::string kind = j.value("kind", "models");
    if (kind != "models" && kind != "datasets")
      return DataLoss(path + ": an entry of kind " + kind);
    e.ref = {kind == "models" ? Kind::kModel : Kind::kDataset, j.at("name").get<std::string>(),
             j.at("version").get<std::string>()};
    if (!ParseRef(e.ref.ToString()).ok())
      return DataLoss(path + ": a damaged registry entry (its name or version)");
    e.created = j.value("created", "");
    e.run_dir = j.value("run_dir", "");
    for (const auto& f : j.at("files")) {
      // A size is a whole number of bytes (a float's conversion to int64 is undefined past it).
      const nlohmann::ordered_json& size = f.at("size");
      if (!size.is_number_integer() || size.get<double>() < 0 || size.get<double>() > 4e18)
        return DataLoss(path + ": a damaged registry entry (a file's size)");
      e.files.push_back({f.at("name"), f.at("sha256"), size.get<std::int64_t>()});
      const StoredFile& stored = e.files.back();
      if (!ValidFileName(stored.name) || stored.sha256.size() != 64 ||
          stored.sha256.find_first_not_of("0123456789abcdef") != std::string::npos)
        return DataLoss(path + ": a damaged registry entry (file `" + stored.name + "`)");
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

std::string DefaultTarget(const std::string& name, const std::string& version) {
  return Ref{Kind::kModel, name, version}.ToString();
}

Result<Ref> ParseRef(const std::string& text) {
  if (!IsPachaUri(text)) return InvalidArgument("`" + text + "` is not a pacha:// address");
  Ref ref;
  std::string rest = text.substr(8);
  if (rest.rfind("models/", 0) == 0) {
    rest = rest.substr(7);
  } else if (rest.rfind("datasets/", 0) == 0) {
    ref.kind = Kind::kDataset;
    rest = rest.substr(9);
  } else {
    return InvalidArgument(
        "`" + text + "`: expected pacha://models/NAME:VERSION or pacha://datasets/NAME:VERSION");
  }
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    return InvalidArgument("`" + text + "` has no version: pacha://" + ref.KindName() +
                           "/NAME:VERSION");
  }
  ref.name = rest.substr(0, colon);
  ref.version = rest.substr(colon + 1);
  std::size_t start = 0;
  for (std::size_t slash = 0; slash != std::string::npos; start = slash + 1) {
    slash = ref.name.find('/', start);
    if (!ValidPart(ref.name.substr(start, slash - start), false))
      return InvalidArgument("`" + text + "`: a name is letters, digits, . _ - and /");
  }
  if (!ValidPart(ref.version, true))
    return InvalidArgument("`" + text + "`: a version is letters, digits, . _ - and +");
  return ref;
}

Result<Ref> ParseModelRef(const std::string& text) {
  ENTRENAR_ASSIGN_OR_RETURN(Ref ref, ParseRef(text));
  if (ref.kind != Kind::kModel)
    return InvalidArgument("`" + text + "`: expected pacha://models/NAME:VERSION");
  return ref;
}

Result<std::map<std::string, std::string>> FilesToAdd(const std::vector<std::string>& paths) {
  std::map<std::string, std::string> out;
  const auto add = [&](const std::string& name, const fs::path& path) -> Status {
    if (!out.emplace(name, path.string()).second) {
      return InvalidArgument("two files to add are named " + name + " (" + out[name] + " and " +
                             path.string() + ")");
    }
    return OkStatus();
  };
  for (const std::string& p : paths) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) {
      ENTRENAR_RETURN_IF_ERROR(add(fs::path(p).filename().string(), p));
      continue;
    }
    if (!fs::is_directory(p, ec)) return NotFound(p + ": no such file or folder");
    auto it =
        fs::recursive_directory_iterator(p, fs::directory_options::follow_directory_symlink, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const std::string base = it->path().filename().string();
      if (!base.empty() && base[0] == '.') {
        if (it->is_directory(ec)) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_regular_file(ec)) continue;
      ENTRENAR_RETURN_IF_ERROR(add(it->path().lexically_relative(p).generic_string(), it->path()));
    }
    if (ec) return Internal("cannot list " + p + ": " + ec.message());
  }
  if (out.empty()) return InvalidArgument("no files to add (hidden files are left out)");
  return out;
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

std::string Registry::EntryPath(const Ref& ref) const {
  return root_ + "/" + ref.KindName() + "/" + ref.name + "/" + ref.version + ".json";
}

Result<StoredFile> Registry::StoreBlob(const std::string& name, const std::string& path) const {
  if (!ValidFileName(name)) return InvalidArgument("`" + name + "` is not a file name to store");
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return NotFound(path + ": no such file");
  fs::create_directories(root_ + "/blobs/sha256", ec);
  if (ec) return Internal("cannot create " + root_ + "/blobs: " + ec.message());
  // Copied first and hashed as copied: a file that changes meanwhile cannot be stored under
  // another file's hash.
  const std::string tmp = root_ + "/blobs/sha256/.incoming-" + std::to_string(::getpid()) + "-" +
                          std::to_string(std::hash<std::string>{}(name));
  fs::copy_file(path, tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Internal("cannot copy " + path + " into the registry: " + ec.message());
  }
  Result<std::string> sha = Sha256File(tmp);
  const auto size = static_cast<std::int64_t>(fs::file_size(tmp, ec));
  if (!sha.ok() || ec) {
    fs::remove(tmp, ec);
    return DataLoss("cannot read back the copy of " + path);
  }
  // A blob already there is kept unless it has another size (damaged: replaced by this copy).
  const auto stored = fs::file_size(BlobPath(*sha), ec);
  if (!ec && static_cast<std::int64_t>(stored) == size) {
    fs::remove(tmp, ec);
  } else {
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read,
                    ec);
    fs::rename(tmp, BlobPath(*sha), ec);
    if (ec) return Internal("cannot store " + BlobPath(*sha) + ": " + ec.message());
  }
  return StoredFile{name, *sha, size};
}

// The same files as `existing` (a no-op), or kAlreadyExists: versions are immutable.
Status Registry::AlreadyThere(const Entry& entry, const Entry& existing) const {
  auto same = [](const StoredFile& a, const StoredFile& b) {
    return a.name == b.name && a.sha256 == b.sha256;
  };
  if (std::equal(existing.files.begin(), existing.files.end(), entry.files.begin(),
                 entry.files.end(), same)) {
    return Snapshot(existing).status();
  }
  const std::string from = existing.run_dir.empty() ? "" : " (from " + existing.run_dir + ")";
  return Status(StatusCode::kAlreadyExists, entry.ref.ToString() +
                                                " is already published with other files" + from +
                                                "; versions are immutable: publish a new version");
}

Status Registry::Publish(Entry entry, const std::map<std::string, std::string>& files) {
  entry.files.clear();
  for (const auto& [name, path] : files) {
    ENTRENAR_ASSIGN_OR_RETURN(StoredFile f, StoreBlob(name, path));
    entry.files.push_back(std::move(f));
  }
  if (Result<Entry> existing = Get(entry.ref); existing.ok()) return AlreadyThere(entry, *existing);
  const std::string path = EntryPath(entry.ref);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return Internal("cannot create " + fs::path(path).parent_path().string());
  // Written beside it and linked into place, which fails if another publisher's entry got there
  // first: versions stay immutable even when two publish one at once.
  const std::string tmp = path + ".incoming-" + std::to_string(::getpid());
  ENTRENAR_RETURN_IF_ERROR(WriteFileAtomic(tmp, ToJson(entry).dump(2) + "\n"));
  const int linked = ::link(tmp.c_str(), path.c_str());
  const int error = errno;
  fs::remove(tmp, ec);
  if (linked != 0 && error == EEXIST) {
    ENTRENAR_ASSIGN_OR_RETURN(const Entry existing, Get(entry.ref));
    return AlreadyThere(entry, existing);
  }
  if (linked != 0) return Internal("cannot write " + path + ": " + std::strerror(error));
  return Snapshot(entry).status();
}

Result<std::string> Registry::Snapshot(const Entry& entry) const {
  const Ref& ref = entry.ref;
  // NAME@VERSION: a name may hold `/`, so NAME/VERSION could be another name's folder.
  const std::string dir =
      root_ + "/snapshots/" + ref.KindName() + "/" + ref.name + "@" + ref.version;
  std::error_code ec;
  for (const StoredFile& f : entry.files) {
    const auto size = fs::file_size(BlobPath(f.sha256), ec);
    if (ec || static_cast<std::int64_t>(size) != f.size) {
      return DataLoss(ref.ToString() + ": the stored bytes of " + f.name + " (" +
                      BlobPath(f.sha256) + ") are " + (ec ? "gone" : "damaged") +
                      "; publish it again under a new version");
    }
  }
  const auto whole = [&] {
    for (const StoredFile& f : entry.files) {
      if (!fs::exists(dir + "/" + f.name, ec)) return false;
    }
    return fs::is_directory(dir, ec);
  };
  if (whole()) return dir;
  fs::remove_all(dir, ec);  // a folder missing a file is made again
  // Made beside it and renamed into place: a reader sees the whole folder or none.
  const std::string tmp = dir + ".incoming-" + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  for (const StoredFile& f : entry.files) {
    const fs::path link = fs::path(tmp) / f.name;
    fs::create_directories(link.parent_path(), ec);
    fs::create_symlink(fs::path(BlobPath(f.sha256)).lexically_relative(link.parent_path()), link,
                       ec);
    if (ec) {
      fs::remove_all(tmp, ec);
      return Internal("cannot write " + dir + ": " + ec.message());
    }
  }
  fs::create_directories(tmp, ec);  // an entry with no files has an empty folder
  fs::rename(tmp, dir, ec);
  if (ec && !fs::is_directory(dir)) {  // another reader made it first: theirs is as good
    fs::remove_all(tmp, ec);
    return Internal("cannot write " + dir + ": " + ec.message());
  }
  fs::remove_all(tmp, ec);
  return dir;
}

Result<Entry> Registry::Get(const Ref& ref) const {
  const std::string path = EntryPath(ref);
  Result<std::string> text = ReadWholeFile(path);
  if (text.ok()) return ParseEntry(*text, path);
  std::vector<std::string> versions;
  std::error_code ec;
  for (const auto& f : fs::directory_iterator(fs::path(path).parent_path(), ec)) {
    if (f.path().extension() == ".json") versions.push_back(f.path().stem().string());
  }
  std::sort(versions.begin(), versions.end());
  std::string there = " (`entrenar registry add` adds a data set, output.registry a model)";
  if (!versions.empty()) {
    there = "; its versions there: ";
    for (std::size_t i = 0; i < versions.size(); ++i) there += (i ? ", " : "") + versions[i];
  }
  return NotFound(ref.ToString() + " is not in the registry at " + root_ + there);
}

Result<std::vector<Entry>> Registry::List(const std::string& name) const {
  std::vector<Entry> out;
  for (const char* kind : {"models", "datasets"}) {
    const fs::path top = root_ + "/" + kind;
    std::error_code ec;
    if (!fs::is_directory(top, ec)) continue;
    for (auto it = fs::recursive_directory_iterator(top, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_regular_file() || it->path().extension() != ".json") continue;
      Result<std::string> text = ReadWholeFile(it->path().string());
      if (!text.ok()) continue;
      Result<Entry> e = ParseEntry(*text, it->path().string());
      if (!e.ok()) return e.status();
      if (name.empty() || e->ref.name == name) out.push_back(*std::move(e));
    }
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.ref.kind, a.ref.name, a.created, a.ref.version) <
           std::tie(b.ref.kind, b.ref.name, b.created, b.ref.version);
  });
  return out;
}

}  // namespace entrenar::registry
