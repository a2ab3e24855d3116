#!/usr/bin/env node
/**
 * `npm run bench`: how fast resnet-serve is, and how that compares with the
 * seed's own stack (PyTorch + PIL + torchvision + Flask) on the same machine
 * in the same run. Prints tables; writes bench/results/bench.json and two SVG
 * charts. Medians and ratios, never one absolute time: machines are noisy.
 *
 *   npm run bench                 full run (≥ 30 timed runs per stage)
 *   npm run bench -- --quick      fewer runs, for a smoke test
 *   npm run bench -- --model F    another .pth/.onnx (default: cached official
 *                                 ResNet-18, else ../shared's seed-0, else a
 *                                 generated one: same architecture, same compute)
 * Inference in the bench's own process runs with the server's glibc settings
 * (`serve-env.mjs`), as it is served; the seed's Python without them.
 * The seed side runs when Python has torch and torchvision (Debian:
 * apt-get install python3-torchvision python3-flask); $BENCH_PYTHON picks the
 * interpreter (default /usr/bin/python3, then python3).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { InferenceBatcher } from '../dist/classify/batcher.js';
import { rankLogits } from '../dist/classify/answer.js';
import { decodeImage } from '../dist/image/decode.js';
import { normalizationTables, writeNormalizedCHW } from '../dist/image/normalize.js';
import { Preprocessor } from '../dist/image/preprocess.js';
import { resizeBilinearWindow } from '../dist/image/resample.js';
import { loadModel } from '../dist/model/load-model.js';
import { SHARED_DIR } from '../dist/testing/shared.js';
import { chooseModel, imageFile } from './inputs.mjs';
import { lineChartSvg, load, multipart, rssMb, sampleRss, stackedBarsSvg, startProcess, stats, stopProcess, workDir } from './lib.mjs';
import { MACS, measurePeaks } from './peaks.mjs';
import { SERVE_ENV } from './serve-env.mjs';

// ONNX Runtime in this process allocates as the server's does: glibc reads its settings at start, so the bench
// runs itself again with them. Children get them only where given (the server); the seed's Python runs as it ships.
const GLIBC_ENV = Object.fromEntries(Object.entries(SERVE_ENV).filter(([k]) => /^(MALLOC|GLIBC)_/.test(k)));
if (Object.entries(GLIBC_ENV).some(([k, v]) => process.env[k] !== v)) {
  const { status } = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit', env: { ...process.env, ...GLIBC_ENV } });
  process.exit(status ?? 1);
}
for (const k of Object.keys(GLIBC_ENV)) delete process.env[k];

const argv = process.argv.slice(2);
const QUICK = argv.includes('--quick');
const RUNS = QUICK ? 8 : 30;
const WARMUP = 3;
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'dist/cli/bin.js');
const OUT = join(ROOT, 'bench/results');
const log = (...a) => console.log(...a);

function findPython() {
  for (const py of [process.env.BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean)) {
    try {
      execFileSync(py, ['-c', 'import torch, torchvision, PIL'], { stdio: 'ignore' });
      return py;
    } catch {
      // try the next one
    }
  }
  return null;
}

/** bench/peak.c compiled with the machine's C compiler, else ONNX Runtime's own GEMM kernels. */
async function cpuPeaks(threads) {
  const exe = join(workDir('rs-peak-'), 'peak');
  try {
    execFileSync(process.env.CC ?? 'cc', ['-O2', '-mavx2', '-mfma', '-pthread', join(ROOT, 'bench/peak.c'), '-o', exe], { stdio: 'ignore' });
    const peaks = JSON.parse(execFileSync(exe, [String(threads)], { encoding: 'utf8' }));
    return { how: `${peaks.fp32Isa} and ${peaks.int8Isa} multiply-add loops, bench/peak.c`, fp32: peaks.fp32, int8: peaks.int8 };
  } catch {
    return { how: "ONNX Runtime's 1024³ GEMM (no C compiler, or not x86-64 with AVX2)", ...(await measurePeaks(threads)) };
  }
}

const round = (v, d = 1) => (Number.isFinite(v) ? Number(v.toFixed(d)) : null);
const fmt = (v, w = 7) => (v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(1)).padStart(w);

