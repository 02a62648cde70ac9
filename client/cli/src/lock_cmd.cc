#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "entrenar/cli/cli.h"
#include "entrenar/fetch/localize.h"
#include "entrenar/manifest/load.h"
#include "entrenar/manifest/lock.h"

#include "commands.h"

namespace entrenar::cli {

namespace {

// The directory the lock file will lie in ("." rather than "").
std::string LockDirectory(const std::string& out, const std::string& manifest_dir) {
  std::string dir = manifest_dir;
  if (out != "-") {
    dir = std::filesystem::path(out).parent_path().string();
  } else if (struct stat st; fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode)) {
    std::error_code ec;
    const std::filesystem::path file = std::filesystem::read_symlink("/proc/self/fd/1", ec);
    if (!ec && file.is_absolute()) dir = file.parent_path().string();
  }
  return dir.empty() ? "." : dir;
}

}  // namespace

void AddLockCommand(CLI::App& app, int* exit_code) {
  struct Args {
    std::string file;
    std::vector<std::string> overrides;
    std::string out = "-";
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "lock", "Print the resolved manifest with the hashes of its files (§15.2)");
  cmd->add_option("FILE", args->file, "The manifest")->required();
  cmd->add_option("--set", args->overrides, "Override a key: PATH=VALUE (repeatable)");
  cmd->add_option("--output,-o", args->out, "Write to this file instead of standard output");
  cmd->callback([args, exit_code] {
    manifest::LoadOptions options;
    options.overrides = args->overrides;
    manifest::LoadResult r = LoadManifestArg(args->file, options);
    PrintDiagnostics(r.diagnostics);
    if (!r.ok()) {
      *exit_code = kExitInvalid;
      return;
    }
    // Relative paths stay relative, to where the lock lies: its -o directory, the directory of
    // the file standard output was redirected to (`entrenar lock x.yaml > x.lock.yaml`), or,
    // on a pipe, the manifest's.
    const std::string dir = LockDirectory(args->out, BaseDir(args->file));
    // hf:// sources are pinned to their commits: the lock trains what was locked.
    Result<manifest::Manifest> pinned =
        fetch::PinRevisions(*r.manifest, fetch::HubSettings::FromEnvironment());
    if (!pinned.ok()) {
      std::cerr << "error: " << pinned.status().message() << "\n";
      *exit_code = pinned.status().code() == StatusCode::kUnavailable ? kExitIo : kExitInvalid;
      return;
    }
    Result<std::string> lock =
        manifest::MakeLock(manifest::Rebased(*pinned, BaseDir(args->file), dir), dir);
    if (!lock.ok()) {
      std::cerr << "error: " << lock.status().message() << "\n";
      *exit_code = kExitIo;
      return;
    }
    *exit_code = WriteOutput(args->out, lock.value()) ? kExitOk : kExitIo;
  });
}

}  // namespace entrenar::cli
