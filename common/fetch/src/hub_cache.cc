// The Hugging Face Hub cache: huggingface_hub's folder layout (file_download.py), read and
// written.
#include "entrenar/fetch/hub_cache.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"

#include "environment.h"

namespace entrenar::fetch {
namespace {

namespace fs = std::filesystem;

}  // namespace

bool IsCommitHash(const std::string& s) {
  return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

std::string DefaultHubCache() {
  if (const std::string v = Env("HF_HUB_CACHE"); !v.empty()) return v;
  if (const std::string v = Env("HF_HOME"); !v.empty()) return v + "/hub";
  if (const std::string v = Env("XDG_CACHE_HOME"); !v.empty()) return v + "/huggingface/hub";
  return Env("HOME") + "/.cache/huggingface/hub";
}

std::string HubCache::RepoDir(const HfRef& ref) const {
  std::string name = ref.repo;
  for (std::size_t at = name.find('/'); at != std::string::npos; at = name.find('/', at))
    name.replace(at, 1, "--");
  return root_ + "/" + (ref.type == RepoType::kDataset ? "datasets--" : "models--") + name;
}

std::string HubCache::SnapshotDir(const HfRef& ref, const std::string& commit) const {
  return RepoDir(ref) + "/snapshots/" + commit;
}

std::string HubCache::BlobPath(const HfRef& ref, const std::string& etag) const {
  return RepoDir(ref) + "/blobs/" + etag;
}

std::optional<std::string> HubCache::Commit(const HfRef& ref) const {
  if (IsCommitHash(ref.revision)) return ref.revision;
  ReadLimits limits;
  limits.max_bytes = 4096;
  Result<std::string> text = ReadWholeFile(RepoDir(ref) + "/refs/" + ref.revision, limits);
  if (!text.ok()) return std::nullopt;
  std::string commit(Trim(*text));
  if (!IsCommitHash(commit)) return std::nullopt;
  return commit;
}

std::optional<std::string> HubCache::Find(const HfRef& ref, const std::string& commit,
                                          const std::string& file) const {
  const std::string path = SnapshotDir(ref, commit) + "/" + file;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;  // follows the link to its blob
  return path;
}

std::vector<std::string> HubCache::Files(const HfRef& ref, const std::string& commit) const {
  std::vector<std::string> out;
  const fs::path dir = SnapshotDir(ref, commit);
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2)) out.push_back(it->path().lexically_relative(dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status HubCache::WriteRef(const HfRef& ref, const std::string& commit) const {
  if (IsCommitHash(ref.revision)) return OkStatus();
  const fs::path path = RepoDir(ref) + "/refs/" + ref.revision;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  return WriteFileAtomic(path.string(), commit);
}

Status HubCache::Link(const HfRef& ref, const std::string& commit, const std::string& file,
                      const std::string& etag) const {
  const fs::path link = SnapshotDir(ref, commit) + "/" + file;
  std::error_code ec;
  fs::create_directories(link.parent_path(), ec);
  if (ec) return DataLoss("cannot make " + link.parent_path().string() + ": " + ec.message());
  // Relative, as huggingface_hub makes it: the cache can move as a whole.
  const fs::path target = fs::relative(BlobPath(ref, etag), link.parent_path(), ec);
  const std::string tmp = link.string() + ".link." + std::to_string(::getpid());
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(tmp, ec);
    return DataLoss("cannot link " + link.string() + " to its blob: " + why);
  }
  return OkStatus();
}

}  // namespace entrenar::fetch
