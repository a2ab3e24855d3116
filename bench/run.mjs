#!/usr/bin/env node
/**
 * `npm run bench`: per-stage timings of the classification engine on the
 * seed's image kinds, medians and p90 over repeated runs after warm-up, plus
 * batch throughput. Writes bench/results/engine.json.
 *
 * Model: the cached official ResNet-18 when present, else
 * ../shared/reference/resnet18-seed0.pth, else a generated random-weight
 * ResNet-18 (same architecture, so the same compute). Images: the reference
 * seed images when ../shared exists, else generated JPEGs of the same sizes.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { ImageClassifier } from '../dist/classify/classifier.js';
import { decodeImage } from '../dist/image/decode.js';
import { OFFICIAL_CHECKPOINTS, defaultCacheDir, findCachedCheckpoint } from '../dist/model/weights.js';
import { REFERENCE_DIR } from '../dist/testing/shared.js';
import { writeRandomCheckpoint } from '../dist/testing/random-resnet.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 30);
const WARMUP = 3;

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p90: q(0.9), runs: s.length };
}

async function chooseModel() {
  if (process.argv[2]) return { model: process.argv[2], note: process.argv[2] };
  const official = findCachedCheckpoint(OFFICIAL_CHECKPOINTS.resnet18, defaultCacheDir());
  if (official) return { model: 'resnet18', note: `official ResNet-18 (${official})` };
  const seed = join(REFERENCE_DIR, 'resnet18-seed0.pth');
  if (existsSync(seed)) return { model: seed, note: 'reference ResNet-18 seed-0 (random weights, same compute)' };
  const { path } = await writeRandomCheckpoint('resnet18', 1);
  return { model: path, note: 'generated random-weight ResNet-18 (same compute)' };
}

async function image(name, width, height) {
  const file = join(REFERENCE_DIR, 'images', name);
  if (existsSync(file)) return readFileSync(file);
  const noise = Buffer.alloc(width * height * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  return sharp(noise, { raw: { width, height, channels: 3 } }).blur(3).jpeg({ quality: 90 }).toBuffer();
}

const { model, note } = await chooseModel();
const cacheDir = await mkdtemp(join(tmpdir(), 'rs-bench-'));
const classifier = await ImageClassifier.create({ model, cacheDir: model === 'resnet18' ? undefined : cacheDir });
const images = [
  ['landscape 1920x1080', await image('seed-landscape-1920x1080.jpg', 1920, 1080)],
  ['portrait 1200x1600', await image('seed-portrait-1200x1600.jpg', 1200, 1600)],
  ['close-up 800x600', await image('seed-closeup-800x600.jpg', 800, 600)],
  ['photo 4000x3000', await image('large-4000x3000.jpg', 4000, 3000)],
];

const pre = classifier.preprocessor;
const tensor = new Float32Array(pre.imageLength * 32);
const rows = [];
for (const [name, bytes] of images) {
  const t = { decode: [], preprocess: [], infer: [], postprocess: [], total: [] };
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const t0 = performance.now();
    const pixels = await decodeImage(bytes, pre.limits);
    const t1 = performance.now();
    pre.pixelsToTensor(pixels, tensor, 0);
    const t2 = performance.now();
    const logits = await classifier.model.session.run(tensor, 1);
    const t3 = performance.now();
    classifier.postprocess(logits, 0, { topK: 3, lang: 'en' });
    const t4 = performance.now();
    if (i < WARMUP) continue;
    t.decode.push(t1 - t0);
    t.preprocess.push(t2 - t1);
    t.infer.push(t3 - t2);
    t.postprocess.push(t4 - t3);
    t.total.push(t4 - t0);
  }
  rows.push({ image: name, ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, stats(v)])) });
}

const batches = [];
for (const n of [1, 8, 32]) {
  const times = [];
  for (let i = 0; i < 2 + Math.max(3, Math.round(RUNS / n)); i++) {
    const t0 = performance.now();
    await classifier.model.session.run(tensor, n);
    if (i >= 2) times.push(performance.now() - t0);
  }
  const s = stats(times);
  batches.push({ batch: n, median_ms: s.median, ms_per_image: s.median / n, images_per_s: (1000 * n) / s.median });
}
await classifier.close();

const f = (v) => v.toFixed(1).padStart(7);
console.log(`model: ${note}; ${classifier.info.threads} ONNX Runtime threads; ${RUNS} runs after ${WARMUP} warm-up\n`);
console.log('image                  stage        median     p90   (ms)');
for (const r of rows) {
  for (const stage of ['decode', 'preprocess', 'infer', 'postprocess', 'total']) {
    console.log(`${(stage === 'decode' ? r.image : '').padEnd(22)} ${stage.padEnd(11)} ${f(r[stage].median)} ${f(r[stage].p90)}`);
  }
}
console.log('\nbatch   median ms   ms/image   images/s');
for (const b of batches) console.log(`${String(b.batch).padStart(5)} ${f(b.median_ms)}     ${f(b.ms_per_image)}  ${f(b.images_per_s)}`);

mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/engine.json', import.meta.url), JSON.stringify({ date: new Date().toISOString(), model: note, threads: classifier.info.threads, runs: RUNS, stages: rows, batches }, null, 2));
console.log('\nwritten: bench/results/engine.json');