// ---------------------------------------------------------------------------
const started = new Date();
const { model, pth, note } = await chooseModel(argv);
const work = workDir('rs-bench-');
const cacheDir = model === 'resnet18' ? defaultCacheDir() : join(work, 'cache');
const kinds = [
  { name: 'landscape 1920x1080', path: await imageFile('seed-landscape-1920x1080.jpg', 1920, 1080, work) },
  { name: 'portrait 1200x1600', path: await imageFile('seed-portrait-1200x1600.jpg', 1200, 1600, work) },
  { name: 'close-up 800x600', path: await imageFile('seed-closeup-800x600.jpg', 800, 600, work) },
  { name: 'photo 4000x3000', path: await imageFile('large-4000x3000.jpg', 4000, 3000, work) },
];
const loaded = await loadModel({ model, cacheDir });
const threads = loaded.info.threads;
log(`resnet-serve bench, ${started.toISOString()}: ${note}; ${threads} inference threads; ${RUNS} timed runs after ${WARMUP} warm-up\n`);

// 0. This CPU's multiply-add peak, measured now (bench/peak.c when a C compiler is there, else ONNX Runtime's GEMM).
const peaks = await cpuPeaks(threads);
log(`Multiply-add peak with ${threads} threads (${peaks.how}): fp32 ${(peaks.fp32 / 1e9).toFixed(1)} G/s, int8 ${(peaks.int8 / 1e9).toFixed(1)} G/s`);
const floorMs = (macs, precision) => (macs / peaks[precision]) * 1000;
log(`ResNet-18 (1.82 G multiply-adds) floor: fp32 ${floorMs(MACS.resnet18, 'fp32').toFixed(1)} ms, int8 ${floorMs(MACS.resnet18, 'int8').toFixed(1)} ms per image\n`);

// 1. Engine stages, one image at a time, each mode.
const batcher = new InferenceBatcher(loaded.session, {});
const tables = normalizationTables(loaded.preprocess.mean, loaded.preprocess.std);
const engine = [];
for (const mode of ['exact', 'fast']) {
  const pre = new Preprocessor(loaded.preprocess, undefined, mode);
  const tensor = new Float32Array(pre.imageLength);
  for (const kind of kinds) {
    const bytes = readFileSync(kind.path);
    const t = { decode: [], resize_crop: [], normalise: [], queue: [], infer: [], postprocess: [], total: [] };
    for (let i = 0; i < WARMUP + RUNS; i++) {
      const t0 = performance.now();
      // Fast mode as the server runs it: a large photo decoded at reduced scale, only its centre crop decoded and resampled.
      const fast = { resizeTo: (s) => (Math.min(s.width, s.height) >= 512 ? pre.geometry(s).resized : null), window: (resized) => pre.geometry(resized).crop };
      const img = await decodeImage(bytes, pre.limits, mode === 'fast' ? fast : {});
      const t1 = performance.now();
      const { resized, crop } = pre.geometry(img.original);
      const cropped = img.window ? img : resizeBilinearWindow(img, resized, crop);
      const t2 = performance.now();
      writeNormalizedCHW(cropped, tables, tensor, 0);
      const t3 = performance.now();
      const r = await batcher.infer(tensor);
      const t4 = performance.now();
      rankLogits(r.outputs.logits.data, 0, loaded.session.numClasses, loaded.labels, { topK: 3, lang: 'en' });
      const t5 = performance.now();
      if (i < WARMUP) continue;
      t.decode.push(t1 - t0);
      t.resize_crop.push(t2 - t1);
      t.normalise.push(t3 - t2);
      t.queue.push(r.queueMs);
      t.infer.push(r.inferMs);
      t.postprocess.push(t5 - t4);
      t.total.push(t5 - t0);
    }
    engine.push({ mode, image: kind.name, ...Object.fromEntries(Object.entries(t).map(([k, v]) => [k, stats(v)])) });
  }
}
log('Engine, per image (ms, median / p90; fast mode\'s decode includes resampling the centre crop of a large photo, as the server runs it)');
log('mode   image                  decode     resize+crop  normalise  queue      infer       postproc  total');
for (const r of engine) {
  const c = (s) => `${fmt(r[s].median, 5)}/${fmt(r[s].p90, 5)}`;
  log(`${r.mode.padEnd(6)} ${r.image.padEnd(22)} ${c('decode')} ${c('resize_crop')}  ${c('normalise')} ${c('queue')} ${c('infer')} ${c('postprocess')} ${c('total')}`);
}

