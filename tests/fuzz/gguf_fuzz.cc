// A GGUF file (model.source `.gguf`): typed metadata, tensor infos and data. Properties: no
// crash; each tensor's data decodes to its element count; what decodes encodes and decodes
// again to the same tensors.

#include <string>

#include "entrenar/formats/gguf.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::formats;
  Result<Gguf> g = DecodeGguf(entrenar::fuzz::AsString(data, size));
  if (!g.ok()) return 0;
  for (const GgufTensor& t : g->tensors) {
    Result<std::vector<float>> values = DecodeGgml(t.data, t.type, t.NumElements());
    if (values.ok()) FUZZ_CHECK(values->size() == static_cast<std::size_t>(t.NumElements()));
  }
  Result<std::string> again = EncodeGguf(*g);
  if (!again.ok()) return 0;
  Result<Gguf> reread = DecodeGguf(*again);
  FUZZ_CHECK(reread.ok());
  FUZZ_CHECK(reread->tensors.size() == g->tensors.size());
  for (const GgufTensor& t : g->tensors) {
    const GgufTensor* r = reread->FindTensor(t.name);
    FUZZ_CHECK(r != nullptr && r->data == t.data && r->shape == t.shape && r->type == t.type);
  }
  return 0;
}
