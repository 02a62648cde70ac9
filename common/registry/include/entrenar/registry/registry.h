#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"

namespace entrenar::registry {

// A model reference: pacha://models/NAME:VERSION.
struct ModelRef {
  std::string name, version;
  std::string ToString() const { return "pacha://models/" + name + ":" + version; }
};

// The target output.registry publishes to when it names none: pacha://models/NAME:VERSION
// from the manifest's name and version.
std::string DefaultTarget(const std::string& name, const std::string& version);

// Parses pacha://models/NAME:VERSION (NAME: letters, digits, . _ - and / between parts;
// VERSION: letters, digits, . _ - +). Returns kInvalidArgument saying what is wrong.
Result<ModelRef> ParseModelRef(const std::string& text);

// One stored file: its name in the entry and its content hash (the blob's name).
struct StoredFile {
  std::string name;  // "model.safetensors", "config.yaml", ...
  std::string sha256;
  std::int64_t size = 0;
};

// A published model version.
struct Entry {
  ModelRef ref;
  std::string created;  // UTC, ISO 8601
  std::string run_dir;  // where it was trained
  std::vector<StoredFile> files;
  std::map<std::string, double> metrics;  // the test metrics, else the last validation's
  std::string quality_grade;
  std::optional<double> quality_score;
};

// The default registry directory: $ENTRENAR_REGISTRY, else $XDG_DATA_HOME/entrenar/registry,
// else ~/.local/share/entrenar/registry.
std::string DefaultRoot();

// A local, content-addressed model registry:
//   ROOT/blobs/sha256/HEX            every stored file, by the SHA-256 of its bytes (shared)
//   ROOT/models/NAME/VERSION.json    an entry: its files' names and hashes, metrics, quality
// Versions are immutable: publishing NAME:VERSION again with different files is refused.
class Registry {
 public:
  explicit Registry(std::string root) : root_(std::move(root)) {}

  // Stores `files` (name -> path on disk) and writes the entry, each file written to a temporary
  // name and renamed. Returns kAlreadyExists when NAME:VERSION holds other content (the same
  // content again is a no-op), kNotFound for a missing file.
  Status Publish(Entry entry, const std::map<std::string, std::string>& files);

  // Every entry, by name then version; only NAME's when `name` is given.
  Result<std::vector<Entry>> List(const std::string& name = "") const;
  // kNotFound when there is no such version.
  Result<Entry> Get(const ModelRef& ref) const;
  // Where a stored file's bytes are.
  std::string BlobPath(const std::string& sha256) const;
  const std::string& root() const { return root_; }

 private:
  std::string EntryPath(const ModelRef& ref) const;
  std::string root_;
};

}  // namespace entrenar::registry
