// A manifest's hf:// sources fetched into the Hub cache and replaced by local paths: which files
// a model, a tokenizer and a data split need, and the pattern that names a split's shards.
#include "entrenar/fetch/localize.h"

#include <glob.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"

namespace entrenar::fetch {
namespace {

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string Base(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

// The repository's files under `prefix` ("" or "folder/"), directly in it when `direct`.
std::vector<std::string> Under(const RepoInfo& info, const std::string& prefix, bool direct) {
  std::vector<std::string> out;
  for (const RepoFile& f : info.files) {
    if (f.name.rfind(prefix, 0) != 0) continue;
    if (direct && f.name.find('/', prefix.size()) != std::string::npos) continue;
    out.push_back(f.name);
  }
  return out;
}

bool Has(const RepoInfo& info, const std::string& name) {
  return std::any_of(info.files.begin(), info.files.end(),
                     [&](const RepoFile& f) { return f.name == name; });
}

Status Keyed(const std::string& key, const Status& s) {
  return Status(s.code(), key + ": " + s.message());
}

class Fetcher {
 public:
  explicit Fetcher(const LocalizeOptions& o) : o_(o), hub_(o.hub) {}

  Result<std::string> Model(const std::string& key, const HfRef& ref, std::string* commit) {
    ENTRENAR_ASSIGN_OR_RETURN(const RepoInfo info, Info(ref, commit));
    if (!ref.path.empty() && Has(info, ref.path)) return Get(ref, info, ref.path);
    const std::string prefix = ref.path.empty() ? "" : ref.path + "/";
    std::vector<std::string> files;
    for (const std::string& f : Under(info, prefix, true)) {
      if (EndsWith(f, ".json") || Base(f) == "tokenizer.model") files.push_back(f);
    }
    ENTRENAR_ASSIGN_OR_RETURN(std::vector<std::string> weights, Weights(ref, info, prefix));
    files.insert(files.end(), weights.begin(), weights.end());
    if (files.empty()) {
      return NotFound(ref.Uri() + " holds no model files" +
                      (prefix.empty() ? "" : " under " + prefix) + " (config.json, safetensors)");
    }
    ENTRENAR_RETURN_IF_ERROR(GetAll(ref, info, files));
    (void)key;
    return hub_.cache().SnapshotDir(ref, info.commit) + (ref.path.empty() ? "" : "/" + ref.path);
  }

  Result<std::string> Tokenizer(const HfRef& ref, std::string* commit) {
    ENTRENAR_ASSIGN_OR_RETURN(const RepoInfo info, Info(ref, commit));
    if (!ref.path.empty() && Has(info, ref.path)) return Get(ref, info, ref.path);
    const std::string prefix = ref.path.empty() ? "" : ref.path + "/";
    for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
      if (Has(info, prefix + name)) return Get(ref, info, prefix + name);
    }
    return NotFound(ref.Uri() + " has no tokenizer.json or tokenizer.model" +
                    (prefix.empty() ? "" : " under " + prefix));
  }

  Result<std::string> Data(const std::string& key, const HfRef& ref, std::string* commit) {
    ENTRENAR_ASSIGN_OR_RETURN(const RepoInfo info, Info(ref, commit));
    if (!ref.path.empty() && Has(info, ref.path)) return Get(ref, info, ref.path);
    const std::string prefix = ref.path.empty() ? "" : ref.path + "/";
    const std::string split = key == "data.val"    ? "validation"
                              : key == "data.test" ? "test"
                                                   : "train";
    std::map<std::string, std::vector<std::string>> splits;
    for (const std::string& f : Under(info, prefix, false)) {
      if (IsDataFile(f)) splits[SplitOf(f.substr(prefix.size()))].push_back(f);
    }
    if (splits.empty()) {
      return NotFound(ref.Uri() + " holds no data files" +
                      (prefix.empty() ? "" : " under " + prefix) +
                      " (.parquet, .jsonl, .json, .csv, .tsv)");
    }
    const auto it = splits.find(split);
    if (it == splits.end()) {
      std::vector<std::string> names;
      for (const auto& [name, files] : splits) names.push_back(name);
      return NotFound(ref.Uri() + " has no " + split + " split (it has " + JoinQuoted(names) +
                      "); name a file with " + ref.Uri() + "/PATH");
    }
    std::vector<std::string> files = OneFormat(it->second);
    ENTRENAR_RETURN_IF_ERROR(GetAll(ref, info, files));
    const std::string snap = hub_.cache().SnapshotDir(ref, info.commit);
    if (files.size() == 1) return snap + "/" + files[0];
    return Pattern(snap, files);
  }

 private:
  Result<RepoInfo> Info(const HfRef& ref, std::string* commit) {
    ENTRENAR_ASSIGN_OR_RETURN(RepoInfo info, hub_.Info(ref));
    *commit = info.commit;
    return info;
  }

  Result<std::string> Get(const HfRef& ref, const RepoInfo& info, const std::string& file) {
    const bool cached = hub_.cache().Find(ref, info.commit, file).has_value();
    if (!cached && o_.note) {
      std::lock_guard<std::mutex> lock(mu_);
      o_.note("downloading " + file + " of " + ref.Uri());
    }
    return hub_.Fetch(ref, info, file, [this](const DownloadProgress& p) {
      std::lock_guard<std::mutex> lock(mu_);
      if (o_.progress) o_.progress(p);
    });
  }

  // `files`, up to four downloading at once (a sharded model's shards side by side); the first
  // error, after every download has ended.
  Status GetAll(const HfRef& ref, const RepoInfo& info, const std::vector<std::string>& files) {
    std::vector<Status> results(files.size());
    std::atomic<std::size_t> next{0};
    const auto work = [&] {
      for (std::size_t i; (i = next++) < files.size();)
        results[i] = Get(ref, info, files[i]).status();
    };
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < std::min<std::size_t>(4, files.size()); ++t)
      threads.emplace_back(work);
    for (std::thread& t : threads) t.join();
    for (const Status& s : results) ENTRENAR_RETURN_IF_ERROR(s);
    return OkStatus();
  }

