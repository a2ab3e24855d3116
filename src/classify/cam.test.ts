import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classActivationMap, massInside, normalizeMap, upsampleMap } from './cam.js';

test('the map of class c is the feature map weighted by row c of the final layer, position by position', () => {
  // 3 channels over a 2×2 grid; 2 classes.
  const fm = Float32Array.from([1, 2, 3, 4, /* ch1 */ 0, 1, 0, 1, /* ch2 */ 5, 0, 0, 0]);
  const weights = Float32Array.from([1, 0, 0, /* class 1 */ 0.5, -2, 1]);
  assert.deepEqual([...classActivationMap(fm, 3, 2, 2, weights, 0).values], [1, 2, 3, 4]);
  assert.deepEqual([...classActivationMap(fm, 3, 2, 2, weights, 1).values], [5.5, -1, 1.5, 0]);
  assert.throws(() => classActivationMap(fm, 3, 2, 2, weights, 2), RangeError);
  assert.throws(() => classActivationMap(fm.subarray(1), 3, 2, 2, weights, 0), RangeError);
});

test('upsampling keeps a constant map constant, centres cells, and clips negative values', () => {
  const flat = upsampleMap({ width: 7, height: 7, values: new Float32Array(49).fill(2) }, 224);
  assert.ok(flat.every((v) => Math.abs(v - 2) < 1e-6));
  // One hot cell in the top-left corner: its mass stays in the top-left 64×64 pixels.
  const one = new Float32Array(49);
  one[0] = 1;
  one[48] = -5;
  const up = upsampleMap({ width: 7, height: 7, values: one }, 224);
  assert.equal(up[0], 1);
  assert.ok(up.every((v) => v >= 0));
  assert.equal(massInside(up, 224, { x0: 0, y0: 0, x1: 64, y1: 64 }), 1);
  assert.equal(Math.max(...normalizeMap(Float32Array.from([0, 2, 4]))), 1);
  assert.deepEqual([...normalizeMap(new Float32Array(3))], [0, 0, 0]);
});
