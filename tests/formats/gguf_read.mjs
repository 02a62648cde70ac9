// An independent GGUF reader for the format tests: @huggingface/gguf (npm, tests/js).
//   node gguf_read.mjs FILE   prints {"metadata": {...}, "tensors": [{name, shape, dtype, offset}]}
import { gguf } from '../js/node_modules/@huggingface/gguf/dist/index.mjs';

const { metadata, tensorInfos } = await gguf(process.argv[2], { allowLocalFile: true });
const plain = (v) => (typeof v === 'bigint' ? Number(v) : Array.isArray(v) ? v.map(plain) : v);
console.log(JSON.stringify({
  metadata: Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, plain(v)])),
  tensors: tensorInfos.map((t) => ({
    name: t.name, shape: t.shape.map(Number), dtype: t.dtype, offset: Number(t.offset),
  })),
}));
