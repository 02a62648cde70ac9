#include "entrenar/cli/cli.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "entrenar/base/logging.h"
#include "entrenar/base/version.h"

#include "commands.h"

namespace entrenar::cli {

namespace {

// `entrenar train ...` runs `entrenar-train train ...` (the same directory): only training loads
// LibTorch, so every other command starts in milliseconds.
void AddTrainForwarder(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("train", "Train a manifest here, in the foreground");
  cmd->prefix_command();
  cmd->set_help_flag();  // `entrenar train --help` is entrenar-train's
  cmd->callback([cmd, exit_code] {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    const std::string trainer = (self.parent_path() / "entrenar-train").string();
    std::vector<std::string> args = {trainer, "train"};
    for (const std::string& a : cmd->remaining()) args.push_back(a);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(trainer.c_str(), argv.data());
    std::cerr << "error: cannot run " << trainer << ": " << std::strerror(errno) << "\n";
    *exit_code = kExitIo;
  });
}

}  // namespace

int Run(int argc, char** argv) {
  CLI::App app{"entrenar: declarative training from one YAML manifest"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(Version()));
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  int exit_code = kExitOk;
  AddValidateCommand(app, &exit_code);
  AddInitCommand(app, &exit_code);
  AddLockCommand(app, &exit_code);
  AddPlanCommand(app, &exit_code);
  AddTrainForwarder(app, &exit_code);
  AddDaemonCommands(app, &exit_code);
  AddSchemaCommand(app, &exit_code);
  AddRegistryCommands(app, &exit_code);
  app.parse_complete_callback([&] { SetupLogging(log_level); });
  return ParseAndRun(app, argc, argv, exit_code);
}

}  // namespace entrenar::cli
