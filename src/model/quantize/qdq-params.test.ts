import assert from 'node:assert/strict';
import { test } from 'node:test';
import { activationParams, quantizeBias, quantizeChannels, RangeTracker } from './qdq-params.js';

test('activation parameters cover the range, include zero exactly, and keep ReLU outputs at zero point 0', () => {
  const relu = activationParams(0, 6.375);
  assert.equal(relu.zeroPoint, 0);
  assert.ok(Math.abs(relu.scale - 6.375 / 255) < 1e-7);
  const signed = activationParams(-2, 6);
  assert.equal(signed.zeroPoint, Math.round(2 / signed.scale));
  // Zero is represented exactly: (q - zp) * scale = 0 for q = zp.
  assert.equal((signed.zeroPoint - signed.zeroPoint) * signed.scale, 0);
  // Both ends fall within one step of the range.
  assert.ok(Math.abs((0 - signed.zeroPoint) * signed.scale + 2) <= signed.scale);
  assert.ok(Math.abs((255 - signed.zeroPoint) * signed.scale - 6) <= signed.scale);
  // A positive-only range still starts at zero; an empty one gets a usable scale.
  assert.equal(activationParams(3, 5).zeroPoint, 0);
  assert.deepEqual(activationParams(0, 0), { scale: 1, zeroPoint: 0 });
});

test('per-channel symmetric weights: each channel has its own scale, zero maps to 0, 7-bit weights stay within ±63', () => {
  const weights = Float32Array.from([0.5, -1, 0.25, 0, 10, -5, 2.5, 0]);
  const full = quantizeChannels(weights, 2, false);
  assert.deepEqual([...full.scales].map((s) => Number(s.toPrecision(6))), [Number((1 / 127).toPrecision(6)), Number((10 / 127).toPrecision(6))]);
  assert.deepEqual([...full.values], [64, -127, 32, 0, 127, -64, 32, 0]);
  const seven = quantizeChannels(weights, 2, true);
  assert.ok([...seven.values].every((v) => v >= -63 && v <= 63));
  assert.equal(seven.values[1], -63);
  for (let i = 0; i < weights.length; i++) assert.ok(Math.abs(seven.values[i] * seven.scales[i < 4 ? 0 : 1] - weights[i]) <= seven.scales[i < 4 ? 0 : 1] / 2 + 1e-7);
  assert.throws(() => quantizeChannels(weights, 3, true), RangeError);
});

test('biases become int32 on the accumulator scale (input scale × channel scale)', () => {
  const { values, scales } = quantizeBias(Float32Array.from([0.1, -3]), 0.02, Float32Array.from([0.5, 0.01]));
  assert.ok(Math.abs(scales[0] - 0.01) < 1e-9 && Math.abs(scales[1] - 0.0002) < 1e-9);
  assert.deepEqual([...values], [10, -15000]);
});

test('the range tracker widens over batches', () => {
  const r = new RangeTracker();
  r.observe(Float32Array.from([1, 2, 3]));
  r.observe(Float32Array.from([-1, 0.5]));
  assert.deepEqual([r.min, r.max], [-1, 3]);
});
