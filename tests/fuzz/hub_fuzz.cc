// What the Hugging Face Hub and a manifest say about a repository: the Hub's revision JSON
// (ParseRevisionInfo) and hf:// references (ParseHfUri). The first byte picks the reader.
// Properties: no crash; a revision that parses has a full commit hash and only file names that
// stay inside the snapshot; a reference that parses writes a URI that parses back to itself.

#include <string>

#include "entrenar/fetch/hf_uri.h"
#include "entrenar/fetch/hub.h"

#include "fuzz.h"

namespace {

using namespace entrenar::fetch;

}  // namespace

ENTRENAR_FUZZ_TARGET {
  if (size == 0) return 0;
  const std::string text = entrenar::fuzz::AsString(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    HfRef ref;
    ref.repo = "org/name";
    Result<RepoInfo> info = ParseRevisionInfo(text, ref);
    if (!info.ok()) return 0;
    FUZZ_CHECK(IsCommitHash(info->commit));
    for (const RepoFile& f : info->files) FUZZ_CHECK(entrenar::fuzz::Inside(f.name));
    return 0;
  }
  const RepoType bare = data[0] % 4 == 1 ? RepoType::kModel : RepoType::kDataset;
  Result<HfRef> ref = ParseHfUri(text, bare);
  if (!ref.ok()) {
    FUZZ_CHECK(ref.status().code() == entrenar::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(ref->path.empty() || entrenar::fuzz::Inside(ref->path));
  Result<HfRef> again = ParseHfUri(ref->Uri(bare), bare);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->type == ref->type && again->repo == ref->repo &&
             again->revision == ref->revision && again->path == ref->path);
  return 0;
}
