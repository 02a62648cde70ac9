#pragma once

#include <string>
#include <string_view>

#include "entrenar/base/status.h"

namespace entrenar::fetch {

enum class RepoType { kModel, kDataset };

// A file, folder or whole repository on the Hugging Face Hub.
struct HfRef {
  RepoType type = RepoType::kModel;
  std::string repo;               // "ORG/NAME"
  std::string revision = "main";  // a branch, a tag or a commit
  std::string path;               // in the repository; empty for all of it

  // hf://[datasets/|models/]ORG/NAME[@REVISION][/PATH], as a manifest writes it where a bare
  // name is of type `bare`: the type is written when it is not that.
  std::string Uri(RepoType bare = RepoType::kModel) const;
};

// Parses hf://[datasets/|models/]ORG/NAME[@REVISION][/PATH]. `bare` is the type of a reference
// without `datasets/` or `models/`: a data set under data.*, a model elsewhere. A revision with a
// slash (refs/pr/1) is written with %2F. Returns kInvalidArgument saying what was expected for
// anything else: another scheme, a missing name, characters the Hub does not allow in names, a
// path with `..`, an absolute path or a backslash.
Result<HfRef> ParseHfUri(std::string_view uri, RepoType bare);

// Whether `uri` is an hf:// reference (parsed or not).
bool IsHfUri(std::string_view uri);

}  // namespace entrenar::fetch
