// An independent Parquet reader for the format tests: hyparquet (npm, tests/js/package.json).
//   node parquet_read.mjs FILE   prints {"schema": [{name, type, repetition}], "rows": [{...}]}
import { readFileSync } from 'node:fs';
import { parquetMetadata, parquetReadObjects } from '../js/node_modules/hyparquet/src/index.js';

const bytes = readFileSync(process.argv[2]);
const file = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
const meta = parquetMetadata(file);
const rows = await parquetReadObjects({ file });
const plain = (v) => (typeof v === 'bigint' ? Number(v) : v);
console.log(JSON.stringify({
  num_rows: Number(meta.num_rows),
  schema: meta.schema.slice(1).map((s) => ({ name: s.name, type: s.type, repetition: s.repetition_type })),
  rows: rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, plain(v)]))),
}));
