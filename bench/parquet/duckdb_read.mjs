// DuckDB (npm @duckdb/node-api, pinned in tests/js) reading a Parquet file into a table of its
// own, one thread, best of RUNS:  node duckdb_read.mjs FILE [RUNS] [COLUMN...]
import { createRequire } from 'node:module';
import { statSync } from 'node:fs';

const require = createRequire(new URL('../../tests/js/package.json', import.meta.url));
const { DuckDBInstance } = require('@duckdb/node-api');

const [file, runs = '3', ...columns] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: '1' });
const c = await db.connect();
const list = columns.length ? columns.map((n) => `"${n}"`).join(', ') : '*';
let best = Infinity;
for (let r = 0; r < Number(runs); ++r) {
  await c.run('DROP TABLE IF EXISTS t');
  const t0 = process.hrtime.bigint();
  await c.run(`CREATE TABLE t AS SELECT ${list} FROM read_parquet('${file}')`);
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
}
const mb = statSync(file).size / 1e6;
console.log(`duckdb:   ${best.toFixed(3)} s (${(mb / best).toFixed(0)} MB/s of file), one thread`);
