#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "entrenar/cli/cli.h"
#include "entrenar/manifest/load.h"
#include "entrenar/manifest/lock.h"
#include "entrenar/manifest/schema.h"
#include "entrenar/plan/support.h"

#include "commands.h"

namespace entrenar::cli {
namespace {

struct ValidateArgs {
  std::string file;
  std::vector<std::string> overrides;
  bool json = false;
  bool print_resolved = false;
  bool strict = false;
};

nlohmann::ordered_json DiagJson(const manifest::Diagnostic& d) {
  return {{"severity", manifest::SeverityName(d.severity)},
          {"path", d.path},
          {"file", d.location.file},
          {"line", d.location.line},
          {"column", d.location.column},
          {"message", d.message},
          {"hints", d.hints}};
}

// The checklist of SPEC §14, printed for a valid manifest.
std::vector<std::string> Checklist(const manifest::Manifest& m, bool strict) {
  std::vector<std::string> checks = {
      "Schema version: " + m.entrenar,
      "Required fields present",
      "Type validation passed (" + std::to_string(m.locations.size()) + " keys)",
      "Value constraints satisfied",
      "Cross-field dependencies valid",
  };
  checks.push_back("Supported by this engine");
  if (strict) checks.push_back("Locked file hashes match");
  return checks;
}

int RunValidate(const ValidateArgs& a) {
  manifest::LoadOptions options;
  options.overrides = a.overrides;
  manifest::LoadResult r = LoadManifestArg(a.file, options);
  std::vector<manifest::Diagnostic> diags = r.diagnostics;
  // What `train` and entrenard's Submit would refuse, refused here first, in the same pass.
  std::vector<manifest::Diagnostic> trainable, unsupported, lock;
  if (r.ok()) trainable = plan::CheckTrainable(*r.manifest);
  if (r.ok()) unsupported = plan::CheckSupport(*r.manifest);
  if (r.ok() && a.strict) lock = manifest::VerifyLock(*r.manifest, BaseDir(a.file));
  for (const auto* more : {&trainable, &unsupported, &lock}) {
    diags.insert(diags.end(), more->begin(), more->end());
  }
  const bool valid = r.ok() && !manifest::HasErrors(diags);
  // A right manifest that this engine does not run exits 3, as `train` does.
  const int refused = r.ok() && manifest::HasErrors(unsupported) &&
                              !manifest::HasErrors(trainable) && !manifest::HasErrors(lock)
                          ? kExitUnsupported
                          : kExitInvalid;
  if (a.json) {
    nlohmann::ordered_json out = {{"file", a.file}, {"valid", valid}};
    out["errors"] = nlohmann::ordered_json::array();
    out["warnings"] = nlohmann::ordered_json::array();
    out["notes"] = nlohmann::ordered_json::array();
    for (const auto& d : diags) {
      out[std::string(manifest::SeverityName(d.severity)) + "s"].push_back(DiagJson(d));
    }
    if (valid) out["checks"] = Checklist(*r.manifest, a.strict);
    if (valid && a.print_resolved) {
      out["resolved"] = nlohmann::ordered_json::parse(manifest::ToJson(*r.manifest));
    }
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return valid ? kExitOk : refused;
  }
  PrintDiagnostics(diags);
  if (!valid) return refused;
  if (a.print_resolved) {
    std::cout << manifest::ToYaml(*r.manifest);
    return kExitOk;
  }
  for (const std::string& c : Checklist(*r.manifest, a.strict)) std::cout << "✓ " << c << "\n";
  std::cout << "\nConfiguration is valid.\n";
  return kExitOk;
}

}  // namespace

void AddValidateCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* cmd = app.add_subcommand("validate", "Check a manifest against the entrenar 1.0 spec");
  cmd->add_option("FILE", args->file, "The manifest (- for standard input)")->required();
  cmd->add_option("--set", args->overrides, "Override a key: PATH=VALUE (repeatable)")
      ->allow_extra_args(false);
  cmd->add_flag("--json", args->json, "Print the result as JSON");
  cmd->add_flag("--print-resolved", args->print_resolved,
                "Print the resolved manifest (defaults filled, templates evaluated)");
  cmd->add_flag("--strict", args->strict, "Require a lock section whose file hashes still match");
  cmd->callback([args, exit_code] { *exit_code = RunValidate(*args); });
}

}  // namespace entrenar::cli
