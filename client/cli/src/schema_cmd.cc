#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "entrenar/base/strings.h"
#include "entrenar/cli/cli.h"
#include "entrenar/manifest/schema.h"

#include "commands.h"

namespace entrenar::cli {

void AddSchemaCommand(CLI::App& app, int* exit_code) {
  auto what = std::make_shared<std::string>("json");
  auto out = std::make_shared<std::string>("-");
  CLI::App* cmd = app.add_subcommand(
      "schema", "Print the manifest's JSON Schema (for editors), its reference, or its keys");
  cmd->add_option("--format,-f", *what, "json, markdown or keys")
      ->check(CLI::IsMember({"json", "markdown", "keys"}))
      ->capture_default_str();
  cmd->add_option("--output,-o", *out, "Write to this file instead of standard output");
  cmd->callback([what, out, exit_code] {
    std::string text;
    if (*what == "json") {
      text = manifest::JsonSchema();
    } else if (*what == "markdown") {
      text = manifest::MarkdownReference();
    } else {
      text = Join(manifest::KeyPaths(), "\n") + "\n";
    }
    *exit_code = WriteOutput(*out, text) ? kExitOk : kExitIo;
  });
}

}  // namespace entrenar::cli
