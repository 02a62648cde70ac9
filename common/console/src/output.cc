#include "entrenar/console/output.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include <CLI/CLI.hpp>

#include "entrenar/base/files.h"
#include "entrenar/console/exit_codes.h"

namespace entrenar::console {

void PrintDiagnostics(const std::vector<manifest::Diagnostic>& diags) {
  const bool color = isatty(STDERR_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr;
  int errors = 0, warnings = 0;
  for (const manifest::Diagnostic& d : diags) {
    std::string text = manifest::FormatDiagnostic(d);
    if (color) {
      const std::string word = std::string(manifest::SeverityName(d.severity)) + ":";
      const char* paint = d.severity == manifest::Severity::kError     ? "\033[1;31m"
                          : d.severity == manifest::Severity::kWarning ? "\033[1;33m"
                                                                       : "\033[1;36m";
      const std::string painted = paint + word + "\033[0m";
      const std::size_t at = text.find(word);
      if (at != std::string::npos) text.replace(at, word.size(), painted);
    }
    std::cerr << text << "\n";
    if (d.severity == manifest::Severity::kError) ++errors;
    if (d.severity == manifest::Severity::kWarning) ++warnings;
  }
  if (errors > 0) {
    std::cerr << errors << (errors == 1 ? " error" : " errors");
    if (warnings > 0) std::cerr << ", " << warnings << (warnings == 1 ? " warning" : " warnings");
    std::cerr << "\n";
  }
}

bool WriteOutput(const std::string& path, const std::string& text) {
  if (path == "-" || path.empty()) {
    std::cout << text;
    std::cout.flush();
    return static_cast<bool>(std::cout);
  }
  const Status written = WriteFileAtomic(path, text);
  if (!written.ok()) {
    std::cerr << "error: " << written.message() << "\n";
    return false;
  }
  return true;
}

std::string BaseDir(const std::string& manifest_path) {
  const std::filesystem::path p(manifest_path);
  return p.has_parent_path() ? p.parent_path().string() : ".";
}

manifest::LoadResult LoadManifestArg(const std::string& file,
                                     const manifest::LoadOptions& options) {
  if (file == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return manifest::LoadText(text, "<stdin>", options);
  }
  return manifest::LoadFile(file, options);
}

int ParseAndRun(CLI::App& app, int argc, char** argv, const int& exit_code) {
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

}  // namespace entrenar::console
