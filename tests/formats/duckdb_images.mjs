// A folder of class folders of images as the Hugging Face Hub's image data sets keep them: a
// Parquet file (DuckDB, npm @duckdb/node-api, pinned in tests/js) of rows {image: {bytes, path},
// label}, the label the class folder's name as an integer, rows in file name order; with
// `plain`, the image column is the file's bytes alone (a BLOB):
//   node duckdb_images.mjs FOLDER OUT.parquet [plain]
import { createRequire } from 'node:module';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const [folder, output, plain] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: '1' });
const c = await db.connect();
const quote = (s) => `'${s.replaceAll("'", "''")}'`;
await c.run(`COPY (
  SELECT ${plain ? 'content' : "{'bytes': content, 'path': parse_filename(filename)}"} AS image,
         CAST(regexp_extract(filename, '/([0-9]+)/[^/]+$', 1) AS INTEGER) AS label
  FROM read_blob(${quote(folder + '/*/*.png')}) ORDER BY filename)
  TO ${quote(output)} (FORMAT parquet, COMPRESSION zstd)`);
