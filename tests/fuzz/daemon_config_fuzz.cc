// entrenard's YAML config (/etc/entrenar/entrenard.yaml or a user's own). Properties: no crash;
// a config that loads passes Check; an error names the file.

#include <unistd.h>

#include <cstdio>
#include <string>

#include "entrenar/config/config.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::config;
  static const std::string path = "/tmp/entrenar-fuzz-config-" + std::to_string(getpid()) + ".yaml";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  Daemon c = Defaults(1000);
  const entrenar::Status s = LoadFile(path, &c);
  if (s.ok()) {
    FUZZ_CHECK(Check(c).ok());
  } else {
    FUZZ_CHECK(s.message().find(path) != std::string::npos);
  }
  return 0;
}