  // The safetensors weights under `prefix`: the shards of model.safetensors.index.json, else
  // every .safetensors file there.
  Result<std::vector<std::string>> Weights(const HfRef& ref, const RepoInfo& info,
                                           const std::string& prefix) {
    const std::string index = prefix + "model.safetensors.index.json";
    std::vector<std::string> out;
    if (Has(info, index)) {
      ENTRENAR_ASSIGN_OR_RETURN(const std::string path, Get(ref, info, index));
      ReadLimits limits;
      limits.max_bytes = 64u << 20;
      ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path, limits));
      const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
      if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        return DataLoss(ref.Uri() + ": " + index + " has no weight_map");
      std::set<std::string> shards;
      for (const auto& [tensor, shard] : j["weight_map"].items()) {
        if (!shard.is_string()) return DataLoss(ref.Uri() + ": " + index + " is damaged");
        shards.insert(prefix + shard.get<std::string>());
      }
      for (const std::string& s : shards) {
        if (!Has(info, s))
          return NotFound(ref.Uri() + ": " + index + " names " + s +
                          ", which the repository lacks");
        out.push_back(s);
      }
      return out;
    }
    for (const std::string& f : Under(info, prefix, true)) {
      if (EndsWith(f, ".safetensors")) out.push_back(f);
    }
    if (out.empty()) {
      for (const std::string& f : Under(info, prefix, true)) {
        if (EndsWith(f, ".bin") || EndsWith(f, ".pt") || EndsWith(f, ".pth")) {
          return Unimplemented(ref.Uri() + " has PyTorch pickle weights (" + f +
                               ") and no safetensors; entrenar loads safetensors (convert "
                               "them, e.g. with transformers' save_pretrained(..., "
                               "safe_serialization=True))");
        }
      }
    }
    return out;
  }

  static bool IsDataFile(const std::string& f) {
    const std::string base = Base(f);
    if (base == "dataset_info.json" || base == "dataset_infos.json" ||
        base == "dataset_dict.json" || base == "state.json")
      return false;
    for (const char* ext : {".parquet", ".jsonl", ".ndjson", ".json", ".csv", ".tsv"}) {
      if (EndsWith(ToLower(f), ext)) return true;
    }
    return false;
  }

  // The split a data file belongs to, from its folders and the words of its name.
  static std::string SplitOf(const std::string& path) {
    std::string word;
    for (std::size_t i = 0; i <= path.size(); ++i) {
      const char c = i < path.size() ? path[i] : '/';
      if (c == '/' || c == '-' || c == '_' || c == '.') {
        const std::string w = ToLower(word);
        if (w == "train" || w == "training") return "train";
        if (w == "validation" || w == "valid" || w == "val" || w == "dev") return "validation";
        if (w == "test" || w == "testing" || w == "eval") return "test";
        word.clear();
      } else {
        word += c;
      }
    }
    return "train";
  }

  // A split's files in one format (Parquet first, when a repository has several).
  static std::vector<std::string> OneFormat(std::vector<std::string> files) {
    std::sort(files.begin(), files.end());
    std::vector<std::string> parquet;
    for (const std::string& f : files) {
      if (EndsWith(ToLower(f), ".parquet")) parquet.push_back(f);
    }
    if (!parquet.empty()) return parquet;
    const std::string ext = files[0].substr(files[0].find_last_of('.'));
    std::vector<std::string> same;
    for (const std::string& f : files) {
      if (EndsWith(f, ext)) same.push_back(f);
    }
    return same;
  }

  // One glob pattern in `snap` that matches exactly `files`: their common folder, name prefix
  // and suffix around a `*`.
  static Result<std::string> Pattern(const std::string& snap,
                                     const std::vector<std::string>& files) {
    std::string head = files[0], tail = files[0];
    for (const std::string& f : files) {
      std::size_t n = 0;
      while (n < head.size() && n < f.size() && head[n] == f[n]) ++n;
      head.resize(n);
      std::size_t m = 0;
      while (m < tail.size() && m < f.size() && tail[tail.size() - 1 - m] == f[f.size() - 1 - m])
        ++m;
      tail = tail.substr(tail.size() - m);
    }
    const std::string pattern = snap + "/" + head + "*" + tail;
    glob_t g{};
    std::set<std::string> matched;
    if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
      for (std::size_t i = 0; i < g.gl_pathc; ++i) matched.insert(g.gl_pathv[i]);
    }
    ::globfree(&g);
    std::set<std::string> wanted;
    for (const std::string& f : files) wanted.insert(snap + "/" + f);
    if (matched != wanted || head.find_first_of("*?[") != std::string::npos ||
        tail.find_first_of("*?[") != std::string::npos) {
      return Unimplemented("the split's files (" + JoinQuoted(files) +
                           ") cannot be named by one pattern; name each with hf://…/PATH");
    }
    return pattern;
  }

  const LocalizeOptions& o_;
  Hub hub_;
  std::mutex mu_;  // the callbacks are called from several downloads at once
};

}  // namespace

