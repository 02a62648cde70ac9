// The Hub's HTTP API as huggingface_hub uses it: /api/{models,datasets}/REPO/revision/REV for a
// revision's commit and files, HEAD .../resolve/COMMIT/FILE for a file's ETag and where its
// bytes are, GET with Range to download into blobs/ETAG.incomplete, then rename and link.
#include "entrenar/fetch/hub.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/sha256.h"
#include "entrenar/base/strings.h"

#include "environment.h"
#include "http.h"
#include "partial_file.h"

namespace entrenar::fetch {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> TokenFile() {
  std::string path = Env("HF_TOKEN_PATH");
  if (path.empty()) {
    std::string home = Env("HF_HOME");
    if (home.empty()) {
      home = Env("XDG_CACHE_HOME").empty() ? Env("HOME") + "/.cache/huggingface"
                                           : Env("XDG_CACHE_HOME") + "/huggingface";
    }
    path = home + "/token";
  }
  ReadLimits limits;
  limits.max_bytes = 4096;
  Result<std::string> text = ReadWholeFile(path, limits);
  if (!text.ok() || std::string(Trim(*text)).empty()) return std::nullopt;
  return std::string(Trim(*text));
}

// A file name from the Hub or a manifest, kept inside the snapshot: a safe relative path with
// no backslash, at most 1024 bytes.
bool SafeName(const std::string& name) {
  return name.size() <= 1024 && name.find('\\') == std::string::npos && SafeRelativePath(name);
}

// An ETag as a blob's file name: quotes and a weak marker dropped; letters, digits, '-' only.
std::optional<std::string> BlobName(std::string etag) {
  if (etag.rfind("W/", 0) == 0) etag.erase(0, 2);
  etag.erase(std::remove(etag.begin(), etag.end(), '"'), etag.end());
  if (etag.empty() || etag.size() > 128) return std::nullopt;
  for (const char c : etag) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return std::nullopt;
  }
  return etag;
}

bool IsSha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

std::string Kind(const HfRef& ref) {
  return ref.type == RepoType::kDataset ? "datasets" : "models";
}

// The error for an HTTP status the Hub answered about `what` (a repository or one of its files).
Status HubError(const HttpResponse& r, const HfRef& ref, const std::string& what,
                const std::string& endpoint) {
  const std::string code = r.Header("x-error-code");
  const std::string uri = ref.Uri();
  if (r.status == 401) {
    return Status(StatusCode::kUnauthenticated,
                  uri + " is gated or private: the Hub answered 401 for " + what +
                      ". Set HF_TOKEN to a token of an account with access (huggingface.co/"
                      "settings/tokens), or run `huggingface-cli login`, and accept the "
                      "repository's conditions on its page");
  }
  if (r.status == 403) {
    return PermissionDenied(uri + ": the Hub refused " + what +
                            " (403): your token has no access to it; accept the repository's "
                            "conditions on its page, or use a token with read access");
  }
  if (r.status == 404) {
    if (code == "RevisionNotFound")
      return NotFound(uri + ": revision `" + ref.revision + "` does not exist");
    if (code == "EntryNotFound") return NotFound(uri + ": " + what + " does not exist");
    const std::string other = ref.type == RepoType::kDataset ? "hf://" + ref.repo + " (a model)"
                                                             : "hf://datasets/" + ref.repo;
    return NotFound(uri + ": no such repository on " + endpoint +
                    " (is it private, or spelled otherwise? For the other kind of repository "
                    "write " +
                    other + ")");
  }
  return Status(StatusCode::kUnavailable, uri + ": the Hub answered " + std::to_string(r.status) +
                                              " for " + what + "; try again later");
}

}  // namespace

Result<RepoInfo> ParseRevisionInfo(std::string_view body, const HfRef& ref) {
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  const std::string bad = ref.Uri() + ": the Hub's answer about the revision is not what it sends";
  if (!j.is_object() || !j.contains("sha") || !j["sha"].is_string()) return DataLoss(bad);
  RepoInfo info;
  info.commit = j["sha"].get<std::string>();
  if (!IsCommitHash(info.commit)) return DataLoss(bad + " (a commit that is not a hash)");
  if (!j.contains("siblings") || !j["siblings"].is_array()) return DataLoss(bad);
  for (const nlohmann::json& s : j["siblings"]) {
    if (!s.is_object() || !s.contains("rfilename") || !s["rfilename"].is_string())
      return DataLoss(bad);
    RepoFile f;
    f.name = s["rfilename"].get<std::string>();
    if (!SafeName(f.name))
      return DataLoss(ref.Uri() + ": the Hub lists a file named `" + SanitizeUtf8(f.name) +
                      "`, which would land outside the cache; refused");
    if (s.contains("size") && s["size"].is_number_integer()) f.size = s["size"].get<std::int64_t>();
    if (s.contains("lfs") && s["lfs"].is_object() && s["lfs"].contains("sha256") &&
        s["lfs"]["sha256"].is_string())
      f.sha256 = s["lfs"]["sha256"].get<std::string>();
    info.files.push_back(std::move(f));
  }
  return info;
}

