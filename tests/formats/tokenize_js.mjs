// The reference tokenizer for the tokenizer tests: @huggingface/tokenizers (npm, tests/js).
//   node tokenize_js.mjs TOKENIZER.json TEXTS.json   prints [[ids of text 0], [ids of text 1], ...]
import { readFileSync } from 'node:fs';
import { Tokenizer } from '../js/node_modules/@huggingface/tokenizers/dist/tokenizers.mjs';

const tokenizer = new Tokenizer(JSON.parse(readFileSync(process.argv[2], 'utf8')), {});
const texts = JSON.parse(readFileSync(process.argv[3], 'utf8'));
console.log(JSON.stringify(texts.map((t) => tokenizer.encode(t, { add_special_tokens: false }).ids)));