// 2. Model only, fp32 and int8, for ResNet-18 and (from ../shared) the real ResNet-50. The two precisions take
// turns, round by round (both sessions open, each round's first side alternating, each side's block beginning with
// untimed runs to bring its weights back into cache): timed one after the other, a neighbour's load arriving between
// them moved the ratio from 1.4× to 2.9× in runs minutes apart. The speed-up is the median of the rounds' ratios.
const modelOnly = [];
const speedups = [];
const input = new Float32Array(32 * 3 * 224 * 224).map((_, i) => Math.sin(i) * 0.5);
async function block(session, n, timed) {
  const times = [];
  for (let i = 0; i < (n === 1 ? 2 : 1) + timed; i++) {
    const t0 = performance.now();
    await session.run(input, n);
    times.push(performance.now() - t0);
  }
  return times.slice(-timed);
}
async function timeModel(name, macs, sessions, batches) {
  for (const n of batches) {
    const rounds = [];
    const times = { fp32: [], int8: [] };
    const timed = n === 1 ? (QUICK ? 4 : 9) : n <= 8 ? 2 : 1;
    for (let r = 0; r < (QUICK || n > 8 ? 3 : 7); r++) {
      const ms = {};
      for (const precision of r % 2 === 0 ? ['fp32', 'int8'] : ['int8', 'fp32']) {
        const t = await block(sessions[precision], n, timed);
        times[precision].push(...t);
        ms[precision] = stats(t).median;
      }
      rounds.push({ fp32Ms: ms.fp32, int8Ms: ms.int8, ratio: ms.fp32 / ms.int8 });
    }
    for (const precision of ['fp32', 'int8']) {
      const s = stats(times[precision]);
      modelOnly.push({ model: name, precision, batch: n, median_ms: s.median, ms_per_image: s.median / n, images_per_s: (1000 * n) / s.median, floor_ratio: s.median / n / floorMs(macs, precision) });
    }
    speedups.push({ model: name, batch: n, rounds, ratio: stats(rounds.map((x) => x.ratio)).median });
  }
}
const loadedInt8 = await loadModel({ model, cacheDir, precision: 'int8' });
await timeModel('resnet18', MACS.resnet18, { fp32: loaded.session, int8: loadedInt8.session }, [1, 8, 32]);
await Promise.all([loaded.session.release(), loadedInt8.session.release()]);
const resnet50 = join(SHARED_DIR, 'models', 'resnet50-keras-fp16w.onnx');
if (existsSync(resnet50)) {
  const sessions = {};
  for (const precision of ['fp32', 'int8']) sessions[precision] = (await loadModel({ model: resnet50, cacheDir, precision })).session;
  await timeModel('resnet50', MACS.resnet50, sessions, [1, 8]);
  await Promise.all(Object.values(sessions).map((s) => s.release()));
}
log('Inference only (ONNX Runtime; fp32 and int8 taking turns; int8 speed-up: the median of the rounds\' ratios, and their range)');
log('model     precision  batch  median ms  ms/image  images/s  × floor  int8 speed-up');
for (const b of modelOnly) {
  const sp = speedups.find((x) => x.model === b.model && x.batch === b.batch);
  const range = sp && `${Math.min(...sp.rounds.map((x) => x.ratio)).toFixed(2)}–${Math.max(...sp.rounds.map((x) => x.ratio)).toFixed(2)}`;
  const speedup = b.precision === 'int8' && sp ? `${sp.ratio.toFixed(2)}× (${range})` : '';
  log(`${b.model.padEnd(9)} ${b.precision.padEnd(9)} ${String(b.batch).padStart(6)} ${fmt(b.median_ms, 10)} ${fmt(b.ms_per_image, 9)} ${fmt(b.images_per_s, 9)} ${b.floor_ratio.toFixed(2).padStart(8)}  ${speedup.padStart(20)}`);
}

