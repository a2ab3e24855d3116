/**
 * `npm run bench:layers [-- --model F] [-- --batch N]`: where inference time goes, layer by layer, fp32 against
 * int8, from ONNX Runtime's own profiler (the graphs the server runs: optimised for this CPU, as cached).
 * Prints each convolution's median kernel time and multiply-adds per second, and the rest of the graph,
 * so the int8 speed-up can be read per layer. Medians of 30 runs; compare within one run.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import ort from '../dist/model/ort.js';
import { loadModel } from '../dist/model/load-model.js';
import { preoptimizedFor } from '../dist/model/preoptimize.js';
import { defaultCacheDir } from '../dist/model/weights.js';
import { chooseModel } from './inputs.mjs';

const RUNS = 30;
const argv = process.argv.slice(2);
const batch = Number(argv[argv.indexOf('--batch') + 1]) || 1;
const { model, note } = await chooseModel(argv);
const cacheDir = defaultCacheDir();

/** Median kernel time (ms) per node and per op type over RUNS runs of `path`. */
async function profile(path) {
  const prefix = join(tmpdir(), `rs-layers-${process.pid}-${Date.now()}`);
  const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'disabled', enableCpuMemArena: false, enableProfiling: true, profileFilePrefix: prefix });
  const x = new ort.Tensor('float32', Float32Array.from({ length: batch * 3 * 224 * 224 }, (_, i) => Math.sin(i) * 2), [batch, 3, 224, 224]);
  for (let i = 0; i < RUNS; i++) await session.run({ [session.inputNames[0]]: x });
  // The Node binding writes the profile as <prefix>_<date>.json and does not say its name.
  session.endProfiling();
  await session.release();
  const file = join(tmpdir(), readdirSync(tmpdir()).filter((f) => f.startsWith(basename(prefix))).sort().pop());
  const events = JSON.parse(readFileSync(file, 'utf8'));
  rmSync(file, { force: true });
  const perNode = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const key = e.name.slice(0, -'_kernel_time'.length);
    const entry = perNode.get(key) ?? { op: e.args.op_name, times: [] };
    entry.times.push(e.dur / 1000);
    perNode.set(key, entry);
  }
  const median = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
  const runs = events.filter((e) => e.name === 'model_run').map((e) => e.dur / 1000);
  return { runMs: median(runs), nodes: [...perNode].map(([name, { op, times }]) => ({ name, op, ms: median(times) })) };
}

const graphs = {};
for (const precision of ['fp32', 'int8']) {
  const loaded = await loadModel({ model, cacheDir, precision });
  const onnx = loaded.info.onnxPath;
  graphs[precision] = (await preoptimizedFor(onnx, loaded.info.sha256, cacheDir)) ?? onnx;
  await loaded.session.release();
}
const results = {};
for (const precision of ['fp32', 'int8']) results[precision] = await profile(graphs[precision]);

console.log(`resnet-serve layers, ${new Date().toISOString()}: ${note}; batch ${batch}; medians of ${RUNS} runs (ONNX Runtime's profiler)\n`);
const convOps = new Set(['Conv', 'FusedConv', 'QLinearConv', 'NchwcConv']);
const convs = (r) => r.nodes.filter((n) => convOps.has(n.op));
const [fp, q] = [convs(results.fp32), convs(results.int8)];
console.log('convolution   fp32 ms   int8 ms   speed-up');
const rows = Math.min(fp.length, q.length);
for (let i = 0; i < rows; i++) console.log(`${String(i + 1).padStart(11)}   ${fp[i].ms.toFixed(2).padStart(7)}   ${q[i].ms.toFixed(2).padStart(7)}   ${(fp[i].ms / q[i].ms).toFixed(2).padStart(7)}×`);
const sum = (a) => a.reduce((s, n) => s + n.ms, 0);
const other = (r) => sum(r.nodes) - sum(convs(r));
console.log(`${'all convs'.padStart(11)}   ${sum(fp).toFixed(2).padStart(7)}   ${sum(q).toFixed(2).padStart(7)}   ${(sum(fp) / sum(q)).toFixed(2).padStart(7)}×`);
if (rows > 1) console.log(`${'convs 2–' + rows}   ${sum(fp.slice(1)).toFixed(2).padStart(7)}   ${sum(q.slice(1)).toFixed(2).padStart(7)}   ${(sum(fp.slice(1)) / sum(q.slice(1))).toFixed(2).padStart(7)}×`);
console.log(`${'other ops'.padStart(11)}   ${other(results.fp32).toFixed(2).padStart(7)}   ${other(results.int8).toFixed(2).padStart(7)}`);
console.log(`${'whole run'.padStart(11)}   ${results.fp32.runMs.toFixed(2).padStart(7)}   ${results.int8.runMs.toFixed(2).padStart(7)}   ${(results.fp32.runMs / results.int8.runMs).toFixed(2).padStart(7)}×`);
console.log(`\nfirst convolution: ${((100 * q[0].ms) / sum(q)).toFixed(0)}% of the int8 convolutions' time, ${((100 * fp[0].ms) / sum(fp)).toFixed(0)}% of fp32's`);
