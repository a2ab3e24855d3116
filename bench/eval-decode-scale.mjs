#!/usr/bin/env node
/**
 * `npm run eval:decode-scale`: how far fast mode may let libjpeg's scaled
 * IDCT shrink a large JPEG before the answers change. For every reference
 * photo whose short side is at least 512 px (the ones fast mode decodes at
 * reduced scale), and for each margin (the reduction left to Pillow's filter
 * after the scaled decode: 1 = decode down to the resize size, 2 = what fast
 * mode uses), it prints the scale chosen, the mean absolute difference from
 * exact mode's input tensor (normalised units) and whether the real
 * MobileNetV2 and ResNet-50 of ../shared/models give exact mode's top-1.
 * Needs the native JPEG decoder (npm install with libjpeg's headers).
 * Writes bench/results/eval-decode-scale.json.
 *
 *   npm run eval:decode-scale
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { topK } from '../dist/classify/postprocess.js';
import { ClassifierSession } from '../dist/model/session.js';
import { decodeJpegNative } from '../dist/image/decode.js';
import { jpegScaleDenominator, nativeJpegAvailable } from '../dist/image/jpeg-native.js';
import { resizeShortSide } from '../dist/image/geometry.js';
import { Preprocessor } from '../dist/image/preprocess.js';
import { IMAGENET_PREPROCESS } from '../dist/image/preprocess-config.js';
import { REFERENCE_DIR, SHARED_DIR } from '../dist/testing/shared.js';

const MODELS = { mobilenetv2: join(SHARED_DIR, 'models', 'mobilenetv2-12-int8.onnx'), resnet50: join(SHARED_DIR, 'models', 'resnet50-keras-fp16w.onnx') };
const IMAGES = join(REFERENCE_DIR, 'images');
const MARGINS = [1, 1.5, 2];
if (![...Object.values(MODELS), IMAGES].every(existsSync)) {
  console.error(`eval:decode-scale needs ${Object.values(MODELS).join(', ')} and ${IMAGES} (the shared folder)`);
  process.exit(2);
}
if (!nativeJpegAvailable()) {
  console.error('eval:decode-scale needs the native JPEG decoder: apt-get install libjpeg62-turbo-dev, then npm run build:native');
  process.exit(2);
}

const sessions = Object.fromEntries(await Promise.all(Object.entries(MODELS).map(async ([name, path]) => [name, await ClassifierSession.open(path)])));
const exact = new Preprocessor(IMAGENET_PREPROCESS, undefined, 'exact');
const length = exact.imageLength;
const cfg = IMAGENET_PREPROCESS;

async function top1(session, tensor) {
  const { logits } = await session.run(tensor, 1);
  return topK(logits.data, 1)[0].index;
}

const photos = [];
for (const file of readdirSync(IMAGES).sort()) {
  const bytes = readFileSync(join(IMAGES, file));
  const meta = await sharp(bytes).metadata().catch(() => null);
  if (meta?.format !== 'jpeg' || meta.depth !== 'uchar' || (meta.space !== 'srgb' && meta.space !== 'b-w')) continue;
  const upright = (meta.orientation ?? 1) >= 5 ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
  if (Math.min(upright.width, upright.height) < 2 * cfg.resizeShortSide) continue;
  photos.push({ file, bytes, meta, upright });
}

const rows = [];
const totals = Object.fromEntries(MARGINS.map((m) => [m, { distance: 0, agree: Object.fromEntries(Object.keys(MODELS).map((k) => [k, 0])) }]));
for (const { file, bytes, meta, upright } of photos) {
  const reference = new Float32Array(length);
  await exact.imageToTensor(bytes, reference, 0);
  const expected = Object.fromEntries(await Promise.all(Object.entries(sessions).map(async ([k, s]) => [k, await top1(s, reference)])));
  const target = resizeShortSide(upright, cfg.resizeShortSide);
  const storedTarget = (meta.orientation ?? 1) >= 5 ? { width: target.height, height: target.width } : target;
  const row = { file, size: `${meta.width}x${meta.height}`, margins: {} };
  for (const margin of MARGINS) {
    const image = decodeJpegNative(bytes, meta, target, margin);
    const tensor = new Float32Array(length);
    exact.pixelsToTensor(image, tensor, 0, upright);
    let distance = 0;
    for (let i = 0; i < length; i++) distance += Math.abs(tensor[i] - reference[i]);
    distance /= length;
    const agrees = Object.fromEntries(await Promise.all(Object.entries(sessions).map(async ([k, s]) => [k, (await top1(s, tensor)) === expected[k]])));
    const denominator = jpegScaleDenominator({ width: meta.width, height: meta.height }, storedTarget, margin);
    row.margins[margin] = { scale: `1/${denominator}`, distance, agrees };
    totals[margin].distance += distance;
    for (const k of Object.keys(agrees)) totals[margin].agree[k] += agrees[k] ? 1 : 0;
  }
  rows.push(row);
}

const pad = (s, n) => String(s).padEnd(n);
console.log('each margin: the scale decoded, the distance from exact mode, top-1 as exact (MobileNetV2, ResNet-50)');
console.log(`${pad('photo', 34)}${pad('size', 11)}${MARGINS.map((m) => pad(`margin ${m}`, 19)).join(' | ')}`);
for (const r of rows) {
  const cells = MARGINS.map((m) => {
    const c = r.margins[m];
    return `${pad(c.scale, 4)} ${c.distance.toFixed(4)} ${Object.values(c.agrees).map((a) => (a ? 'yes' : 'NO ')).join(' ')}`;
  });
  console.log(`${pad(r.file.slice(0, 33), 34)}${pad(r.size, 11)}${cells.join(' | ')}`);
}
const summary = MARGINS.map((m) => ({ margin: m, photos: rows.length, meanDistance: totals[m].distance / rows.length, agree: totals[m].agree }));
for (const s of summary) console.log(`margin ${s.margin}: mean distance ${s.meanDistance.toFixed(4)}; top-1 as exact: ${Object.entries(s.agree).map(([k, v]) => `${k} ${v}/${s.photos}`).join(', ')}`);
const out = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'eval-decode-scale.json'), JSON.stringify({ rows, summary }, null, 2));
await Promise.all(Object.values(sessions).map((s) => s.release()));
