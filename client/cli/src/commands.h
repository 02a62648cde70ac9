#pragma once

#include <string>
#include <vector>

#include "entrenar/console/output.h"
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
// submit, logs, ls, show, cancel, resume, queue, devices: talk to entrenard.
void AddDaemonCommands(CLI::App& app, int* exit_code);
// registry ls, registry show: the local model registry.
void AddRegistryCommands(CLI::App& app, int* exit_code);

// Shared with the worker (entrenar/console).
using console::BaseDir;
using console::LoadManifestArg;
using console::ParseAndRun;
using console::PrintDiagnostics;
using console::WriteOutput;

}  // namespace entrenar::cli
