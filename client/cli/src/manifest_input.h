#pragma once

#include <iostream>
#include <iterator>
#include <string>

#include "entrenar/manifest/load.h"

namespace entrenar::cli {

// Loads FILE, or standard input when FILE is "-".
inline manifest::LoadResult LoadManifestArg(const std::string& file,
                                            const manifest::LoadOptions& options) {
  if (file == "-") {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    return manifest::LoadText(text, "<stdin>", options);
  }
  return manifest::LoadFile(file, options);
}

}  // namespace entrenar::cli
