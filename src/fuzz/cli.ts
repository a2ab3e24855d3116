/**
 * `npm run fuzz [-- --count N --seconds S --seed K]`: fuzzes decode and
 * classify with mutants of the seed images and prints the tally (by default
 * 20,000 mutants or 300 s; `--seconds` alone runs for that long, however many
 * mutants that is). Exit 1 on any hang, untyped error or unhandled rejection.
 */
import { parseArgs } from 'node:util';
import { ImageClassifier } from '../classify/classifier.js';
import { loadModel } from '../model/load-model.js';
import { scratchDir } from '../testing/scratch.js';
import { tinyClassifierOnnx } from '../testing/tiny-onnx.js';
import { formatTally, runFuzz } from './fuzz.js';
import { fuzzSeeds } from './seeds.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const { values } = parseArgs({ options: { count: { type: 'string' }, seconds: { type: 'string' }, seed: { type: 'string', default: '1' } } });
const count = values.count !== undefined ? Number(values.count) : values.seconds !== undefined ? Infinity : 20_000;
const seconds = Number(values.seconds ?? 300);
const dir = await scratchDir('rs-fuzz-');
const modelPath = join(dir, 'tiny.onnx');
await writeFile(modelPath, tinyClassifierOnnx(['n', 3, 224, 224], 1000));
const classifier = new ImageClassifier(await loadModel({ model: modelPath, cacheDir: dir, threads: 1 }));
const seeds = await fuzzSeeds();
console.log(`fuzzing with ${seeds.length} seed images, ${Number.isFinite(count) ? `up to ${count} mutants or ` : ''}${seconds} s`);
const tally = await runFuzz(classifier, seeds, { count, seconds, seed: Number(values.seed) });
console.log(formatTally(tally));
await classifier.close();
process.exitCode = tally.hangs.length || tally.untyped.length || tally.unhandledRejections ? 1 : 0;
