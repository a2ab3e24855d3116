import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { isResnetServeError } from '../errors.js';
import { testPhoto } from '../testing/fixtures.js';
import { Preprocessor } from './preprocess.js';

async function tensors(bytes: Buffer): Promise<{ exact: Float32Array; fast: Float32Array; original: { width: number; height: number } }> {
  const exact = new Preprocessor(undefined, undefined, 'exact');
  const fast = new Preprocessor(undefined, undefined, 'fast');
  const a = new Float32Array(exact.imageLength);
  const b = new Float32Array(fast.imageLength);
  const r = await exact.imageToTensor(bytes, a);
  const q = await fast.imageToTensor(bytes, b);
  assert.deepEqual(q.original, r.original);
  return { exact: a, fast: b, original: r.original };
}

test('fast mode is identical to exact for images under twice the target', async () => {
  const { exact, fast } = await tensors(await testPhoto(3, 500, 375));
  assert.deepEqual(fast, exact);
});

test('fast mode stays close to exact on a large photo, with the same geometry', async () => {
  const { exact, fast, original } = await tensors(await testPhoto(3, 2000, 1500));
  assert.deepEqual(original, { width: 2000, height: 1500 });
  let sum = 0;
  for (let i = 0; i < exact.length; i++) sum += Math.abs(exact[i] - fast[i]);
  const meanAbs = sum / exact.length;
  // On this photo: 1.7e-4 from exact through the JPEG addon, 2.6e-4 through libvips' linear reduce (its cubic reduce: 5.3e-4).
  assert.ok(meanAbs < 4e-4, `mean |Δ| ${meanAbs} (normalised units)`);
  assert.notDeepEqual(fast, exact);
});

test('fast mode applies EXIF orientation before choosing the size', async () => {
  const upright = await sharp(await testPhoto(8, 1200, 1600)).jpeg().toBuffer();
  const rotated = await sharp(upright).rotate(-90).withMetadata({ orientation: 6 }).jpeg().toBuffer();
  const fast = new Preprocessor(undefined, undefined, 'fast');
  const out = new Float32Array(fast.imageLength);
  assert.deepEqual((await fast.imageToTensor(rotated, out)).original, { width: 1200, height: 1600 });
});

test('fast mode writes the same tensor whether it resamples only the crop or the whole frame (asked for a fingerprint), for every EXIF orientation', async () => {
  const fast = new Preprocessor(undefined, undefined, 'fast');
  const upright = await testPhoto(4, 1301, 1027);
  for (const orientation of [1, 3, 6, 8]) {
    const tagged = await sharp(upright).withMetadata({ orientation }).jpeg().toBuffer();
    const cropOnly = new Float32Array(fast.imageLength);
    const wholeFrame = new Float32Array(fast.imageLength);
    await fast.imageToTensor(tagged, cropOnly);
    const withFingerprint = await fast.imageToTensor(tagged, wholeFrame, 0, { fingerprint: true });
    assert.ok(withFingerprint.fingerprint, 'the fingerprint comes from the whole frame');
    assert.deepEqual(cropOnly, wholeFrame, `orientation ${orientation}`);
  }
});

test('an unknown mode is refused, naming the option', () => {
  assert.throws(() => new Preprocessor(undefined, undefined, 'quick' as never), (err: unknown) => isResnetServeError(err, 'INVALID_ARGUMENT') && /preprocess/.test(err.message));
});
