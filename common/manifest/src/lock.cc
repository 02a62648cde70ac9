#include "entrenar/manifest/lock.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>

#include <nlohmann/json.hpp>
#include <openssl/opensslv.h>
#include <spdlog/version.h>

#include "entrenar/base/clock.h"
#include "entrenar/base/sha256.h"
#include "entrenar/base/strings.h"
#include "entrenar/base/version.h"

#include "node.h"
#include "writer.h"

namespace entrenar::manifest {
namespace {

namespace fs = std::filesystem;

bool IsLocal(const std::string& path) {
  return path.find("://") == std::string::npos || StartsWith(path, "file://");
}

std::string LocalPath(const std::string& path, const std::string& base_dir) {
  std::string p = StartsWith(path, "file://") ? path.substr(7) : path;
  if (fs::path(p).is_absolute() || base_dir.empty()) return p;
  return (fs::path(base_dir) / p).string();
}

// Every key of `m` that names a local file, with its path as written.
std::vector<std::pair<std::string, std::string>> ReferencedFiles(const Manifest& m) {
  std::vector<std::pair<std::string, std::string>> out;
  auto add = [&](const std::string& key, const std::optional<std::string>& p) {
    if (p && IsLocal(*p)) out.emplace_back(key, *p);
  };
  add("data.source", m.data.source);
  add("data.train", m.data.train);
  add("data.val", m.data.val);
  add("data.test", m.data.test);
  add("model.source", m.model.source);
  for (std::size_t i = 0; i < m.data.preprocessing.size(); ++i) {
    if (m.data.preprocessing[i].tokenize) {
      add("data.preprocessing[" + std::to_string(i) + "].tokenize.tokenizer",
          m.data.preprocessing[i].tokenize->tokenizer);
    }
  }
  return out;
}

// sha256 and size of a file, or of a directory as the hash of its sorted "path hash" lines.
Result<std::pair<std::string, std::int64_t>> HashPath(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<std::string> lines;
    std::int64_t total = 0;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      Result<std::string> h = Sha256File(it->path().string());
      if (!h.ok()) return h.status();
      lines.push_back(fs::relative(it->path(), path, ec).string() + " " + h.value());
      total += static_cast<std::int64_t>(it->file_size(ec));
    }
    if (ec) return DataLoss("cannot list " + path + ": " + ec.message());
    std::sort(lines.begin(), lines.end());
    return std::make_pair(Sha256Hex(Join(lines, "\n")), total);
  }
  Result<std::string> h = Sha256File(path);
  if (!h.ok()) return h.status();
  const auto size = fs::file_size(path, ec);
  return std::make_pair(h.value(), ec ? std::int64_t{-1} : static_cast<std::int64_t>(size));
}

}  // namespace

Result<std::string> MakeLock(const Manifest& m, const std::string& base_dir) {
  Manifest locked = m;
  LockInfo info;
  info.entrenar_version = std::string(Version());
  info.created = NowUtcIso();
  for (const auto& [key, path] : ReferencedFiles(m)) {
    LockedFile f;
    f.key = key;
    f.path = path;
    Result<std::pair<std::string, std::int64_t>> h = HashPath(LocalPath(path, base_dir));
    if (h.ok()) {
      f.sha256 = h.value().first;
      f.size = h.value().second;
    } else if (h.status().code() != StatusCode::kNotFound) {
      return h.status();
    }
    info.files.push_back(std::move(f));
  }
  info.libraries["yaml-cpp"] = ENTRENAR_YAML_CPP_VERSION;
  info.libraries["spdlog"] = std::to_string(SPDLOG_VER_MAJOR) + "." +
                             std::to_string(SPDLOG_VER_MINOR) + "." +
                             std::to_string(SPDLOG_VER_PATCH);
  info.libraries["nlohmann-json"] = std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                                    std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                                    std::to_string(NLOHMANN_JSON_VERSION_PATCH);
  info.libraries["openssl"] = OPENSSL_VERSION_STR;
  info.libraries["compiler"] = std::string("gcc ") + __VERSION__;
  locked.lock = std::move(info);
  return "# Lock file written by `entrenar lock`: the resolved manifest with the hashes of its\n"
         "# files. `entrenar train --strict`, `submit --strict` and `validate --strict` refuse it\n"
         "# when one of them changed, went missing or appeared.\n" +
         EmitYaml(WriteValue(locked));
}

std::vector<Diagnostic> VerifyLock(const Manifest& m, const std::string& base_dir) {
  std::vector<Diagnostic> out;
  if (!m.lock) {
    out.push_back({Severity::kError,
                   "lock",
                   m.LocationOf("lock"),
                   "--strict needs a lock file, and this manifest has no `lock` section",
                   {"write one with `entrenar lock FILE > FILE.lock.yaml`"}});
    return out;
  }
  const std::vector<LockedFile>& files = m.lock->files;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const LockedFile& f = files[i];
    const std::string path = "lock.files[" + std::to_string(i) + "]";
    Result<std::pair<std::string, std::int64_t>> h = HashPath(LocalPath(f.path, base_dir));
    if (!h.ok()) {
      if (f.sha256) {
        out.push_back({Severity::kError,
                       path,
                       m.LocationOf(path),
                       "`" + f.path + "` (" + f.key + ") is locked with sha256 " + *f.sha256 +
                           " but " + h.status().message(),
                       {"restore the locked file, or lock the manifest again"}});
      }
      continue;
    }
    if (!f.sha256) {
      out.push_back({Severity::kError,
                     path,
                     m.LocationOf(path),
                     "`" + f.path + "` (" + f.key + ") did not exist when locked but does now",
                     {"lock the manifest again"}});
    } else if (*f.sha256 != h.value().first) {
      out.push_back({Severity::kError,
                     path + ".sha256",
                     m.LocationOf(path + ".sha256"),
                     "`" + f.path + "` (" + f.key + ") changed since it was locked: its sha256 " +
                         "is now " + h.value().first + ", the lock has " + *f.sha256,
                     {"restore the locked file, or lock the manifest again"}});
    }
  }
  // Files the manifest references now but the lock does not cover.
  for (const auto& referenced : ReferencedFiles(m)) {
    const auto& [key, p] = referenced;  // clang 14's lambdas cannot capture bindings
    const bool covered = std::any_of(files.begin(), files.end(), [&](const LockedFile& f) {
      return f.key == referenced.first && f.path == referenced.second;
    });
    if (!covered) {
      out.push_back({Severity::kError,
                     key,
                     m.LocationOf(key),
                     "`" + p + "` is not covered by the lock",
                     {"lock the manifest again"}});
    }
  }
  return out;
}

}  // namespace entrenar::manifest