// 3. HTTP end to end against the real server, started as `npm start` starts it (bench/serve-env.mjs).
const landscape = multipart(readFileSync(kinds[0].path));
const port = 18080 + Math.floor(Math.random() * 1000);
const serverEnv = { ...SERVE_ENV, RESNET_SERVE_HOME: cacheDir };
const serveArgs = (mode, precision) => [BIN, 'serve', '--port', String(port), '--model', model, '--preprocess', mode, '--precision', precision];
const isReady = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
const http = { modes: {} };
const HTTP_MODES = [['fast', 'fp32'], ['exact', 'fp32'], ['fast', 'int8']];
// Prime the caches (ONNX build, int8 model, optimised graphs), so the cold starts below are "with a cached model".
for (const precision of ['fp32', 'int8']) await stopProcess((await startProcess(process.execPath, serveArgs('fast', precision), serverEnv, isReady)).child);
// Start-up varies by ±15% here from one start to the next: the goal takes the median of several.
const startMs = [];
for (let i = 0; i < (QUICK ? 3 : 9); i++) {
  const { child, ms } = await startProcess(process.execPath, serveArgs('fast', 'fp32'), serverEnv, isReady);
  startMs.push(ms);
  await stopProcess(child);
}
http.coldStart = { medianMs: stats(startMs).median, minMs: Math.min(...startMs), maxMs: Math.max(...startMs), starts: startMs.length };
for (const [mode, precision] of HTTP_MODES) {
  const key = `${mode} ${precision}`;
  const { child, ms: coldStartMs } = await startProcess(process.execPath, serveArgs(mode, precision), serverEnv, isReady);
  await new Promise((res) => setTimeout(res, 500));
  const idleRssMb = rssMb(child.pid);
  const url = `http://127.0.0.1:${port}/predict`;
  await load(url, landscape, 2, 6); // warm-up
  const rss = sampleRss(child.pid);
  const levels = mode === 'fast' ? [1, 4, 16] : [1];
  const rows = [];
  for (const c of levels) {
    const count = c === 1 ? RUNS + 10 : Math.max(QUICK ? 2 * c : 4 * c, QUICK ? 24 : 96);
    const r = await load(url, landscape, c, count);
    const s = stats(r.latencies);
    rows.push({ concurrency: c, requests: r.latencies.length, p50: s.median, p99: s.p99, images_per_s: r.throughput, statuses: r.statuses });
  }
  const peakRssMb = rss.stop();
  await new Promise((res) => setTimeout(res, 1000));
  const steadyRssMb = rssMb(child.pid);
  // A 64-image batch: 64 requests at once (the batcher runs them 16 at a time), then 1 s of rest.
  await load(url, landscape, 64, 64);
  await new Promise((res) => setTimeout(res, 1000));
  const after64RssMb = rssMb(child.pid);
  await stopProcess(child);
  http.modes[key] = { mode, precision, coldStartMs, idleRssMb, peakRssMb, steadyRssMb, after64RssMb, rows };
}
log('\nHTTP end to end, POST /predict with the 1920x1080 JPEG (real server on loopback)');
log('mode        concurrency  requests     p50 ms     p99 ms   images/s');
for (const [key, m] of Object.entries(http.modes)) for (const r of m.rows) log(`${key.padEnd(11)} ${String(r.concurrency).padStart(11)} ${String(r.requests).padStart(9)} ${fmt(r.p50, 10)} ${fmt(r.p99, 10)} ${fmt(r.images_per_s, 10)}`);
log('\nmode        start ms  RSS MB: idle  under load (peak)  steady after load  after a 64-image batch');
for (const [key, m] of Object.entries(http.modes)) log(`${key.padEnd(11)} ${fmt(m.coldStartMs, 8)} ${fmt(m.idleRssMb, 12)} ${fmt(m.peakRssMb, 18)} ${fmt(m.steadyRssMb, 18)} ${fmt(m.after64RssMb, 22)}`);
log(`start to ready, fast fp32, ${http.coldStart.starts} starts: median ${Math.round(http.coldStart.medianMs)} ms (${Math.round(http.coldStart.minMs)}–${Math.round(http.coldStart.maxMs)})`);

