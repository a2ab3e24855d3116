#!/usr/bin/env node
/**
 * `npm run eval:heads` (and the first part of `npm run eval`): how well heads learn new classes, measured on real photos
 * with the real pretrained MobileNetV2 of ../shared, through our own
 * pipeline (decode, preprocess, image + mirror embedding, logistic
 * regression, rejection):
 * - val accuracy on hymenoptera with all training photos, and with 10 and 5
 *   per class (mean of 10 random draws);
 * - training time once embeddings are cached (median of 5), and the
 *   embedding throughput of a first training;
 * - "unknown": how often val photos and photos of other things (the ImageNet
 *   photos of ../shared/reference, and imagenet-sample-500 without its ant
 *   and bee) are refused, at several rejection rates.
 * Writes bench/results/eval-heads.json.
 *
 *   npm run eval:heads
 *   npm run eval:heads -- --model F.onnx --data DIR     another backbone or an ImageFolder with train/ and val/
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ImageClassifier } from '../dist/classify/classifier.js';
import { EmbeddingCache } from '../dist/heads/embedding-cache.js';
import { collectExamples, recipeOf } from '../dist/heads/examples.js';
import { readImageFolder } from '../dist/heads/image-folder.js';
import { REJECTION_DEFAULTS } from '../dist/heads/rejection.js';
import { trainHead } from '../dist/heads/train.js';
import { seededRandom } from '../dist/seeded-random.js';
import { HYMENOPTERA_DIR, IMAGENET_SAMPLE_DIR, PRETRAINED_ONNX, REFERENCE_DIR, referenceCases } from '../dist/testing/shared.js';
import { workDir } from './lib.mjs';

const argv = process.argv.slice(2);
const option = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const model = option('--model', PRETRAINED_ONNX);
const data = option('--data', HYMENOPTERA_DIR);
if (!existsSync(model) || !existsSync(join(data, 'train'))) {
  console.error(`eval needs ${model} and ${join(data, 'train')} (the shared folder, or npm run eval:heads -- --model F.onnx --data DIR)`);
  process.exit(2);
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const cacheDir = workDir('rs-eval-');
const classifier = await ImageClassifier.create({ model, cacheDir });
const cache = new EmbeddingCache(cacheDir);
const key = { model: classifier.info.sha256, recipe: recipeOf(classifier.preprocessor.mode) };
const engine = (bytes) => classifier.analyzeBatch(bytes, ['embedding'], { mirror: true });
const embed = (photos) => collectExamples(photos.map((p) => ({ ...p, name: p.path })), engine, cache, key);

console.log(`Backbone: ${classifier.info.name} (sha256 ${classifier.info.sha256.slice(0, 12)}), data: ${data}`);
const trainFolder = await readImageFolder(join(data, 'train'));
const valFolder = await readImageFolder(join(data, 'val'));
const classes = trainFolder.classes;
const t0 = performance.now();
const train = await embed(trainFolder.photos);
const firstMs = performance.now() - t0;
const throughput = train.embedded / (train.embedMs / 1000);
const val = await embed(valFolder.photos);
console.log(`First embedding of ${train.embedded} training photos: ${(firstMs / 1000).toFixed(1)} s, ${throughput.toFixed(1)} images/s (each image and its mirror)`);
const backbone = { name: classifier.info.name, sha256: classifier.info.sha256, dim: train.examples[0].embedding.length };

function evaluate(head, examples) {
  const answers = examples.map((e) => ({ e, a: head.answer(e.embedding, e.probabilities) }));
  const top = (a) => a.probabilities.indexOf(Math.max(...a.probabilities));
  const accepted = answers.filter(({ a }) => !a.unknown);
  return {
    accuracy: answers.filter(({ e, a }) => top(a) === e.label).length / answers.length,
    rejected: 1 - accepted.length / answers.length,
    acceptedAccuracy: accepted.length ? accepted.filter(({ e, a }) => top(a) === e.label).length / accepted.length : null,
  };
}

const results = { backbone: backbone.name, data, throughput, firstMs, accuracy: {}, trainMs: null, rejection: [] };
const full = trainHead('eval', classes, train.examples, backbone);
results.accuracy.all = evaluate(full.head, val.examples).accuracy;
const times = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  trainHead('eval', classes, train.examples, backbone);
  times.push(performance.now() - t);
}
results.trainMs = median(times);

for (const perClass of [10, 5]) {
  const scores = [];
  for (let draw = 1; draw <= 10; draw++) {
    const rand = seededRandom(draw);
    const pick = classes.flatMap((_, k) => train.examples.filter((e) => e.label === k).map((e) => [rand(), e]).sort((a, b) => a[0] - b[0]).slice(0, perClass).map(([, e]) => e));
    scores.push(evaluate(trainHead('eval', classes, pick, backbone).head, val.examples).accuracy);
  }
  results.accuracy[`${perClass}PerClass`] = scores.reduce((a, b) => a + b, 0) / scores.length;
}

const strangers = {};
if (existsSync(REFERENCE_DIR)) strangers.reference = (await embed(referenceCases().filter((c) => c.truth !== undefined).map((c) => ({ path: join(REFERENCE_DIR, 'images', c.file), label: 0 })))).examples;
if (existsSync(IMAGENET_SAMPLE_DIR)) {
  const files = readdirSync(IMAGENET_SAMPLE_DIR).filter((f) => !classes.some((c) => f.toLowerCase().includes(`_${c.replace(/s$/, '')}.`)));
  strangers.sample500 = (await embed(files.map((f) => ({ path: join(IMAGENET_SAMPLE_DIR, f), label: 0 })))).examples;
}
for (const rate of [0.01, 0.02, 0.03, 0.05]) {
  const { head } = trainHead('eval', classes, train.examples, backbone, { rejectRate: rate });
  const v = evaluate(head, val.examples);
  const row = { rate, valRejected: v.rejected, valAccuracyOnAccepted: v.acceptedAccuracy };
  for (const [name, set] of Object.entries(strangers)) row[`${name}Rejected`] = set.filter((e) => head.answer(e.embedding, e.probabilities).unknown).length / set.length;
  results.rejection.push(row);
}

console.log('\n| training photos | val accuracy |\n| --- | ---: |');
console.log(`| all ${train.examples.length} | ${pct(results.accuracy.all)} |`);
console.log(`| 10 per class (mean of 10 draws) | ${pct(results.accuracy['10PerClass'])} |`);
console.log(`| 5 per class (mean of 10 draws) | ${pct(results.accuracy['5PerClass'])} |`);
console.log(`\nTraining once embeddings are cached: ${results.trainMs.toFixed(0)} ms (median of 5, cross-validation and rejection included)`);
console.log('\n| reject rate | val refused | val accuracy on the rest | ImageNet photos (reference) refused | imagenet-sample-500 refused |\n| ---: | ---: | ---: | ---: | ---: |');
for (const r of results.rejection) {
  const def = r.rate === REJECTION_DEFAULTS.quantile ? ' (default)' : '';
  console.log(`| ${r.rate}${def} | ${pct(r.valRejected)} | ${r.valAccuracyOnAccepted === null ? '-' : pct(r.valAccuracyOnAccepted)} | ${r.referenceRejected === undefined ? '-' : pct(r.referenceRejected)} | ${r.sample500Rejected === undefined ? '-' : pct(r.sample500Rejected)} |`);
}
const outDir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, 'eval-heads.json'), JSON.stringify(results, null, 2));
cache.close();
await classifier.close();
