// What an S3 store and a manifest say: a ListObjectsV2 page (XML) and s3:// URIs. The first byte
// picks the reader. Properties: no crash; every listed object has a key; a URI that parses has
// a valid bucket name and a key whose parts are names.

#include <cctype>
#include <string>

#include "entrenar/fetch/s3.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::fetch;
  if (size == 0) return 0;
  const std::string text = entrenar::fuzz::AsString(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    const S3ListPage page = ParseListPage(text);
    for (const S3Object& o : page.objects) FUZZ_CHECK(!o.key.empty());
    FUZZ_CHECK(page.objects.size() <= text.size());
    return 0;
  }
  Result<S3Uri> uri = ParseS3Uri(text);
  if (!uri.ok()) {
    FUZZ_CHECK(uri.status().code() == entrenar::StatusCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(uri->bucket.size() >= 3 && uri->bucket.size() <= 63);
  for (const char c : uri->bucket)
    FUZZ_CHECK(std::islower(static_cast<unsigned char>(c)) ||
               std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-');
  FUZZ_CHECK(uri->key.find("/../") == std::string::npos && uri->key.rfind("../", 0) != 0 &&
             uri->key.find("//") == std::string::npos);
  return 0;
}
