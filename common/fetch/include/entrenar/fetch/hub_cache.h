#pragma once

#include <optional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/fetch/hf_uri.h"

namespace entrenar::fetch {

// The folder huggingface_hub caches into: $HF_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
std::string DefaultHubCache();

// A Hugging Face Hub cache, laid out exactly as huggingface_hub lays it out, so that what one
// downloads the other finds:
//   ROOT/models--ORG--NAME/refs/REVISION           the commit REVISION names
//   ROOT/models--ORG--NAME/blobs/ETAG              a file's bytes (ETAG: sha256 for LFS files)
//   ROOT/models--ORG--NAME/snapshots/COMMIT/FILE   a relative symlink to ../../blobs/ETAG
// (datasets--ORG--NAME for data sets). Writes are atomic: a blob is renamed into place whole, a
// ref is written to a temporary name and renamed.
class HubCache {
 public:
  explicit HubCache(std::string root) : root_(std::move(root)) {}
  const std::string& root() const { return root_; }

  std::string RepoDir(const HfRef& ref) const;
  std::string SnapshotDir(const HfRef& ref, const std::string& commit) const;
  std::string BlobPath(const HfRef& ref, const std::string& etag) const;

  // The commit ref.revision names: the revision itself when it is a full commit hash, else what
  // refs/REVISION holds (nullopt when absent or not a hash).
  std::optional<std::string> Commit(const HfRef& ref) const;
  // The snapshot's file `file` (a link to a blob that exists), or nullopt.
  std::optional<std::string> Find(const HfRef& ref, const std::string& commit,
                                  const std::string& file) const;
  // Every file of the commit's snapshot, relative to it, sorted.
  std::vector<std::string> Files(const HfRef& ref, const std::string& commit) const;

  // Records that ref.revision is `commit` (nothing for a revision that is itself a hash).
  Status WriteRef(const HfRef& ref, const std::string& commit) const;
  // Links the snapshot's `file` to the blob `etag` (which must be in place).
  Status Link(const HfRef& ref, const std::string& commit, const std::string& file,
              const std::string& etag) const;

 private:
  std::string root_;
};

// Whether `s` is a full 40-character commit hash.
bool IsCommitHash(const std::string& s);

}  // namespace entrenar::fetch
