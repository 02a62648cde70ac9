#include "entrenar/cli/cli.h"

#include <iostream>

#include <CLI/CLI.hpp>

#include "entrenar/base/logging.h"
#include "entrenar/base/version.h"

#include "commands.h"

namespace entrenar::cli {

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
  AddTrainCommand(app, &exit_code);
  AddDaemonCommands(app, &exit_code);
  AddSchemaCommand(app, &exit_code);
  app.parse_complete_callback([&] { SetupLogging(log_level); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return exit_code;
}

}  // namespace entrenar::cli
