#!/usr/bin/env node
/**
 * `npm run bench:vectors`: look-alike queries at 1,000 and 100,000 photos
 * (synthetic 512-d embeddings, as ResNet-18 gives), our brute force (int8 in
 * ONNX Runtime, `src/library/similarity.ts`) against sqlite-vec (vec0 tables
 * in the same SQLite file, float32 and int8). Median of 9 queries, top 12.
 * The choice of `similarity.ts` rests on these numbers.
 */
import { createRequire } from 'node:module';
import { VectorMatrix } from '../dist/library/similarity.js';
import { unitInt8Bytes } from '../dist/heads/vectors.js';

const require = createRequire(import.meta.url);
const Database = require('better-sqlite3');
let sqliteVec = null;
try {
  sqliteVec = await import('sqlite-vec');
} catch {
  console.log('sqlite-vec is not installed (npm install --save-dev sqlite-vec): brute force only');
}
const D = 512;
const K = 12;
let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
const unit = () => {
  const v = Float32Array.from({ length: D }, () => rand() * 2 - 1);
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn) {
  await fn();
  const ts = [];
  for (let i = 0; i < 9; i++) {
    const t = performance.now();
    await fn();
    ts.push(performance.now() - t);
  }
  return median(ts);
}

const rows = [];
for (const n of [1_000, 100_000]) {
  const vectors = Array.from({ length: n }, unit);
  const query = vectors[3];
  const matrix = VectorMatrix.fromStored(vectors.map((v) => unitInt8Bytes(v)));
  const row = { photos: n, 'ours (int8, ONNX Runtime)': await time(() => matrix.nearest(3, K)), 'memory (MB)': (n * (D + 4)) / 1e6 };
  if (sqliteVec) {
    const db = new Database(':memory:');
    sqliteVec.load(db);
    db.exec(`CREATE VIRTUAL TABLE vf USING vec0(embedding float[${D}] distance_metric=cosine); CREATE VIRTUAL TABLE v8 USING vec0(embedding int8[${D}] distance_metric=cosine)`);
    const insF = db.prepare('INSERT INTO vf(rowid, embedding) VALUES (?, ?)');
    const ins8 = db.prepare('INSERT INTO v8(rowid, embedding) VALUES (?, vec_int8(?))');
    db.transaction(() => vectors.forEach((v, i) => {
      insF.run(BigInt(i + 1), Buffer.from(v.buffer));
      ins8.run(BigInt(i + 1), unitInt8Bytes(v).subarray(4));
    }))();
    const qf = db.prepare(`SELECT rowid, distance FROM vf WHERE embedding MATCH ? AND k = ${K}`);
    const q8 = db.prepare(`SELECT rowid, distance FROM v8 WHERE embedding MATCH vec_int8(?) AND k = ${K}`);
    row['sqlite-vec float32'] = await time(() => qf.all(Buffer.from(query.buffer)));
    row['sqlite-vec int8'] = await time(() => q8.all(unitInt8Bytes(query).subarray(4)));
    db.close();
  }
  rows.push(row);
}
const cols = Object.keys(rows[0]);
console.log(`\nQuery time (ms, median of 9, top ${K}) on this machine:\n`);
console.log(`| ${cols.join(' | ')} |\n| ${cols.map(() => '---:').join(' | ')} |`);
for (const r of rows) console.log(`| ${cols.map((c) => (typeof r[c] === 'number' && c !== 'photos' ? r[c].toFixed(c.startsWith('memory') ? 0 : 1) : r[c])).join(' | ')} |`);