namespace {

std::int64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::int64_t>(st.st_size) : -1;
}

}  // namespace

Status Hub::Download(const HfRef& ref, const std::string& url, const std::string& file,
                     const std::string& blob, std::int64_t size, const ProgressFn& progress) const {
  const std::string partial = blob + ".incomplete";
  PartialFile out(partial, std::max<std::int64_t>(0, FileSize(partial)));
  HttpRequest req;
  req.url = url;
  req.headers = AuthHeaders(url);
  if (out.have() > 0) req.range_from = out.have();
  auto last = std::chrono::steady_clock::now();
  const auto report = [&](bool finished) {
    if (progress) progress({file, out.have(), size, finished});
  };
  report(false);
  Result<HttpResponse> r = Http(req, [&](std::string_view chunk, const HttpResponse& resp) {
    if (resp.status != 200 && resp.status != 206) return true;  // an error's body: dropped
    if (!out.Write(chunk, resp.status)) return false;
    const auto now = std::chrono::steady_clock::now();
    if (now - last > std::chrono::milliseconds(250)) {
      last = now;
      report(false);
    }
    return true;
  });
  ENTRENAR_RETURN_IF_ERROR(out.Close());
  const std::string cut = ref.Uri() + ": the download of " + file + " was cut short at " +
                          std::to_string(out.have()) + " of " + std::to_string(size) +
                          " bytes (kept in " + partial + "); run again to resume";
  if (!r.ok()) {
    return Status(r.status().code(), r.status().code() == StatusCode::kUnavailable
                                         ? cut + " (" + r.status().message() + ")"
                                         : r.status().message());
  }
  if (r->status == 416 && size >= 0 && out.have() == size) {
    // The partial file was already whole.
  } else if (r->status != 200 && r->status != 206) {
    return HubError(*r, ref, file, Origin(url));
  }
  if (size >= 0 && out.have() != size) return Status(StatusCode::kUnavailable, cut);
  // An LFS file's ETag is its sha256: what arrived must be that.
  const std::string name = fs::path(blob).filename().string();
  if (IsSha256(name)) {
    ENTRENAR_ASSIGN_OR_RETURN(const std::string got, Sha256File(partial));
    if (got != name) {
      std::error_code ec;
      fs::remove(partial, ec);
      return DataLoss(ref.Uri() + ": " + file + " arrived with sha256 " + got + ", not the " +
                      name + " the Hub announced; the download was removed, run again");
    }
  }
  std::error_code ec;
  fs::rename(partial, blob, ec);
  if (ec) return DataLoss("cannot move " + partial + " to " + blob + ": " + ec.message());
  report(true);
  return OkStatus();
}

HubSettings HubSettings::FromEnvironment() {
  HubSettings s;
  if (std::string e = Env("HF_ENDPOINT"); !e.empty()) {
    while (!e.empty() && e.back() == '/') e.pop_back();
    s.endpoint = e;
  }
  if (std::string t = Env("HF_TOKEN"); !t.empty()) {
    s.token = std::string(Trim(t));
  } else {
    s.token = TokenFile();
  }
  const std::string off = ToLower(Env("HF_HUB_OFFLINE"));
  s.offline = off == "1" || off == "on" || off == "yes" || off == "true";
  s.cache = DefaultHubCache();
  return s;
}

Hub::Hub(HubSettings settings) : settings_(std::move(settings)), cache_(settings_.cache) {}

std::vector<std::string> Hub::AuthHeaders(const std::string& url) const {
  // The token goes to the Hub itself, never to a host a redirect names.
  if (!settings_.token || Origin(url) != Origin(settings_.endpoint)) return {};
  return {"Authorization: Bearer " + *settings_.token};
}

std::string Hub::ResolveUrl(const HfRef& ref, const std::string& commit,
                            const std::string& file) const {
  return settings_.endpoint + (ref.type == RepoType::kDataset ? "/datasets/" : "/") + ref.repo +
         "/resolve/" + commit + "/" + EncodePath(file);
}

