#pragma once

#include <string>
#include <vector>

#include "entrenar/manifest/diagnostic.h"
#include "entrenar/manifest/load.h"

namespace CLI {
class App;
}

namespace entrenar::console {

// Prints diagnostics to stderr in the `FILE:LINE:COL: error: PATH: message` form, with colour
// on a terminal, followed by a one-line summary when there are errors.
void PrintDiagnostics(const std::vector<manifest::Diagnostic>& diags);

// Writes `text` to `path` atomically (temp file + rename); "-" writes to stdout.
// Returns false after printing an error.
bool WriteOutput(const std::string& path, const std::string& text);

// The directory of a manifest path, for resolving the relative paths inside it.
std::string BaseDir(const std::string& manifest_path);

// Loads FILE, or standard input when FILE is "-".
manifest::LoadResult LoadManifestArg(const std::string& file, const manifest::LoadOptions& options);

// Parses the command line, running the chosen subcommand's callback (which sets `exit_code`).
// Returns the process exit code: help and --version exit 0, a usage error 2.
int ParseAndRun(CLI::App& app, int argc, char** argv, const int& exit_code);

}  // namespace entrenar::console
