// Writes the benchmark's Parquet file with DuckDB: ROWS rows (default 3M, about 100 MB with
// zstd) of integers, doubles, a float, a dictionary-encoded label, a unique text and a list of
// token ids, in row groups of 122880 rows.   node make.mjs OUT.parquet [ROWS]
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../tests/js/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const [out, rows = '3000000'] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
await c.run(`COPY (SELECT i::BIGINT AS id, random() AS x1, random() * 100 AS x2,
    (random() * 10)::FLOAT AS x3, ['cat', 'dog', 'bird', 'fish'][i % 4 + 1] AS label,
    'sample ' || i || ' ' || md5(i::VARCHAR) AS text,
    [i % 32000, (i * 7) % 32000, (i * 13) % 32000]::INTEGER[] AS tokens
  FROM range(${Number(rows)}) r(i))
  TO '${out}' (FORMAT parquet, COMPRESSION zstd)`);
