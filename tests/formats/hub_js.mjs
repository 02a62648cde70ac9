// An independent Hugging Face Hub client for the cache tests: @huggingface/hub (npm, pinned in
// tests/js/package.json).
//   node hub_js.mjs download ENDPOINT CACHE_DIR REPO REVISION FILE...   prints the cached paths
//   node hub_js.mjs scan CACHE_DIR    prints what scanCacheDir finds: repositories, their type,
//                                     revisions with refs, files with their blobs' sizes
// REPO is ORG/NAME for a model, datasets/ORG/NAME for a data set.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../js/package.json', import.meta.url));
const hub = require('@huggingface/hub');
console.debug = (...a) => console.error(...a);  // its progress notes, off standard output

const [command, ...rest] = process.argv.slice(2);
if (command === 'download') {
  const [hubUrl, cacheDir, repo, revision, ...files] = rest;
  const name = repo.startsWith('datasets/') ? repo.slice(9) : repo;
  const type = repo.startsWith('datasets/') ? 'dataset' : 'model';
  const paths = [];
  for (const path of files) {
    paths.push(await hub.downloadFileToCacheDir({
      repo: { type, name }, path, revision, hubUrl, cacheDir, xet: false,
    }));
  }
  console.log(JSON.stringify(paths));
} else if (command === 'scan') {
  const result = await hub.scanCacheDir(rest[0]);
  console.log(JSON.stringify({
    warnings: result.warnings.map(String),
    repos: result.repos.map((r) => ({
      name: r.id.name,
      type: r.id.type,
      revisions: r.revisions.map((v) => ({
        commit: v.commitOid,
        refs: v.refs,
        files: v.files.map((f) => ({ name: f.path.slice(v.path.length + 1), size: f.blob.size })),
      })),
    })),
  }));
} else {
  console.error('usage: hub_js.mjs download|scan ...');
  process.exit(2);
}
