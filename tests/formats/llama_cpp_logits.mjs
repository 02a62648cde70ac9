// Runs a GGUF model in llama.cpp (node-llama-cpp's prebuilt CPU build) as an independent check
// of entrenar's GGUF export: prints llama.cpp's tokens for TEXT and its next-token logits after
// each of IDS (a JSON array of token ids), as JSON {"tokens": [...], "logits": [[...], ...]}.
//
//   node llama_cpp_logits.mjs MODEL.gguf TEXT IDS_JSON
import {getLlama} from '../js/node_modules/node-llama-cpp/dist/index.js';

const [model_path, text, ids_json] = process.argv.slice(2);
const llama = await getLlama({gpu: false, build: 'never', logLevel: 'error'});
const model = await llama.loadModel({modelPath: model_path});
const tokens = model.tokenize(text, false);  // no special tokens added
const ids = JSON.parse(ids_json);
// A float32 key/value cache and no flash attention: llama.cpp's float32 path, as ours.
const context = await model.createContext({
  contextSize: 128,
  batchSize: 128,
  sequences: 1,
  flashAttention: false,
  experimentalKvCacheKeyType: 'F32',
  experimentalKvCacheValueType: 'F32',
});
const sequence = context.getSequence();
const input = ids.map((id) => [id, {generateNext: {logits: true}}]);
const results = await sequence.controlledEvaluate(input);
const logits = results.map((r) => {
  const row = new Array(r.next.logits.size).fill(null);
  for (const [token, value] of r.next.logits) row[token] = value;
  return row;
});
console.log(JSON.stringify({tokens: Array.from(tokens), logits}));
await context.dispose();
await model.dispose();