bool HasRemoteSources(const manifest::Manifest& m) {
  const auto remote = [](const std::optional<std::string>& s) { return s && IsHfUri(*s); };
  if (remote(m.model.source) || remote(m.data.source) || remote(m.data.train) ||
      remote(m.data.val) || remote(m.data.test))
    return true;
  return std::any_of(m.data.preprocessing.begin(), m.data.preprocessing.end(),
                     [](const manifest::PreprocessStep& s) {
                       return s.tokenize && IsHfUri(s.tokenize->tokenizer);
                     });
}

Result<Localized> Localize(const manifest::Manifest& m, const LocalizeOptions& options) {
  Localized out;
  out.manifest = m;
  Fetcher fetch(options);
  manifest::Manifest& local = out.manifest;
  if (local.model.source && IsHfUri(*local.model.source)) {
    const std::string key = "model.source";
    Result<HfRef> ref = ParseHfUri(*local.model.source, RepoType::kModel);
    if (!ref.ok()) return Keyed(key, ref.status());
    LocalSource s{key, *local.model.source, "", ""};
    Result<std::string> path = fetch.Model(key, *ref, &s.commit);
    if (!path.ok()) return Keyed(key, path.status());
    s.local = *path;
    local.model.source = *path;
    out.sources.push_back(s);
  }
  for (std::size_t i = 0; i < local.data.preprocessing.size(); ++i) {
    auto& tokenize = local.data.preprocessing[i].tokenize;
    if (!tokenize || !IsHfUri(tokenize->tokenizer)) continue;
    const std::string key = "data.preprocessing[" + std::to_string(i) + "].tokenize.tokenizer";
    Result<HfRef> ref = ParseHfUri(tokenize->tokenizer, RepoType::kModel);
    if (!ref.ok()) return Keyed(key, ref.status());
    LocalSource s{key, tokenize->tokenizer, "", ""};
    Result<std::string> path = fetch.Tokenizer(*ref, &s.commit);
    if (!path.ok()) return Keyed(key, path.status());
    s.local = *path;
    tokenize->tokenizer = *path;
    out.sources.push_back(s);
  }
  for (auto& [key, value] : {std::pair{"data.source", &local.data.source},
                             {"data.train", &local.data.train},
                             {"data.val", &local.data.val},
                             {"data.test", &local.data.test}}) {
    if (!*value || !IsHfUri(**value)) continue;
    Result<HfRef> ref = ParseHfUri(**value, RepoType::kDataset);
    if (!ref.ok()) return Keyed(key, ref.status());
    LocalSource s{key, **value, "", ""};
    Result<std::string> path = fetch.Data(key, *ref, &s.commit);
    if (!path.ok()) return Keyed(key, path.status());
    s.local = *path;
    *value = *path;
    out.sources.push_back(s);
  }
  return out;
}

}  // namespace entrenar::fetch

