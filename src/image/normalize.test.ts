import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IMAGENET_MEAN, IMAGENET_STD, normalizationTables, writeNormalizedCHW } from './normalize.js';

test('tables follow ToTensor then Normalize in float32', () => {
  const t = normalizationTables(IMAGENET_MEAN, IMAGENET_STD);
  assert.equal(t[0][0], Math.fround(Math.fround(-Math.fround(0.485)) / Math.fround(0.229)));
  assert.ok(Math.abs(t[0][255] - (1 - 0.485) / 0.229) < 1e-6);
  assert.ok(Math.abs(t[2][128] - (128 / 255 - 0.406) / 0.225) < 1e-6);
});

test('writes planar CHW at an offset and replicates gray into three channels', () => {
  const t = normalizationTables([0, 0, 0], [1, 1, 1]);
  const out = new Float32Array(2 + 3 * 2);
  writeNormalizedCHW({ data: Uint8Array.from([0, 255]), width: 2, height: 1, channels: 1 }, t, out, 2);
  assert.deepEqual([...out], [0, 0, 0, 1, 0, 1, 0, 1]);
  const rgb = new Float32Array(6);
  writeNormalizedCHW({ data: Uint8Array.from([255, 0, 0, 0, 0, 255]), width: 2, height: 1, channels: 3 }, t, rgb);
  assert.deepEqual([...rgb], [1, 0, 0, 0, 0, 1]);
  assert.throws(() => writeNormalizedCHW({ data: new Uint8Array(3), width: 1, height: 1, channels: 3 }, t, new Float32Array(2)), RangeError);
});
