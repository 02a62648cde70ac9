#pragma once

#include <string>
#include <vector>

namespace entrenar::manifest {

// Every key path the manifest accepts, sorted: "data.loader.batch_size",
// "data.preprocessing[].normalize.method", "callbacks[].trigger", ...
std::vector<std::string> KeyPaths();

// The keys the manifest describes but the engine does not run yet, with the hint for each
// (visit.h's NotBuilt rules); paths as in KeyPaths.
struct NotBuiltKey {
  std::string path;
  std::string hint;
  std::string default_json;  // its default as ValueJson (load.h) writes it; "" when it has none
};
std::vector<NotBuiltKey> NotBuiltKeys();

// The JSON Schema (2020-12) of the manifest, as committed in schemas/entrenar-1.0.schema.json.
std::string JsonSchema();

// The manifest reference in Markdown, as committed in docs/manifest.md.
std::string MarkdownReference();

}  // namespace entrenar::manifest
