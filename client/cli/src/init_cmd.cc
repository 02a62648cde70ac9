#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "entrenar/cli/cli.h"
#include "entrenar/manifest/init_templates.h"

#include "commands.h"

namespace entrenar::cli {

void AddInitCommand(CLI::App& app, int* exit_code) {
  auto name = std::make_shared<std::string>("minimal");
  auto out = std::make_shared<std::string>("-");
  CLI::App* cmd = app.add_subcommand("init", "Print a commented starter manifest");
  cmd->add_option("--template,-t", *name,
                  "minimal, classifier, regression, lora, qlora or transformer")
      ->capture_default_str();
  cmd->add_option("--output,-o", *out, "Write to this file instead of standard output");
  cmd->callback([name, out, exit_code] {
    Result<std::string> text = manifest::InitTemplate(*name);
    if (!text.ok()) {
      std::cerr << "error: " << text.status().message() << "\n";
      *exit_code = kExitUsage;
      return;
    }
    *exit_code = WriteOutput(*out, text.value()) ? kExitOk : kExitIo;
  });
}

}  // namespace entrenar::cli
