#!/usr/bin/env node
/**
 * `npm run eval:int8`: what `--precision int8` costs in answers, on real
 * photos, through our whole pipeline (fast preprocessing):
 * - the real pretrained ResNet-50 of ../shared/models, quantised with
 *   calibration on hymenoptera/train (not the evaluation photos) and with
 *   the built-in calibration set: top-1 / top-5 accuracy of fp32 and int8 on
 *   imagenet-sample-500, and how often int8's top-1 agrees with fp32's;
 * - the random-weight ResNet-18 of ../shared/reference: agreement only.
 * Writes bench/results/eval-int8.json.
 *
 *   npm run eval:int8
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ImageClassifier } from '../dist/classify/classifier.js';
import { HYMENOPTERA_DIR, IMAGENET_SAMPLE_DIR, REFERENCE_DIR, SHARED_DIR } from '../dist/testing/shared.js';
import { workDir } from './lib.mjs';

const RESNET50 = join(SHARED_DIR, 'models', 'resnet50-keras-fp16w.onnx');
const RESNET18 = join(REFERENCE_DIR, 'resnet18-seed0.pth');
if (![RESNET50, RESNET18, IMAGENET_SAMPLE_DIR].every(existsSync)) {
  console.error(`eval:int8 needs ${RESNET50}, ${RESNET18} and ${IMAGENET_SAMPLE_DIR} (the shared folder: set RESNET_SERVE_SHARED to where it is)`);
  process.exit(2);
}
const cacheDir = workDir('rs-eval-int8-');
const files = readdirSync(IMAGENET_SAMPLE_DIR).filter((f) => /\.jpe?g$/i.test(f)).sort().map((f) => join(IMAGENET_SAMPLE_DIR, f));
// One photo per even class, in wnid (= class) order: the i-th file is class 2i (see ../shared/datasets/README.md).
const truth = files.map((_, i) => 2 * i);

async function top5s(options) {
  const classifier = await ImageClassifier.create({ cacheDir, ...options });
  const out = [];
  for (let i = 0; i < files.length; i += 16) {
    for (const r of await classifier.classifyBatch(files.slice(i, i + 16), { topK: 5 })) {
      if (!r.ok) throw r.error;
      out.push(r.predictions.map((p) => p.index));
    }
  }
  await classifier.close();
  return out;
}
const pct = (n) => Math.round((n / files.length) * 1000) / 10;
const accuracy = (answers) => ({ top1: pct(answers.filter((a, i) => a[0] === truth[i]).length), top5: pct(answers.filter((a, i) => a.includes(truth[i])).length) });
const agreement = (a, b) => pct(a.filter((x, i) => x[0] === b[i][0]).length);

const results = { photos: files.length, resnet50: {}, resnet18_seed0: {} };
const r50 = await top5s({ model: RESNET50 });
results.resnet50.fp32 = accuracy(r50);
for (const [name, calibrate] of [['int8 (calibrated on hymenoptera/train)', join(HYMENOPTERA_DIR, 'train')], ['int8 (built-in calibration set)', undefined]]) {
  const q = await top5s({ model: RESNET50, precision: 'int8', calibrate });
  results.resnet50[name] = { ...accuracy(q), agreement: agreement(q, r50) };
}
const r18 = await top5s({ model: RESNET18 });
const r18q = await top5s({ model: RESNET18, precision: 'int8', calibrate: join(HYMENOPTERA_DIR, 'train') });
results.resnet18_seed0 = { agreement: agreement(r18q, r18), top5_contains_fp32_top1: pct(r18q.filter((a, i) => a.includes(r18[i][0])).length) };

console.log(JSON.stringify(results, null, 2));
const out = fileURLToPath(new URL('results/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'eval-int8.json'), `${JSON.stringify(results, null, 2)}\n`);
