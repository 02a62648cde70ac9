// A manifest's remote sources (hf://, s3://, pacha://) fetched into their caches (pacha://: found
// in the local registry) and replaced by local paths: which files a model, a tokenizer and a data
// split need, and the pattern that names a split's shards. Both schemes are a Source: a listing of
// names and a way to fetch one.
#include "entrenar/fetch/localize.h"

#include <glob.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "entrenar/base/files.h"
#include "entrenar/base/strings.h"
#include "entrenar/fetch/s3.h"
#include "entrenar/registry/registry.h"

namespace entrenar::fetch {
namespace {

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

std::string Base(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

Status Keyed(const std::string& key, const Status& s) {
  return Status(s.code(), key + ": " + s.message());
}

// Where a reference's files are: their names (relative to the root: a Hub repository, an S3
// bucket), the name the reference itself gives (a file or a folder, "" for all), and how one is
// fetched into the cache.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::string Uri() const = 0;
  virtual std::string Path() const = 0;
  virtual Result<std::vector<std::string>> Names() = 0;
  // Whether the reference names one file (fetched without a listing).
  virtual bool NamesFile() = 0;
  virtual Result<std::string> Fetch(const std::string& name, const ProgressFn& progress) = 0;
  virtual bool Cached(const std::string& name) const = 0;
  // Where `name` lies once fetched ("" for the root itself).
  virtual std::string Local(const std::string& name) const = 0;
  // Whether every file is on this machine already (a registry version's folder: used whole).
  virtual bool Whole() const { return false; }
  std::string commit;  // the Hub's, or empty
};

class HubSource : public Source {
 public:
  HubSource(Hub& hub, HfRef ref, RepoInfo info)
      : hub_(hub), ref_(std::move(ref)), info_(std::move(info)) {
    commit = info_.commit;
  }
  std::string Uri() const override { return ref_.Uri(); }
  std::string Path() const override { return ref_.path; }
  Result<std::vector<std::string>> Names() override {
    std::vector<std::string> out;
    for (const RepoFile& f : info_.files) out.push_back(f.name);
    return out;
  }
  bool NamesFile() override {
    return !ref_.path.empty() &&
           std::any_of(info_.files.begin(), info_.files.end(),
                       [&](const RepoFile& f) { return f.name == ref_.path; });
  }
  Result<std::string> Fetch(const std::string& name, const ProgressFn& progress) override {
    return hub_.Fetch(ref_, info_, name, progress);
  }
  bool Cached(const std::string& name) const override {
    return hub_.cache().Find(ref_, info_.commit, name).has_value();
  }
  std::string Local(const std::string& name) const override {
    const std::string snap = hub_.cache().SnapshotDir(ref_, info_.commit);
    return name.empty() ? snap : snap + "/" + name;
  }

 private:
  Hub& hub_;
  HfRef ref_;
  RepoInfo info_;
};

class S3Source : public Source {
 public:
  S3Source(S3& s3, S3Uri uri, std::string cache)
      : s3_(s3), uri_(std::move(uri)), cache_(std::move(cache)) {}
  std::string Uri() const override { return "s3://" + uri_.bucket + "/" + uri_.key; }
  std::string Path() const override {
    return uri_.prefix() && !uri_.key.empty() ? uri_.key.substr(0, uri_.key.size() - 1) : uri_.key;
  }
  Result<std::vector<std::string>> Names() override {
    if (!names_) {
      const std::string prefix = Path().empty() ? "" : Path() + "/";
      ENTRENAR_ASSIGN_OR_RETURN(const std::vector<S3Object> objects, s3_.List(uri_.bucket, prefix));
      names_.emplace();
      for (const S3Object& o : objects) names_->push_back(o.key);
    }
    return *names_;
  }
  bool NamesFile() override { return !uri_.prefix(); }
  Result<std::string> Fetch(const std::string& name, const ProgressFn& progress) override {
    return s3_.Fetch(uri_.bucket, name, progress);
  }
  bool Cached(const std::string&) const override { return false; }  // S3 checks the ETag
  std::string Local(const std::string& name) const override {
    const std::string root = cache_ + "/" + uri_.bucket;
    return name.empty() ? root : root + "/" + name;
  }