// 4. The seed's stack, side by side.
let seed = null;
const python = pth ? findPython() : null;
if (!python) {
  log(`\nSeed stack: skipped (${pth ? 'no Python with torch and torchvision; apt-get install python3-torchvision python3-flask' : 'the model is not a .pth'})`);
} else {
  const script = join(ROOT, 'bench/seed_stack.py');
  const runPy = (args, runs = RUNS) => JSON.parse(execFileSync(python, [script, ...args, '--weights', pth, '--runs', String(runs)], { encoding: 'utf8', maxBuffer: 1 << 24 }));
  const stagesOut = runPy(['stages', ...kinds.map((k) => k.path)]);
  const batchOut = runPy(['batch', kinds[0].path]);
  seed = { versions: { torch: stagesOut.torch, torchvision: stagesOut.torchvision, threads: stagesOut.threads }, stages: stagesOut.result.map((r, i) => ({ ...r, image: kinds[i].name })), batch: batchOut.result, flask: null };
  let hasFlask = true;
  try {
    execFileSync(python, ['-c', 'import flask'], { stdio: 'ignore' });
  } catch {
    hasFlask = false;
  }
  if (hasFlask) {
    const flaskPort = port + 1;
    const { child } = await startProcess(python, [script, 'serve', '--weights', pth, '--port', String(flaskPort)], {}, async () => (await fetch(`http://127.0.0.1:${flaskPort}/health`)).ok);
    const url = `http://127.0.0.1:${flaskPort}/predict`;
    await load(url, landscape, 1, 4);
    const one = await load(url, landscape, 1, RUNS + 10);
    const sixteen = await load(url, landscape, 16, QUICK ? 32 : 96);
    await stopProcess(child);
    seed.flask = { c1: { p50: stats(one.latencies).median, p99: stats(one.latencies).p99, images_per_s: one.throughput }, c16: { p50: stats(sixteen.latencies).median, p99: stats(sixteen.latencies).p99, images_per_s: sixteen.throughput } };
  }
  // Sections 3 and 4 time the two sides minutes apart, and this machine's speed moves by a third from one minute to
  // the next. For the single-request and throughput goals they also take turns, round by round, on the 1080p photo:
  // the int8 server (fast mode) one request at a time, then 16 at a time, against the seed's in-process pipeline one
  // image at a time, then its batch of 32; each goal takes the median of the rounds' ratios.
  {
    const { child } = await startProcess(process.execPath, serveArgs('fast', 'int8'), serverEnv, isReady);
    const url = `http://127.0.0.1:${port}/predict`;
    await load(url, landscape, 1, 6);
    const rounds = [];
    const perRound = QUICK ? 6 : 15;
    const concurrent = QUICK ? 32 : 64;
    for (let r = 0; r < (QUICK ? 3 : 7); r++) {
      // Each side's block begins with untimed images, as seed_stack.py warms up before it times; the side that goes
      // first alternates from round to round.
      const pair = async (seedSide, oursSide) => {
        const [first, second] = r % 2 === 0 ? [seedSide, oursSide] : [oursSide, seedSide];
        const x = await first();
        const y = await second();
        return r % 2 === 0 ? [x, y] : [y, x];
      };
      const [seedMs, oursMs] = await pair(
        async () => runPy(['stages', kinds[0].path], perRound).result[0].total.median,
        async () => {
          await load(url, landscape, 1, 3);
          return stats((await load(url, landscape, 1, perRound)).latencies).median;
        },
      );
      const [seedBatchIps, oursIps] = await pair(
        async () => runPy(['batch', kinds[0].path], 6).result.images_per_s,
        async () => {
          await load(url, landscape, 16, 16);
          return (await load(url, landscape, 16, concurrent)).throughput;
        },
      );
      const seedBestIps = Math.max(1000 / seedMs, seedBatchIps);
      rounds.push({ seedMs, oursMs, ratio: oursMs / seedMs, seedBestIps, oursIps, throughputRatio: oursIps / seedBestIps });
    }
    await stopProcess(child);
    seed.alternating = { perRound, concurrent, rounds, ratio: stats(rounds.map((x) => x.ratio)).median, throughputRatio: stats(rounds.map((x) => x.throughputRatio)).median };
  }
  log(`\nSeed stack (PyTorch ${seed.versions.torch}, torchvision ${seed.versions.torchvision}, PIL, ${seed.versions.threads} threads), per image (ms, median)`);
  log('image                  decode  preprocess  infer  postproc  total   | ours/seed total: exact  fast');
  for (const s of seed.stages) {
    const ex = engine.find((e) => e.mode === 'exact' && e.image === s.image).total.median;
    const fa = engine.find((e) => e.mode === 'fast' && e.image === s.image).total.median;
    log(`${s.image.padEnd(22)} ${fmt(s.decode.median, 6)} ${fmt(s.preprocess.median, 10)} ${fmt(s.infer.median, 6)} ${fmt(s.postprocess.median, 8)} ${fmt(s.total.median, 6)}   | ${(ex / s.total.median).toFixed(2).padStart(22)} ${(fa / s.total.median).toFixed(2).padStart(5)}`);
  }
  log(`batch of 32 (preprocessing + inference): ${seed.batch.images_per_s.toFixed(1)} images/s`);
  log(`taking turns, ${seed.alternating.rounds.length} rounds of ${seed.alternating.perRound}, each side after 3 untimed (1080p; ms, seed in process / ours int8 over HTTP → ratio): ${seed.alternating.rounds.map((x) => `${x.seedMs.toFixed(1)}/${x.oursMs.toFixed(1)} → ${x.ratio.toFixed(2)}`).join(', ')}`);
  log(`the same rounds, throughput (images/s, the seed's best of one at a time and its batch of 32 / ours int8 at concurrency 16, ${seed.alternating.concurrent} requests → ratio): ${seed.alternating.rounds.map((x) => `${x.seedBestIps.toFixed(1)}/${x.oursIps.toFixed(1)} → ${x.throughputRatio.toFixed(2)}`).join(', ')}`);
  if (seed.flask) log(`Flask POST /predict: concurrency 1 p50 ${seed.flask.c1.p50.toFixed(1)} ms; concurrency 16 ${seed.flask.c16.images_per_s.toFixed(1)} images/s (p99 ${seed.flask.c16.p99.toFixed(0)} ms)`);
}

