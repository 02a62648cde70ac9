// An independent Parquet writer for the reader's tests: DuckDB (npm @duckdb/node-api, pinned in
// tests/js/package.json).
//   node parquet_duckdb.mjs OUTDIR [ROWS]
// writes one file per codec (uncompressed, snappy, gzip, zstd) and data page version (v1, v2) as
// OUTDIR/CODEC_VERSION.parquet, all from one table: integers of several widths, floats and doubles,
// booleans, dictionary-friendly and unique strings (UTF-8 beyond ASCII, empty ones), dates,
// timestamps, decimals, lists of integers (null lists, empty lists, null elements) and a struct
// {bytes, path} as the Hugging Face Hub stores images, with nulls in most columns and several row
// groups. Prints {"files": [{name, encodings}], "rows": [...]}: what DuckDB reports it used, and
// every cell of the table as JSON (dates as days and timestamps as microseconds since 1970,
// decimals as numbers, bytes as hex).
import { createRequire } from 'node:module';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const out = process.argv[2];
const rows = Number(process.argv[3] ?? 5000);
const db = await DuckDBInstance.create(':memory:', { threads: '1' });
const c = await db.connect();
await c.run(`CREATE TABLE t AS SELECT
  i::BIGINT AS id,
  CASE WHEN i % 7 = 3 THEN NULL ELSE (i * 37 % 1000 - 500)::INTEGER END AS i32,
  (i % 200 - 100)::TINYINT AS i8,
  (i * 13 % 60000 - 30000)::SMALLINT AS i16,
  CASE WHEN i % 11 = 5 THEN NULL ELSE (i / 8)::FLOAT END AS f32,
  CASE WHEN i % 5 = 0 THEN NULL ELSE sin(i) * 1000 END AS f64,
  CASE WHEN i % 29 = 1 THEN NULL ELSE i % 3 = 0 END AS flag,
  CASE WHEN i % 13 = 0 THEN NULL
       ELSE ['setosa', 'versicolor', 'virginica', 'ñandú 🌵', ''][i % 5 + 1] END AS species,
  'row-' || i || '-' || md5(i::VARCHAR) AS uniq,
  DATE '2020-01-01' + (i % 1000)::INTEGER AS day,
  TIMESTAMP '2021-06-01 12:00:00' + to_microseconds(i * 1234567) AS ts,
  (i * 3 % 100000 / 100)::DECIMAL(10, 2) AS price,
  CASE WHEN i % 17 = 0 THEN NULL WHEN i % 19 = 0 THEN []
       ELSE [i % 50, CASE WHEN i % 23 = 0 THEN NULL ELSE i % 7 END, i % 1000] END::INTEGER[] AS tokens,
  {'bytes': CASE WHEN i % 31 = 0 THEN NULL ELSE ('\\x89PNG\\x00' || i)::BLOB END,
   'path': 'img/' || i || '.png'} AS image
FROM range(${rows}) r(i)`);

const files = [];
for (const codec of ['uncompressed', 'snappy', 'gzip', 'zstd']) {
  for (const version of ['v1', 'v2']) {
    const name = `${codec}_${version}.parquet`;
    await c.run(`COPY t TO '${out}/${name}' (FORMAT parquet, COMPRESSION ${codec},
                 PARQUET_VERSION ${version.toUpperCase()}, ROW_GROUP_SIZE 2048)`);
    const meta = await c.runAndReadAll(
      `SELECT DISTINCT encodings FROM parquet_metadata('${out}/${name}')`);
    const encodings = new Set();
    for (const r of meta.getRowObjectsJS()) {
      for (const e of String(r.encodings).split(',')) encodings.add(e.trim());
    }
    files.push({ name, encodings: [...encodings].sort() });
  }
}

const cells = await c.runAndReadAll(`SELECT id, i32, i8, i16, f32::DOUBLE AS f32, f64, flag,
  species, uniq, (day - DATE '1970-01-01')::BIGINT AS day, epoch_us(ts) AS ts,
  price::DOUBLE AS price, tokens, hex(image.bytes) AS image_bytes, image.path AS image_path
  FROM t ORDER BY id`);
const plain = (v) => (typeof v === 'bigint' ? Number(v) : Array.isArray(v) ? v.map(plain) : v);
console.log(JSON.stringify({
  files,
  rows: cells.getRowObjectsJS().map((r) => Object.fromEntries(
    Object.entries(r).map(([k, v]) => [k, plain(v)]))),
}));