 private:
  S3& s3_;
  S3Uri uri_;
  std::string cache_;
  std::optional<std::vector<std::string>> names_;
};

// A version in the local registry: its snapshot folder holds every file already.
class PachaSource : public Source {
 public:
  PachaSource(registry::Entry entry, std::string dir)
      : entry_(std::move(entry)), dir_(std::move(dir)) {}
  std::string Uri() const override { return entry_.ref.ToString(); }
  std::string Path() const override { return ""; }
  Result<std::vector<std::string>> Names() override {
    std::vector<std::string> out;
    for (const registry::StoredFile& f : entry_.files) out.push_back(f.name);
    return out;
  }
  bool NamesFile() override { return false; }
  Result<std::string> Fetch(const std::string& name, const ProgressFn&) override {
    return Local(name);
  }
  bool Cached(const std::string&) const override { return true; }
  std::string Local(const std::string& name) const override {
    return name.empty() ? dir_ : dir_ + "/" + name;
  }
  bool Whole() const override { return true; }

 private:
  registry::Entry entry_;
  std::string dir_;
};

bool IsDataFile(const std::string& f) {
  const std::string base = Base(f);
  if (base == "dataset_info.json" || base == "dataset_infos.json" || base == "dataset_dict.json" ||
      base == "state.json")
    return false;
  for (const char* ext : {".parquet", ".jsonl", ".ndjson", ".json", ".csv", ".tsv"}) {
    if (EndsWith(ToLower(f), ext)) return true;
  }
  return false;
}

// The split a data file belongs to, from its folders and the words of its name.
std::string SplitOf(const std::string& path) {
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
std::vector<std::string> OneFormat(std::vector<std::string> files) {
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
Result<std::string> Pattern(const std::string& snap, const std::vector<std::string>& files) {
  std::string head = files[0], tail = files[0];
  for (const std::string& f : files) {
    std::size_t n = 0;
    while (n < head.size() && n < f.size() && head[n] == f[n]) ++n;
    head.resize(n);
    std::size_t m = 0;
    while (m < tail.size() && m < f.size() && tail[tail.size() - 1 - m] == f[f.size() - 1 - m]) ++m;
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
                         ") cannot be named by one pattern; name one file in the URI");
  }
  return pattern;
}

class Fetcher {
 public:
  explicit Fetcher(const LocalizeOptions& o) : o_(o), hub_(o.hub), s3_(o.s3) {}

  // The source `uri` names (`bare`: what a bare hf:// name is), opened.
  Result<std::unique_ptr<Source>> Open(const std::string& uri, RepoType bare) {
    if (registry::IsPachaUri(uri)) return OpenPacha(uri, bare);
    if (IsHfUri(uri)) {
      ENTRENAR_ASSIGN_OR_RETURN(HfRef ref, ParseHfUri(uri, bare));
      // One revision is asked for once: a model and its tokenizer are often one repository.
      HfRef repo = ref;
      repo.path.clear();
      auto known = infos_.find(repo.Uri());
      if (known == infos_.end()) {
        ENTRENAR_ASSIGN_OR_RETURN(RepoInfo info, hub_.Info(ref));
        known = infos_.emplace(repo.Uri(), std::move(info)).first;
      }
      return std::unique_ptr<Source>(std::make_unique<HubSource>(hub_, ref, known->second));
    }
    ENTRENAR_ASSIGN_OR_RETURN(S3Uri s3, ParseS3Uri(uri));
    return std::unique_ptr<Source>(std::make_unique<S3Source>(s3_, s3, o_.s3.cache));
  }

  Result<std::unique_ptr<Source>> OpenPacha(const std::string& uri, RepoType bare) {
    ENTRENAR_ASSIGN_OR_RETURN(const registry::Ref ref, registry::ParseRef(uri));
    ENTRENAR_RETURN_IF_ERROR(CheckPachaKind(ref, bare));
    const registry::Registry reg(o_.registry_root.empty() ? registry::DefaultRoot()
                                                          : o_.registry_root);
    ENTRENAR_ASSIGN_OR_RETURN(registry::Entry entry, reg.Get(ref));
    ENTRENAR_ASSIGN_OR_RETURN(std::string dir, reg.Snapshot(entry));
    return std::unique_ptr<Source>(std::make_unique<PachaSource>(std::move(entry), dir));
  }

  Result<std::string> Model(Source& src) {
    if (src.NamesFile()) return Get(src, src.Path());
    // A published model is read as its run wrote it (model.safetensors, or entrenar's model.pt).
    if (src.Whole()) return src.Local(src.Path());
    const std::string prefix = src.Path().empty() ? "" : src.Path() + "/";
    ENTRENAR_ASSIGN_OR_RETURN(const std::vector<std::string> names, src.Names());
    std::vector<std::string> files;
    for (const std::string& f : Under(names, prefix, true)) {
      if (EndsWith(f, ".json") || Base(f) == "tokenizer.model") files.push_back(f);
    }
    ENTRENAR_ASSIGN_OR_RETURN(std::vector<std::string> weights, Weights(src, names, prefix));
    files.insert(files.end(), weights.begin(), weights.end());
    if (files.empty()) {
      return NotFound(src.Uri() + " holds no model files" +
                      (prefix.empty() ? "" : " under " + prefix) + " (config.json, safetensors)");
    }
    ENTRENAR_RETURN_IF_ERROR(GetAll(src, files));
    return src.Local(src.Path());
  }

  Result<std::string> Tokenizer(Source& src) {
    if (src.NamesFile()) return Get(src, src.Path());
    const std::string prefix = src.Path().empty() ? "" : src.Path() + "/";
    ENTRENAR_ASSIGN_OR_RETURN(const std::vector<std::string> names, src.Names());
    for (const char* name : {"tokenizer.json", "tokenizer.model"}) {
      if (std::find(names.begin(), names.end(), prefix + name) != names.end())
        return Get(src, prefix + name);
    }
    return NotFound(src.Uri() + " has no tokenizer.json or tokenizer.model" +
                    (prefix.empty() ? "" : " under " + prefix));
  }

  Result<std::string> Data(const std::string& key, Source& src) {
    if (src.NamesFile()) return Get(src, src.Path());
    const std::string prefix = src.Path().empty() ? "" : src.Path() + "/";
    const std::string split = key == "data.val"    ? "validation"
                              : key == "data.test" ? "test"
                                                   : "train";
    ENTRENAR_ASSIGN_OR_RETURN(const std::vector<std::string> names, src.Names());
    std::map<std::string, std::vector<std::string>> splits;
    for (const std::string& f : Under(names, prefix, false)) {
      if (IsDataFile(f)) splits[SplitOf(f.substr(prefix.size()))].push_back(f);
    }
    if (splits.empty()) {
      return NotFound(src.Uri() + " holds no data files" +
                      (prefix.empty() ? "" : " under " + prefix) +
                      " (.parquet, .jsonl, .json, .csv, .tsv)");
    }
    const auto it = splits.find(split);
    if (it == splits.end()) {
      std::vector<std::string> have;
      for (const auto& [name, files] : splits) have.push_back(name);
      const std::string way = src.Whole() ? "add the split's files to a new version"
                                          : "name a file with " + src.Uri() +
                                                (src.Uri().back() == '/' ? "" : "/") + "PATH";
      return NotFound(src.Uri() + " has no " + split + " split (it has " + JoinQuoted(have) +
                      "); " + way);
    }
    const std::vector<std::string> files = OneFormat(it->second);
    ENTRENAR_RETURN_IF_ERROR(GetAll(src, files));
    if (files.size() == 1) return src.Local(files[0]);
    return Pattern(src.Local(""), files);
  }

 private:
  // The names under `prefix` ("" or "folder/"), directly in it when `direct`.
  static std::vector<std::string> Under(const std::vector<std::string>& names,
                                        const std::string& prefix, bool direct) {
    std::vector<std::string> out;
    for (const std::string& n : names) {
      if (n.rfind(prefix, 0) != 0 || n.size() == prefix.size()) continue;
      if (direct && n.find('/', prefix.size()) != std::string::npos) continue;
      out.push_back(n);
    }
    return out;
  }

  Result<std::string> Get(Source& src, const std::string& file) {
    if (!src.Cached(file) && o_.note) {
      std::lock_guard<std::mutex> lock(mu_);
      o_.note("downloading " + file + " of " + src.Uri());
    }
    return src.Fetch(file, [this](const DownloadProgress& p) {
      std::lock_guard<std::mutex> lock(mu_);
      if (o_.progress) o_.progress(p);
    });
  }

  // `files`, up to four downloading at once (a sharded model's shards side by side); the first
  // error, after every download has ended.
  Status GetAll(Source& src, const std::vector<std::string>& files) {
    std::vector<Status> results(files.size());
    std::atomic<std::size_t> next{0};
    const auto work = [&] {
      for (std::size_t i; (i = next++) < files.size();) results[i] = Get(src, files[i]).status();
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
  Result<std::vector<std::string>> Weights(Source& src, const std::vector<std::string>& names,
                                           const std::string& prefix) {
    const auto has = [&](const std::string& n) {
      return std::find(names.begin(), names.end(), n) != names.end();
    };
    const std::string index = prefix + "model.safetensors.index.json";
    std::vector<std::string> out;
    if (has(index)) {
      ENTRENAR_ASSIGN_OR_RETURN(const std::string path, Get(src, index));
      ReadLimits limits;
      limits.max_bytes = 64u << 20;
      ENTRENAR_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path, limits));
      const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
      if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        return DataLoss(src.Uri() + ": " + index + " has no weight_map");
      std::set<std::string> shards;
      for (const auto& [tensor, shard] : j["weight_map"].items()) {
        if (!shard.is_string()) return DataLoss(src.Uri() + ": " + index + " is damaged");
        shards.insert(prefix + shard.get<std::string>());
      }
      for (const std::string& s : shards) {
        if (!has(s))
          return NotFound(src.Uri() + ": " + index + " names " + s + ", which is not there");
        out.push_back(s);
      }
      return out;
    }
    for (const std::string& f : Under(names, prefix, true)) {
      if (EndsWith(f, ".safetensors")) out.push_back(f);
    }
    if (out.empty()) {
      for (const std::string& f : Under(names, prefix, true)) {
        if (EndsWith(f, ".bin") || EndsWith(f, ".pt") || EndsWith(f, ".pth")) {
          return Unimplemented(src.Uri() + " has PyTorch pickle weights (" + f +
                               ") and no safetensors; entrenar loads safetensors (convert "
                               "them, e.g. with transformers' save_pretrained(..., "
                               "safe_serialization=True))");
        }
      }
    }
    return out;
  }

  const LocalizeOptions& o_;
  Hub hub_;
  S3 s3_;
  std::mutex mu_;  // the callbacks are called from several downloads at once
  std::map<std::string, RepoInfo> infos_;  // by repository and revision
};

// What a manifest key that names a source names.
enum class SourceKind { kModel, kTokenizer, kData };

// What a bare hf://ORG/NAME is under a key of `kind`.
RepoType BareType(SourceKind kind) {
  return kind == SourceKind::kData ? RepoType::kDataset : RepoType::kModel;
}

// Calls `visit` with each key of `m` that names a source (model.source, each tokenize step's
// tokenizer, data.source / train / val / test: the ones set), its value (which `visit` may
// change) and its kind, in that order; the first error stops it.
Status ForEachSource(
    manifest::Manifest& m,
    const std::function<Status(const std::string&, std::string*, SourceKind)>& visit) {
  if (m.model.source)
    ENTRENAR_RETURN_IF_ERROR(visit("model.source", &*m.model.source, SourceKind::kModel));
  for (std::size_t i = 0; i < m.data.preprocessing.size(); ++i) {
    auto& tokenize = m.data.preprocessing[i].tokenize;
    if (!tokenize) continue;
    ENTRENAR_RETURN_IF_ERROR(
        visit("data.preprocessing[" + std::to_string(i) + "].tokenize.tokenizer",
              &tokenize->tokenizer, SourceKind::kTokenizer));
  }
  for (auto& [key, value] : {std::pair{"data.source", &m.data.source},
                             {"data.train", &m.data.train},
                             {"data.val", &m.data.val},
                             {"data.test", &m.data.test}}) {
    if (*value) ENTRENAR_RETURN_IF_ERROR(visit(key, &**value, SourceKind::kData));
  }
  return OkStatus();
}

}  // namespace

bool IsRemoteSource(const std::string& s) {
  return IsHfUri(s) || s.rfind("s3://", 0) == 0 || registry::IsPachaUri(s);
}

Status CheckPachaKind(const registry::Ref& ref, RepoType wanted) {
  const bool data = wanted == RepoType::kDataset;
  if (data == (ref.kind == registry::Kind::kDataset)) return OkStatus();
  return InvalidArgument(ref.ToString() + " is a " + (data ? "model" : "data set") + "; " +
                         (data ? "data comes from pacha://datasets/NAME:VERSION"
                               : "a model or a tokenizer comes from pacha://models/NAME:VERSION"));
}

bool HasRemoteSources(const manifest::Manifest& m) {
  bool any = false;
  manifest::Manifest copy = m;
  (void)ForEachSource(copy, [&](const std::string&, std::string* value, SourceKind) {
    any = any || IsRemoteSource(*value);
    return OkStatus();
  });
  return any;
}

Result<Localized> Localize(const manifest::Manifest& m, const LocalizeOptions& options) {
  Localized out;
  out.manifest = m;
  Fetcher fetch(options);
  ENTRENAR_RETURN_IF_ERROR(ForEachSource(
      out.manifest, [&](const std::string& key, std::string* value, SourceKind kind) -> Status {
        if (!IsRemoteSource(*value)) return OkStatus();
        Result<std::unique_ptr<Source>> src = fetch.Open(*value, BareType(kind));
        if (!src.ok()) return Keyed(key, src.status());
        Result<std::string> path = kind == SourceKind::kModel       ? fetch.Model(**src)
                                   : kind == SourceKind::kTokenizer ? fetch.Tokenizer(**src)
                                                                    : fetch.Data(key, **src);
        if (!path.ok()) return Keyed(key, path.status());
        out.sources.push_back({key, *value, (*src)->commit, *path});
        *value = *path;
        return OkStatus();
      }));
  return out;
}

Result<manifest::Manifest> PinRevisions(const manifest::Manifest& m, const HubSettings& settings) {
  manifest::Manifest out = m;
  Hub hub(settings);
  ENTRENAR_RETURN_IF_ERROR(
      ForEachSource(out, [&](const std::string& key, std::string* uri, SourceKind kind) -> Status {
        if (!IsHfUri(*uri)) return OkStatus();
        const RepoType bare = BareType(kind);
        Result<HfRef> ref = ParseHfUri(*uri, bare);
        if (!ref.ok()) return Keyed(key, ref.status());
        if (!IsCommitHash(ref->revision)) {
          Result<RepoInfo> info = hub.Info(*ref);
          if (!info.ok()) return Keyed(key, info.status());
          ref->revision = info->commit;
        }
        *uri = ref->Uri(bare);
        return OkStatus();
      }));
  return out;
}

}  // namespace entrenar::fetch