// 5. Goals, as ratios measured in this run.
const fastRows = http.modes['fast fp32'].rows;
const int8Rows = http.modes['fast int8'].rows;
const at = (rows, c) => rows.find((r) => r.concurrency === c);
const goals = [];
if (seed) {
  // The issue's yardstick is the seed stack's in-process time for the 1080p photo; the seed's Flask server is reported beside it.
  const seedTotal = seed.stages[0].total.median;
  const seedBest = Math.max(seed.batch.images_per_s, seed.flask ? seed.flask.c16.images_per_s : 0, 1000 / seed.stages[0].total.median);
  goals.push(
    { goal: 'int8: single request p50 (fast) ≤ 0.35× seed, median of the rounds taking turns', value: seed.alternating.ratio, target: 0.35, better: 'lower' },
    { goal: 'int8: single request p50 (fast), × seed, sections 3 and 4 minutes apart', value: at(int8Rows, 1).p50 / seedTotal, target: Infinity, better: 'lower' },
    { goal: "int8: throughput at concurrency 16 ≥ 3× seed's best, median of the rounds taking turns", value: seed.alternating.throughputRatio, target: 3, better: 'higher' },
    { goal: "int8: throughput at concurrency 16, × seed's best, sections 3 and 4 minutes apart", value: at(int8Rows, 16).images_per_s / seedBest, target: Infinity, better: 'higher' },
    { goal: 'fp32: single request p50 (fast), × seed', value: at(fastRows, 1).p50 / seedTotal, target: Infinity, better: 'lower' },
    { goal: 'fp32: throughput at concurrency 16, × seed best', value: at(fastRows, 16).images_per_s / seedBest, target: 0, better: 'higher' },
  );
  if (seed.flask) goals.push({ goal: "int8: single request p50 (fast), × the seed's Flask server p50", value: at(int8Rows, 1).p50 / seed.flask.c1.p50, target: Infinity, better: 'lower' });
}
for (const model of ['resnet18', 'resnet50']) {
  for (const batch of [1, 8]) {
    const sp = speedups.find((x) => x.model === model && x.batch === batch);
    if (sp) goals.push({ goal: `${model} int8 inference ≥ 1.8× faster than fp32 at batch ${batch}, median of the rounds taking turns`, value: sp.ratio, target: 1.8, better: 'higher' });
  }
}
goals.push(
  // Steady: what the server holds 1 s after the load, as it does between bursts; the peak (sampled every 50 ms
  // during the load) adds the uploads and activations in flight at the busiest moment.
  { goal: 'fp32: steady RSS after load ≤ 300 MB', value: http.modes['fast fp32'].steadyRssMb, target: 300, better: 'lower' },
  { goal: 'int8: steady RSS after load ≤ 200 MB', value: http.modes['fast int8'].steadyRssMb, target: 200, better: 'lower' },
  { goal: 'fp32: peak RSS during load, MB', value: http.modes['fast fp32'].peakRssMb, target: Infinity, better: 'lower' },
  { goal: 'int8: peak RSS during load, MB', value: http.modes['fast int8'].peakRssMb, target: Infinity, better: 'lower' },
  { goal: 'cold start to ready (cached model) ≤ 1000 ms', value: http.coldStart.medianMs, target: 1000, better: 'lower' },
);
for (const g of goals) g.met = g.better === 'lower' ? g.value <= g.target : g.value >= g.target;
log('\nGoals (ratios from this run)');
// A value that rounds to its target (0.351 against 0.35) gets a third decimal, so "missed: 0.35" never shows.
const shown = (g) => g.value.toFixed(g.value.toFixed(2) === g.target.toFixed(2) ? 3 : 2);
for (const g of goals) log(`${Number.isFinite(g.target) && g.target !== 0 ? (g.met ? 'met   ' : 'missed') : 'info  '} ${g.goal}: ${shown(g)}`);

