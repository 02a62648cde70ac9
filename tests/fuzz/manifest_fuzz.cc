// The manifest pipeline as entrenard's Validate and Submit run it on anyone's text: YAML, `--set`
// overrides, `{{ }}` templates, the typed read and validation. Lines `#set PATH=VALUE` at the top
// of an input (YAML comments) are passed as overrides. Properties: no crash, an error always
// says where and what, and a manifest that loads writes YAML that loads again to the same
// resolved manifest (what a run's config.resolved.yaml relies on).

#include <optional>
#include <string>
#include <vector>

#include "entrenar/manifest/diagnostic.h"
#include "entrenar/manifest/load.h"

#include "fuzz.h"

namespace {

using entrenar::manifest::Diagnostic;
using entrenar::manifest::LoadOptions;
using entrenar::manifest::LoadResult;

LoadOptions Options(const std::string& text) {
  LoadOptions o;
  o.timestamp = "2026-12-04T05:00:00Z";
  o.getenv = [](const std::string& name) -> std::optional<std::string> {
    if (name == "HOME") return std::string("/home/fuzz");
    return std::nullopt;
  };
  std::size_t at = 0;
  while (text.compare(at, 5, "#set ") == 0 && o.overrides.size() < 8) {
    const std::size_t end = text.find('\n', at);
    o.overrides.push_back(text.substr(at + 5, end == std::string::npos ? end : end - at - 5));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return o;
}

}  // namespace

ENTRENAR_FUZZ_TARGET {
  const std::string text = entrenar::fuzz::AsString(data, size);
  const LoadOptions options = Options(text);
  const LoadResult r = entrenar::manifest::LoadText(text, "fuzz.yaml", options);
  for (const Diagnostic& d : r.diagnostics) {
    FUZZ_CHECK(!d.message.empty());
    FUZZ_CHECK(!d.location.file.empty());
    (void)entrenar::manifest::FormatDiagnostic(d);
  }
  if (!r.ok()) return 0;
  const std::string resolved = entrenar::manifest::ToYaml(*r.manifest);
  (void)entrenar::manifest::ToJson(*r.manifest);
  const std::string written = entrenar::manifest::ToWrittenYaml(*r.manifest);
  LoadOptions again;
  again.timestamp = options.timestamp;
  again.getenv = options.getenv;
  const LoadResult reread = entrenar::manifest::LoadText(written, "written.yaml", again);
  if (!reread.ok()) {
    for (const Diagnostic& d : reread.diagnostics) {
      std::fprintf(stderr, "%s\n", entrenar::manifest::FormatDiagnostic(d).c_str());
    }
    std::fprintf(stderr, "--- written:\n%s\n", written.c_str());
  }
  FUZZ_CHECK(reread.ok());
  FUZZ_CHECK(entrenar::manifest::ToYaml(*reread.manifest) == resolved);
  return 0;
}
