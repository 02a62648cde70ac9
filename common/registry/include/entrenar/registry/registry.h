#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::registry {

// What a registry entry holds: a trained model or a data set.
enum class Kind { kModel, kDataset };

// A reference: pacha://models/NAME:VERSION or pacha://datasets/NAME:VERSION.
struct Ref {
  Kind kind = Kind::kModel;
  std::string name, version;
  // "models" or "datasets": the word in the URI and the registry's folder.
  std::string KindName() const { return kind == Kind::kModel ? "models" : "datasets"; }
  std::string ToString() const { return "pacha://" + KindName() + "/" + name + ":" + version; }
};

// Whether `text` is a pacha:// address (well-formed or not).
bool IsPachaUri(const std::string& text);

// The target output.registry publishes to when it names none: pacha://models/NAME:VERSION
// from the manifest's name and version.
std::string DefaultTarget(const std::string& name, const std::string& version);

// Parses pacha://models/NAME:VERSION or pacha://datasets/NAME:VERSION (NAME: letters, digits,
// . _ - and / between parts; VERSION: letters, digits, . _ - +). Returns kInvalidArgument saying
// what is wrong.
Result<Ref> ParseRef(const std::string& text);
// ParseRef, and only models (what output.registry publishes).
Result<Ref> ParseModelRef(const std::string& text);

// One stored file: its name in the entry and its content hash (the blob's name).
struct StoredFile {
  std::string name;  // "model.safetensors", "config.yaml", ...
  std::string sha256;
  std::int64_t size = 0;
};

// A published version of a model or a data set.
struct Entry {
  Ref ref;
  std::string created;  // UTC, ISO 8601
  std::string run_dir;  // where a model was trained; "" for what `entrenar registry add` adds
  std::vector<StoredFile> files;
  std::map<std::string, double> metrics;  // the test metrics, else the last validation's
  std::string quality_grade;
  std::optional<double> quality_score;
};

// An entry as ROOT/KIND/NAME/VERSION.json holds it (`path` names it in errors). kDataLoss when
// it is not one, or names a file outside the entry or a name or version ParseRef refuses.
Result<Entry> ParseEntry(const std::string& text, const std::string& path);

// The default registry directory: $ENTRENAR_REGISTRY, else $XDG_DATA_HOME/entrenar/registry,
// else ~/.local/share/entrenar/registry.
std::string DefaultRoot();

// The files to add from paths on disk: a file by its own name, a folder's regular files (and its
// subfolders') by their paths in it. kInvalidArgument when two have one name, kNotFound for a
// missing path; symbolic links are followed, hidden files (.git, ...) left out.
Result<std::map<std::string, std::string>> FilesToAdd(const std::vector<std::string>& paths);

// A local, content-addressed registry of models and data sets:
//   ROOT/blobs/sha256/HEX                    every stored file, by the SHA-256 of its bytes
//   ROOT/KIND/NAME/VERSION.json              an entry: its files' names and hashes, metrics
//   ROOT/snapshots/KIND/NAME@VERSION/FILE    the entry's files by name (links into blobs/)
// KIND is models or datasets. Versions are immutable: publishing NAME:VERSION again with
// different files is refused.
class Registry {
 public:
  explicit Registry(std::string root) : root_(std::move(root)) {}

  // Stores `files` (name -> path on disk; a name may hold `/`) and writes the entry and its
  // snapshot, each file copied to a temporary name, hashed and renamed. Returns kAlreadyExists
  // when NAME:VERSION holds other content (the same content again is a no-op), kNotFound for a
  // missing file, kInvalidArgument for a name that is not a plain relative path.
  Status Publish(Entry entry, const std::map<std::string, std::string>& files);

  // Every entry, models then data sets, by name then date; only NAME's when `name` is given.
  Result<std::vector<Entry>> List(const std::string& name = "") const;
  // kNotFound when there is no such version (naming the versions there are).
  Result<Entry> Get(const Ref& ref) const;
  // The folder where `entry`'s files lie by their names, made (from the blobs) when missing.
  // kDataLoss when a blob is gone or has another size.
  Result<std::string> Snapshot(const Entry& entry) const;
  // Where a stored file's bytes are.
  std::string BlobPath(const std::string& sha256) const;
  const std::string& root() const { return root_; }

 private:
  std::string EntryPath(const Ref& ref) const;
  Result<StoredFile> StoreBlob(const std::string& name, const std::string& path) const;
  Status AlreadyThere(const Entry& entry, const Entry& existing) const;
  std::string root_;
};

}  // namespace entrenar::registry
