#!/usr/bin/env node
/**
 * `npm run bench:env`: what the server's glibc settings cost and save. Starts
 * the server under each environment in turn (alternating, `--rounds` times),
 * with the bench's load (concurrency 1, then 16, on the 1920×1080 JPEG), and
 * prints concurrency-1 p50, its mean inference time per batch (the server's
 * own stage metric), concurrency-16 throughput and RSS 1 s after the load.
 *
 *   npm run bench:env -- [--precision int8|fp32] [--rounds 3] [--model F]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chooseModel, imageFile } from './inputs.mjs';
import { load, multipart, rssMb, startProcess, stats, stopProcess, workDir } from './lib.mjs';
import { SERVE_ENV } from './serve-env.mjs';

const argv = process.argv.slice(2);
const option = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const precision = option('--precision', 'int8');
const rounds = Number(option('--rounds', '3'));
const BIN = fileURLToPath(new URL('../dist/cli/bin.js', import.meta.url));

const { model, note } = await chooseModel(argv);
const photo = await imageFile('seed-landscape-1920x1080.jpg', 1920, 1080, workDir('rs-bench-env-'));
const body = multipart(readFileSync(photo));
const { MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES, ...withoutGlibc } = SERVE_ENV;
const variants = [
  ['as npm start sets it', SERVE_ENV],
  ['without huge pages', { ...withoutGlibc, MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ }],
  ['earlier: MALLOC_TRIM_THRESHOLD_=1048576 only', { ...withoutGlibc, MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD_: '1048576' }],
  [`MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX} only`, { ...withoutGlibc, MALLOC_ARENA_MAX }],
  ['no glibc variable', withoutGlibc],
  ['32 MB mmap threshold (a large model)', { ...SERVE_ENV, MALLOC_MMAP_THRESHOLD_: '33554432' }],
];
const glibcKeys = Object.keys(SERVE_ENV).filter((k) => k.startsWith('MALLOC_') || k.startsWith('GLIBC_'));

/** Mean seconds per observation of the infer stage between two /metrics texts. */
function inferMs(before, after) {
  const read = (text, kind) => Number(text.match(new RegExp(`^resnet_stage_duration_seconds_${kind}\\{stage="infer"\\} (\\S+)$`, 'm'))?.[1] ?? NaN);
  return ((read(after, 'sum') - read(before, 'sum')) / (read(after, 'count') - read(before, 'count'))) * 1000;
}

async function measure(env) {
  const port = 18100 + Math.floor(Math.random() * 800);
  const base = `http://127.0.0.1:${port}`;
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !glibcKeys.includes(k)));
  const { child } = await startProcess(process.execPath, [BIN, 'serve', '--port', String(port), '--model', model, '--precision', precision], { ...inherited, ...env }, async () => (await fetch(`${base}/readyz`)).status === 200);
  try {
    await load(`${base}/predict`, body, 2, 6);
    const before = await (await fetch(`${base}/metrics`)).text();
    const c1 = await load(`${base}/predict`, body, 1, 50);
    const after = await (await fetch(`${base}/metrics`)).text();
    const c16 = await load(`${base}/predict`, body, 16, 128);
    await new Promise((r) => setTimeout(r, 1000));
    return { c1: stats(c1.latencies).median, infer: inferMs(before, after), c16: c16.throughput, rss: rssMb(child.pid) };
  } finally {
    await stopProcess(child);
  }
}

console.log(`model: ${note}, ${precision}; ${rounds} rounds, environments alternating`);
const rows = new Map(variants.map(([name]) => [name, []]));
for (let round = 0; round < rounds; round++) {
  for (const [name, env] of variants) {
    const r = await measure(env);
    rows.get(name).push(r);
    console.log(`${name.padEnd(28)} c1 p50 ${r.c1.toFixed(1)} ms (infer ${r.infer.toFixed(1)} ms)  c16 ${r.c16.toFixed(1)} images/s  steady RSS ${r.rss.toFixed(0)} MB`);
  }
}
const range = (xs, d) => `${Math.min(...xs).toFixed(d)}–${Math.max(...xs).toFixed(d)}`;
console.log('\n| server environment | concurrency 1, p50 ms | inference per batch, ms | concurrency 16, images/s | steady RSS, MB |\n| --- | ---: | ---: | ---: | ---: |');
for (const [name, rs] of rows) console.log(`| ${name} | ${range(rs.map((r) => r.c1), 1)} | ${range(rs.map((r) => r.infer), 1)} | ${range(rs.map((r) => r.c16), 1)} | ${range(rs.map((r) => r.rss), 0)} |`);