namespace entrenar::fetch {

Result<manifest::Manifest> PinRevisions(const manifest::Manifest& m, const HubSettings& settings) {
  manifest::Manifest out = m;
  Hub hub(settings);
  const auto pin = [&](const std::string& key, std::string* uri, RepoType bare) -> Status {
    if (!IsHfUri(*uri)) return OkStatus();
    Result<HfRef> ref = ParseHfUri(*uri, bare);
    if (!ref.ok()) return Keyed(key, ref.status());
    if (!IsCommitHash(ref->revision)) {
      Result<RepoInfo> info = hub.Info(*ref);
      if (!info.ok()) return Keyed(key, info.status());
      ref->revision = info->commit;
    }
    *uri = ref->Uri(bare);
    return OkStatus();
  };
  if (out.model.source)
    ENTRENAR_RETURN_IF_ERROR(pin("model.source", &*out.model.source, RepoType::kModel));
  for (std::size_t i = 0; i < out.data.preprocessing.size(); ++i) {
    auto& tokenize = out.data.preprocessing[i].tokenize;
    if (!tokenize) continue;
    ENTRENAR_RETURN_IF_ERROR(pin("data.preprocessing[" + std::to_string(i) + "].tokenize.tokenizer",
                                 &tokenize->tokenizer, RepoType::kModel));
  }
  for (auto& [key, value] : {std::pair{"data.source", &out.data.source},
                             {"data.train", &out.data.train},
                             {"data.val", &out.data.val},
                             {"data.test", &out.data.test}}) {
    if (*value) ENTRENAR_RETURN_IF_ERROR(pin(key, &**value, RepoType::kDataset));
  }
  return out;
}

}  // namespace entrenar::fetch
