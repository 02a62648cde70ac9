// `entrenar registry ls / show`: the local pacha:// model registry.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "entrenar/cli/cli.h"
#include "entrenar/registry/registry.h"

#include "commands.h"

namespace entrenar::cli {
namespace {

struct RegistryArgs {
  std::string root;
  std::string name;
  std::string ref;
};

std::string Score(const registry::Entry& e) {
  if (!e.quality_score) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s %.1f", e.quality_grade.c_str(), *e.quality_score);
  return buf;
}

int List(const RegistryArgs& a) {
  const registry::Registry reg(a.root.empty() ? registry::DefaultRoot() : a.root);
  Result<std::vector<registry::Entry>> entries = reg.List(a.name);
  if (!entries.ok()) {
    std::cerr << "error: " << entries.status().message() << "\n";
    return kExitIo;
  }
  if (entries->empty()) {
    std::cerr << "no models" << (a.name.empty() ? "" : " named " + a.name) << " in " << reg.root()
              << "\n";
    return kExitOk;
  }
  std::printf("%-40s %-20s %-10s %s\n", "MODEL", "CREATED", "QUALITY", "FILES");
  for (const registry::Entry& e : *entries) {
    std::printf("%-40s %-20s %-10s %zu\n", (e.ref.name + ":" + e.ref.version).c_str(),
                e.created.substr(0, 19).c_str(), Score(e).c_str(), e.files.size());
  }
  return kExitOk;
}

int Show(const RegistryArgs& a) {
  const std::string text =
      a.ref.rfind("pacha://", 0) == 0 ? a.ref : "pacha://models/" + a.ref;  // NAME:VERSION
  Result<registry::ModelRef> ref = registry::ParseModelRef(text);
  if (!ref.ok()) {
    std::cerr << "error: " << ref.status().message() << "\n";
    return kExitUsage;
  }
  const registry::Registry reg(a.root.empty() ? registry::DefaultRoot() : a.root);
  Result<registry::Entry> e = reg.Get(*ref);
  if (!e.ok()) {
    std::cerr << "error: " << e.status().message() << "\n";
    return kExitRefused;
  }
  std::cout << e->ref.ToString() << "\ncreated:  " << e->created << "\nrun:      " << e->run_dir
            << "\nquality:  " << Score(*e) << "\nfiles:\n";
  for (const registry::StoredFile& f : e->files) {
    std::printf("  %-22s %10lld  %s\n", f.name.c_str(), static_cast<long long>(f.size),
                reg.BlobPath(f.sha256).c_str());
  }
  if (!e->metrics.empty()) std::cout << "metrics:\n";
  for (const auto& [k, v] : e->metrics) std::printf("  %-22s %.6g\n", k.c_str(), v);
  return kExitOk;
}

}  // namespace

void AddRegistryCommands(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RegistryArgs>();
  CLI::App* reg = app.add_subcommand("registry", "The local model registry (pacha://models/...)");
  reg->require_subcommand(1);
  reg->add_option("--root", args->root,
                  "The registry directory (default $ENTRENAR_REGISTRY, else "
                  "~/.local/share/entrenar/registry)");
  CLI::App* ls = reg->add_subcommand("ls", "List published models");
  ls->add_option("NAME", args->name, "Only this model's versions");
  ls->callback([args, exit_code] { *exit_code = List(*args); });
  CLI::App* show = reg->add_subcommand("show", "One model version: its files, metrics, quality");
  show->add_option("MODEL", args->ref, "NAME:VERSION or pacha://models/NAME:VERSION")->required();
  show->callback([args, exit_code] { *exit_code = Show(*args); });
}

}  // namespace entrenar::cli
