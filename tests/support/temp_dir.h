#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace entrenar::testing {

// A fresh directory under /tmp, removed with everything in it when the object goes away.
struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/entrenar_test_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

}  // namespace entrenar::testing
