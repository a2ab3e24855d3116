import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../testing/random-resnet.js';
import { softmax, topK } from './postprocess.js';

test('softmax sums to 1, keeps order, and is unchanged by a shift of the logits', () => {
  const p = softmax([1, 2, 3]);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.ok(p[2] > p[1] && p[1] > p[0]);
  assert.ok(Math.abs(p[2] - Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3))) < 1e-12);
  const shifted = softmax([1001, 1002, 1003]);
  p.forEach((v, i) => assert.ok(Math.abs(v - shifted[i]) < 1e-12));
});

test('softmax reads a row at an offset', () => {
  const p = softmax([9, 9, 0, 0], 2, 2);
  assert.deepEqual([...p], [0.5, 0.5]);
});

test('topK returns the highest scores first and keeps index order on ties', () => {
  assert.deepEqual(topK([0.1, 0.5, 0.2, 0.5, 0.05], 3), [
    { index: 1, score: 0.5 },
    { index: 3, score: 0.5 },
    { index: 2, score: 0.2 },
  ]);
  assert.equal(topK([1, 2], 5).length, 2);
  assert.deepEqual(topK([NaN, 1, 0], 2).map((r) => r.index), [1, 2]);
});

test('topK agrees with a full sort, for small and large k', () => {
  const rand = seededRandom(3);
  const scores = Array.from({ length: 1000 }, () => Math.round(rand() * 200) / 200);
  const sorted = scores.map((score, index) => ({ index, score })).sort((a, b) => b.score - a.score || a.index - b.index);
  for (const k of [1, 5, 32, 33, 1000]) assert.deepEqual(topK(scores, k), sorted.slice(0, k));
});
