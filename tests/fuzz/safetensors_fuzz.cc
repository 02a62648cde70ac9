// A safetensors file (model.source, checkpoints, LoRA adapters): header and data. Properties:
// no crash; every tensor decoded holds exactly its shape's bytes; what decodes encodes and
// decodes again to the same tensors.

#include <string>

#include "entrenar/formats/safetensors.h"

#include "fuzz.h"

ENTRENAR_FUZZ_TARGET {
  using namespace entrenar::formats;
  Result<Safetensors> st = DecodeSafetensors(entrenar::fuzz::AsString(data, size));
  if (!st.ok()) return 0;
  for (const Tensor& t : st->tensors) {
    FUZZ_CHECK(t.bytes.size() == static_cast<std::size_t>(t.NumElements()) * DTypeSize(t.dtype));
    if (t.dtype == DType::kF32) (void)F32Values(t);
  }
  Result<std::string> again = EncodeSafetensors(*st);
  if (!again.ok()) return 0;
  Result<Safetensors> reread = DecodeSafetensors(*again);
  FUZZ_CHECK(reread.ok());
  FUZZ_CHECK(reread->tensors.size() == st->tensors.size());
  for (const Tensor& t : st->tensors) {
    const Tensor* r = reread->Find(t.name);
    FUZZ_CHECK(r != nullptr && r->bytes == t.bytes && r->shape == t.shape && r->dtype == t.dtype);
  }
  return 0;
}