// 6. Results: JSON and charts.
mkdirSync(OUT, { recursive: true });
const result = { date: started.toISOString(), model: note, threads, runs: RUNS, peaks, engine, modelOnly, speedups, http, seed, goals };
writeFileSync(join(OUT, 'bench.json'), JSON.stringify(result, (k, v) => (typeof v === 'number' ? round(v, 2) : v), 2));
const series = [
  { name: 'ours fp32 p50', points: fastRows.map((r) => [r.concurrency, r.p50]) },
  { name: 'ours int8 p50', points: int8Rows.map((r) => [r.concurrency, r.p50]) },
  { name: 'ours fp32 p99', points: fastRows.map((r) => [r.concurrency, r.p99]) },
];
if (seed?.flask) series.push({ name: 'seed Flask p50', points: [[1, seed.flask.c1.p50], [16, seed.flask.c16.p50]] });
writeFileSync(join(OUT, 'latency-vs-concurrency.svg'), lineChartSvg('POST /predict latency, 1920x1080 JPEG', 'concurrent requests', 'ms', series));
const stageNames = ['decode', 'preprocess', 'normalise', 'infer', 'postprocess'];
const barRows = kinds.flatMap((k) => {
  const rows = ['exact', 'fast'].map((mode) => {
    const e = engine.find((x) => x.mode === mode && x.image === k.name);
    return { name: `${k.name} ours ${mode}`, parts: { decode: e.decode.median, preprocess: e.resize_crop.median, normalise: e.normalise.median, infer: e.infer.median, postprocess: e.postprocess.median } };
  });
  const s = seed?.stages.find((x) => x.image === k.name);
  if (s) rows.push({ name: `${k.name} seed`, parts: { decode: s.decode.median, preprocess: s.preprocess.median, infer: s.infer.median, postprocess: s.postprocess.median } });
  return rows;
});
writeFileSync(join(OUT, 'stages.svg'), stackedBarsSvg('Per-image stages (median ms)', barRows, stageNames));
log(`\nwritten: bench/results/bench.json, bench/results/latency-vs-concurrency.svg, bench/results/stages.svg`);
