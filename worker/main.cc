// entrenar-train: trains a manifest (`entrenar train` execs it), and is the worker entrenard runs
// for a job, as its owner. The only binary that loads LibTorch.
#include <CLI/CLI.hpp>

#include "entrenar/base/logging.h"
#include "entrenar/base/version.h"
#include "entrenar/console/exit_codes.h"
#include "entrenar/console/output.h"

#include "src/train.h"

int main(int argc, char** argv) {
  CLI::App app{"entrenar-train: trains a manifest (run as `entrenar train`)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(entrenar::Version()));
  int exit_code = entrenar::console::kExitOk;
  entrenar::worker::AddTrainCommand(app, &exit_code);
  entrenar::SetupLogging("warn");
  return entrenar::console::ParseAndRun(app, argc, argv, exit_code);
}
