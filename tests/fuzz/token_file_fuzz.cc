// entrenard's token file (`USER SHA256-HEX` per line), read at start-up and again whenever it
// changes. Properties: no crash; an error names the file (and the line, when a line is wrong);
// a file that loads finds no caller for a token whose hash it does not list.

#include <unistd.h>

#include <cstdio>
#include <string>

#include "entrenar/base/sha256.h"
#include "entrenar/service/tokens.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  static const std::string path = "/tmp/entrenar-fuzz-tokens-" + std::to_string(getpid()) + ".txt";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  entrenar::service::TokenFile tokens(path);
  const entrenar::Status s = tokens.Load();
  if (!s.ok()) {
    FUZZ_CHECK(s.message().find(path) != std::string::npos);
    return 0;
  }
  // "test" is the token whose hash the seed gives root.
  const std::string text = entrenar::fuzz::AsString(data, size);
  for (const std::string token : {"test", "another token"}) {
    const bool listed = text.find(entrenar::Sha256Hex(token)) != std::string::npos;
    if (!listed) FUZZ_CHECK(!tokens.Find(token).has_value());
  }
  return 0;
}
