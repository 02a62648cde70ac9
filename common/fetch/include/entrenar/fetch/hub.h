#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/fetch/hf_uri.h"
#include "entrenar/fetch/hub_cache.h"

namespace entrenar::fetch {

// Where the Hub is and how to reach it, as huggingface_hub reads them.
struct HubSettings {
  std::string endpoint = "https://huggingface.co";  // HF_ENDPOINT
  std::optional<std::string>
      token;             // HF_TOKEN, else the token file (HF_TOKEN_PATH, $HF_HOME/token)
  bool offline = false;  // HF_HUB_OFFLINE=1: the cache only, never the network
  std::string cache;     // DefaultHubCache()

  static HubSettings FromEnvironment();
};

struct RepoFile {
  std::string name;  // relative to the repository
  std::int64_t size = -1;
  std::string sha256;  // an LFS file's, or empty
};

// One revision of a repository: its commit and its files.
struct RepoInfo {
  std::string commit;
  std::vector<RepoFile> files;
  bool from_cache = false;  // offline: the files are those of the cached snapshot
};

// The Hub's answer to GET /api/{models,datasets}/REPO/revision/REV (JSON: sha, siblings with
// rfilename, size and lfs.sha256). kDataLoss for anything else, and for a file name that would
// land outside the cache (`..`, absolute, a backslash).
Result<RepoInfo> ParseRevisionInfo(std::string_view body, const HfRef& ref);

// How far a download is, for a progress line.
struct DownloadProgress {
  std::string file;
  std::int64_t done = 0, total = -1;  // bytes; total -1 when unknown
  bool finished = false;
};
using ProgressFn = std::function<void(const DownloadProgress&)>;

// The Hugging Face Hub: what a revision holds, and its files in the cache (downloaded when
// missing). Errors name the repository and the file and say what to do: kUnauthenticated
// (401: gated or private, set HF_TOKEN), kPermissionDenied (403), kNotFound (404: repository,
// revision or file, with the repository's nearest file names), kUnavailable (no network: the
// cache has what was downloaded before), kResourceExhausted (a full disk: the partial file is
// kept and the next try resumes it), kDataLoss (a file whose sha256 is not the Hub's). The token
// goes to the endpoint only, never to a redirect's other host, and never into a message.
class Hub {
 public:
  explicit Hub(HubSettings settings);

  // The commit and files of ref.revision (offline: from the cache).
  Result<RepoInfo> Info(const HfRef& ref);
  // The cached path of `file` of `info`'s commit, downloaded (resuming an interrupted
  // download) when it is not in the cache.
  Result<std::string> Fetch(const HfRef& ref, const RepoInfo& info, const std::string& file,
                            const ProgressFn& progress = {});

  const HubCache& cache() const { return cache_; }

 private:
  std::vector<std::string> AuthHeaders(const std::string& url) const;
  std::string ResolveUrl(const HfRef& ref, const std::string& commit,
                         const std::string& file) const;
  // Downloads `url` into `blob` through blob.incomplete (resumed with Range when present).
  Status Download(const HfRef& ref, const std::string& url, const std::string& file,
                  const std::string& blob, std::int64_t size, const ProgressFn& progress) const;

  HubSettings settings_;
  HubCache cache_;
};

}  // namespace entrenar::fetch
