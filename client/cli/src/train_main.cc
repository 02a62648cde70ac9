// entrenar-train: the `train` command in its own binary, the only one that loads LibTorch.
#include <CLI/CLI.hpp>

#include "entrenar/base/logging.h"
#include "entrenar/base/version.h"
#include "entrenar/cli/cli.h"

#include "commands.h"

namespace entrenar::cli {

int RunTrainer(int argc, char** argv) {
  CLI::App app{"entrenar-train: trains a manifest (run as `entrenar train`)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(Version()));
  int exit_code = kExitOk;
  AddTrainCommand(app, &exit_code);
  SetupLogging("warn");
  return ParseAndRun(app, argc, argv, exit_code);
}

}  // namespace entrenar::cli
