// `entrenar registry ls / show / add`: the local pacha:// registry of models and data sets.
#include <iostream>
#include <map>
#include <memory>
#include <vector>

#include <CLI/CLI.hpp>

#include "entrenar/base/clock.h"
#include "entrenar/cli/cli.h"
#include "entrenar/registry/registry.h"

#include "commands.h"

namespace entrenar::cli {
namespace {

struct RegistryArgs {
  std::string root;
  std::string name;
  std::string ref;
  std::vector<std::string> paths;
  registry::Registry Open() const {
    return registry::Registry(root.empty() ? registry::DefaultRoot() : root);
  }
};

// NAME:VERSION (a model) or a pacha:// address.
Result<registry::Ref> ParseArg(const std::string& arg, const std::string& bare_kind) {
  return registry::ParseRef(registry::IsPachaUri(arg) ? arg : "pacha://" + bare_kind + "/" + arg);
}

std::string Score(const registry::Entry& e) {
  if (!e.quality_score) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s %.1f", e.quality_grade.c_str(), *e.quality_score);
  return buf;
}

int List(const RegistryArgs& a) {
  const registry::Registry reg = a.Open();
  Result<std::vector<registry::Entry>> entries = reg.List(a.name);
  if (!entries.ok()) {
    std::cerr << "error: " << entries.status().message() << "\n";
    return kExitIo;
  }
  if (entries->empty()) {
    std::cerr << "nothing" << (a.name.empty() ? "" : " named " + a.name) << " in " << reg.root()
              << "\n";
    return kExitOk;
  }
  std::printf("%-9s %-40s %-20s %-10s %s\n", "KIND", "NAME:VERSION", "CREATED", "QUALITY", "FILES");
  for (const registry::Entry& e : *entries) {
    std::printf("%-9s %-40s %-20s %-10s %zu\n", e.ref.KindName().c_str(),
                (e.ref.name + ":" + e.ref.version).c_str(), e.created.substr(0, 19).c_str(),
                Score(e).c_str(), e.files.size());
  }
  return kExitOk;
}

int Show(const RegistryArgs& a) {
  Result<registry::Ref> ref = ParseArg(a.ref, "models");
  if (!ref.ok()) {
    std::cerr << "error: " << ref.status().message() << "\n";
    return kExitUsage;
  }
  const registry::Registry reg = a.Open();
  Result<registry::Entry> e = reg.Get(*ref);
  if (!e.ok()) {
    std::cerr << "error: " << e.status().message() << "\n";
    return kExitRefused;
  }
  std::cout << e->ref.ToString() << "\ncreated:  " << e->created;
  if (!e->run_dir.empty()) std::cout << "\nrun:      " << e->run_dir;
  if (e->quality_score) std::cout << "\nquality:  " << Score(*e);
  std::cout << "\nfiles:\n";
  for (const registry::StoredFile& f : e->files) {
    std::printf("  %-22s %10lld  %s\n", f.name.c_str(), static_cast<long long>(f.size),
                reg.BlobPath(f.sha256).c_str());
  }
  if (!e->metrics.empty()) std::cout << "metrics:\n";
  for (const auto& [k, v] : e->metrics) std::printf("  %-22s %.6g\n", k.c_str(), v);
  return kExitOk;
}

int Add(const RegistryArgs& a) {
  Result<registry::Ref> ref = ParseArg(a.ref, "datasets");
  if (!ref.ok()) {
    std::cerr << "error: " << ref.status().message() << "\n";
    return kExitUsage;
  }
  Result<std::map<std::string, std::string>> files = registry::FilesToAdd(a.paths);
  if (!files.ok()) {
    std::cerr << "error: " << files.status().message() << "\n";
    return files.status().code() == StatusCode::kNotFound ? kExitIo : kExitUsage;
  }
  registry::Registry reg = a.Open();
  registry::Entry entry;
  entry.ref = *ref;
  entry.created = NowUtcIso();
  const Status added = reg.Publish(entry, *files);
  if (!added.ok()) {
    std::cerr << "error: " << added.message() << "\n";
    return added.code() == StatusCode::kAlreadyExists ? kExitRefused : kExitIo;
  }
  std::cout << "added " << ref->ToString() << " (" << files->size() << " file"
            << (files->size() == 1 ? "" : "s") << ", " << reg.root() << ")\n";
  return kExitOk;
}

}  // namespace

void AddRegistryCommands(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RegistryArgs>();
  CLI::App* reg = app.add_subcommand(
      "registry", "The local registry of models and data sets (pacha://models/..., datasets/...)");
  reg->require_subcommand(1);
  reg->add_option("--root", args->root,
                  "The registry directory (default $ENTRENAR_REGISTRY, else "
                  "~/.local/share/entrenar/registry)");
  CLI::App* ls = reg->add_subcommand("ls", "List published models");
  ls->add_option("NAME", args->name, "Only this name's versions");
  ls->callback([args, exit_code] { *exit_code = List(*args); });
  CLI::App* show = reg->add_subcommand("show", "One version: its files, metrics, quality");
  show->add_option("REF", args->ref, "NAME:VERSION (a model) or pacha://KIND/NAME:VERSION")
      ->required();
  show->callback([args, exit_code] { *exit_code = Show(*args); });
  CLI::App* add = reg->add_subcommand(
      "add",
      "Add a data set (or a model folder) as an immutable version, for data.source: "
      "pacha://datasets/NAME:VERSION");
  add->add_option("REF", args->ref, "NAME:VERSION (a data set) or pacha://KIND/NAME:VERSION")
      ->required();
  add->add_option("PATHS", args->paths, "Files, and folders whose files are added by their paths")
      ->required();
  add->callback([args, exit_code] { *exit_code = Add(*args); });
}

}  // namespace entrenar::cli