Result<RepoInfo> Hub::Info(const HfRef& ref) {
  const auto cached = [&]() -> Result<RepoInfo> {
    const std::optional<std::string> commit = cache_.Commit(ref);
    if (!commit) {
      return NotFound(ref.Uri() + ": the cache (" + cache_.RepoDir(ref) + ") has no revision `" +
                      ref.revision + "`, and " +
                      (settings_.offline ? "HF_HUB_OFFLINE is set" : "the Hub cannot be reached") +
                      "; download it once with the network");
    }
    RepoInfo info;
    info.commit = *commit;
    info.from_cache = true;
    for (const std::string& f : cache_.Files(ref, *commit)) info.files.push_back({f, -1, ""});
    return info;
  };
  if (settings_.offline) return cached();
  // The revision is one path segment: its slashes (refs/pr/1) encoded too.
  std::string rev;
  for (const char c : EncodePath(ref.revision))
    rev += c == '/' ? std::string("%2F") : std::string(1, c);
  HttpRequest req;
  req.url = settings_.endpoint + "/api/" + Kind(ref) + "/" + ref.repo + "/revision/" + rev +
            "?blobs=true";
  req.headers = AuthHeaders(req.url);
  Result<HttpResponse> r = Http(req);
  if (!r.ok()) {
    if (r.status().code() != StatusCode::kUnavailable) return r.status();
    Result<RepoInfo> fallback = cached();
    if (fallback.ok()) return fallback;
    return Status(StatusCode::kUnavailable, ref.Uri() + ": " + r.status().message() +
                                                " (and the cache has no copy of it; check the "
                                                "network, or HF_ENDPOINT for a mirror)");
  }
  if (r->status != 200)
    return HubError(*r, ref, "its revision `" + ref.revision + "`", settings_.endpoint);
  ENTRENAR_ASSIGN_OR_RETURN(RepoInfo info, ParseRevisionInfo(r->body, ref));
  ENTRENAR_RETURN_IF_ERROR(cache_.WriteRef(ref, info.commit));
  return info;
}

Result<std::string> Hub::Fetch(const HfRef& ref, const RepoInfo& info, const std::string& file,
                               const ProgressFn& progress) {
  if (!SafeName(file))
    return InvalidArgument(ref.Uri() + ": `" + file + "` is not a file name in a repository");
  if (const auto found = cache_.Find(ref, info.commit, file)) return *found;
  if (settings_.offline || info.from_cache) {
    return NotFound(ref.Uri() + ": " + file + " at commit " + info.commit +
                    " is not in the cache (" + cache_.SnapshotDir(ref, info.commit) + "), and " +
                    (settings_.offline ? "HF_HUB_OFFLINE is set" : "the Hub cannot be reached"));
  }
  // Where the bytes are and what they are called: HEAD, following the Hub's own relative
  // redirects (a renamed repository), stopping at one to another place (the LFS store).
  std::string url = ResolveUrl(ref, info.commit, file);
  HttpResponse head;
  for (int hop = 0;; ++hop) {
    HttpRequest req;
    req.method = "HEAD";
    req.url = url;
    req.headers = AuthHeaders(url);
    ENTRENAR_ASSIGN_OR_RETURN(head, Http(req));
    const std::string location = head.Header("location");
    if (head.status >= 300 && head.status < 400 && !location.empty() && location[0] == '/' &&
        hop < 5 && head.Header("x-linked-etag").empty()) {
      url = Origin(url) + location;
      continue;
    }
    break;
  }
  if (head.status >= 400) return HubError(head, ref, file, settings_.endpoint);
  std::string etag = head.Header("x-linked-etag");
  if (etag.empty()) etag = head.Header("etag");
  const std::optional<std::string> blob_name = BlobName(etag);
  if (!blob_name) return DataLoss(ref.Uri() + ": the Hub gave " + file + " no usable ETag");
  std::string size_text = head.Header("x-linked-size");
  if (size_text.empty()) size_text = head.Header("content-length");
  const std::int64_t size = size_text.empty() ? -1 : std::strtoll(size_text.c_str(), nullptr, 10);
  if (head.status >= 300) {
    const std::string location = head.Header("location");
    if (location.empty()) return DataLoss(ref.Uri() + ": the Hub redirected " + file + " nowhere");
    url = location[0] == '/' ? Origin(url) + location : location;
  }

  const std::string blob = cache_.BlobPath(ref, *blob_name);
  std::error_code ec;
  fs::create_directories(fs::path(blob).parent_path(), ec);
  if (ec)
    return DataLoss("cannot make " + fs::path(blob).parent_path().string() + ": " + ec.message());
  // Locks live beside the repositories, in .locks/, as huggingface_hub keeps them.
  const std::string locks =
      cache_.root() + "/.locks/" + fs::path(cache_.RepoDir(ref)).filename().string();
  fs::create_directories(locks, ec);
  FileLock lock(locks + "/" + *blob_name + ".lock");
  if (!fs::is_regular_file(blob, ec)) {
    ENTRENAR_RETURN_IF_ERROR(Download(ref, url, file, blob, size, progress));
  }
  ENTRENAR_RETURN_IF_ERROR(cache_.Link(ref, info.commit, file, *blob_name));
  const auto found = cache_.Find(ref, info.commit, file);
  if (!found) return DataLoss(ref.Uri() + ": " + file + " did not land in the cache");
  return *found;
}

}  // namespace entrenar::fetch
