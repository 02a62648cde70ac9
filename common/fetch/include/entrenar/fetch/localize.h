#pragma once

#include <functional>
#include <string>
#include <vector>

#include "entrenar/base/status.h"
#include "entrenar/fetch/hub.h"
#include "entrenar/fetch/s3.h"
#include "entrenar/manifest/manifest.h"
#include "entrenar/registry/registry.h"

namespace entrenar::fetch {

// One remote source of a manifest and where it is on this machine.
struct LocalSource {
  std::string key;     // "model.source", "data.train", ...
  std::string uri;     // as the manifest writes it
  std::string commit;  // the revision's commit (hf://)
  std::string local;   // a file, a folder, or a pattern of data files
};

struct Localized {
  manifest::Manifest manifest;  // the manifest with every remote source a local path
  std::vector<LocalSource> sources;
};

struct LocalizeOptions {
  HubSettings hub;
  S3Settings s3;
  std::string registry_root;  // pacha://'s registry; "" for registry::DefaultRoot()
  ProgressFn progress;        // each download's bytes
  std::function<void(const std::string&)> note;  // a line for the run's log
};

// Whether `source` is one Localize fetches: hf://, s3:// or pacha://.
bool IsRemoteSource(const std::string& source);

// OK when `ref` is of the kind a key wants: a data set (kDataset) for data.*, a model for
// model.source and a tokenizer; else kInvalidArgument saying which to write.
Status CheckPachaKind(const registry::Ref& ref, RepoType wanted);

// Whether `m` names a source Localize fetches.
bool HasRemoteSources(const manifest::Manifest& m);

// Fetches `m`'s hf:// sources into the Hub cache and its s3:// ones into the S3 cache (only what
// the run needs), finds its pacha:// ones in the local registry (their snapshot folders), and
// returns the manifest with local paths in their place. A pacha:// version is read as a
// repository is below. An s3:// key is one
// object; a key ending in `/` is a folder, listed, and read as a repository's folder is below:
// - model.source: the repository's (or its folder's) config and tokenizer files, .json files
//   and safetensors weights (the shards model.safetensors.index.json names); a path naming one
//   file (a .gguf) fetches that file. The source becomes the snapshot folder (or file).
// - a tokenize step's tokenizer: the file named, else tokenizer.json, else tokenizer.model.
// - data.source / train / val / test: the file named, or the data files (.parquet, .jsonl,
//   .json, .csv, .tsv) of one split under the path: `train` for data.source and data.train,
//   `validation` (val, valid, dev) for data.val, `test` for data.test, the split read from the
//   file's folder or name (data/train-00000-of-00002.parquet); files of no split are `train`.
//   Several files become one pattern (…/train-*.parquet) that the data layer reads in order.
// Errors are the Hub's (hub.h), prefixed with the manifest key.
Result<Localized> Localize(const manifest::Manifest& m, const LocalizeOptions& options);

// `m` with each hf:// source pinned to the commit its revision names now
// (hf://ORG/NAME@COMMIT...; data sets written hf://datasets/...): what `entrenar lock` writes,
// so that a locked run fetches exactly what was locked, whatever the branch becomes. Reads
// each repository's revision (the Hub, or the cache offline); downloads nothing. Errors as
// Localize's.
Result<manifest::Manifest> PinRevisions(const manifest::Manifest& m, const HubSettings& hub);

}  // namespace entrenar::fetch
