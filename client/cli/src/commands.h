#pragma once

#include <string>
#include <vector>

#include "entrenar/manifest/diagnostic.h"

namespace CLI {
class App;
}

namespace entrenar::cli {

// Each Add*Command registers a subcommand whose callback stores its exit code in *exit_code.
void AddValidateCommand(CLI::App& app, int* exit_code);
void AddInitCommand(CLI::App& app, int* exit_code);
void AddLockCommand(CLI::App& app, int* exit_code);
void AddSchemaCommand(CLI::App& app, int* exit_code);
void AddPlanCommand(CLI::App& app, int* exit_code);
void AddTrainCommand(CLI::App& app, int* exit_code);
// submit, logs, ls, show, cancel, resume, queue, devices: talk to entrenard.
void AddDaemonCommands(CLI::App& app, int* exit_code);
// registry ls, registry show: the local model registry.
void AddRegistryCommands(CLI::App& app, int* exit_code);

// Parses the command line, running the chosen subcommand's callback (which sets `exit_code`).
// Returns the process exit code: help and --version exit 0, a usage error 2.
int ParseAndRun(CLI::App& app, int argc, char** argv, const int& exit_code);

// Prints diagnostics to stderr in the `FILE:LINE:COL: error: PATH: message` form, with colour
// on a terminal, followed by a one-line summary when there are errors.
void PrintDiagnostics(const std::vector<manifest::Diagnostic>& diags);

// Writes `text` to `path` atomically (temp file + rename); "-" writes to stdout.
// Returns false after printing an error.
bool WriteOutput(const std::string& path, const std::string& text);

// The directory of a manifest path, for resolving the relative paths inside it.
std::string BaseDir(const std::string& manifest_path);

}  // namespace entrenar::cli
