// A registry entry (ROOT/KIND/NAME/VERSION.json: a shared registry is written by other users) and
// pacha:// references. The first byte picks the reader. Properties: no crash; an entry that
// parses names itself by a reference that parses, and only files whose names stay inside its
// snapshot folder with 64-hex-digit hashes; a reference that parses writes itself back.

#include <string>

#include "entrenar/registry/registry.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::registry;
  if (size == 0) return 0;
  const std::string text = entrenar::fuzz::AsString(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    entrenar::Result<Entry> e = ParseEntry(text, "entry.json");
    if (!e.ok()) {
      FUZZ_CHECK(e.status().code() == entrenar::StatusCode::kDataLoss);
      return 0;
    }
    FUZZ_CHECK(ParseRef(e->ref.ToString()).ok());
    for (const StoredFile& f : e->files) {
      FUZZ_CHECK(entrenar::fuzz::Inside(f.name));
      FUZZ_CHECK(f.sha256.size() == 64);
    }
    return 0;
  }
  entrenar::Result<Ref> ref = ParseRef(text);
  if (!ref.ok()) {
    FUZZ_CHECK(ref.status().code() == entrenar::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(ref->ToString() == text);
  FUZZ_CHECK(entrenar::fuzz::Inside(ref->name) && entrenar::fuzz::Inside(ref->version));
  return 0;
}
