// Converts a data file to Parquet with DuckDB (npm @duckdb/node-api, pinned in tests/js), as a
// user would before training on it:
//   node duckdb_copy.mjs IN.csv|IN.jsonl OUT.parquet [CODEC [V1|V2 [ROW_GROUP_SIZE]]]
import { createRequire } from 'node:module';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const [input, output, codec = 'zstd', version = 'V2', groups = '122880'] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: '1' });
const c = await db.connect();
const quote = (s) => `'${s.replaceAll("'", "''")}'`;
await c.run(`COPY (SELECT * FROM ${quote(input)}) TO ${quote(output)}
             (FORMAT parquet, COMPRESSION ${codec}, PARQUET_VERSION ${version},
              ROW_GROUP_SIZE ${Number(groups)})`);
