import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../testing/random-resnet.js';
import { l2Normalize } from './logistic.js';
import { calibrateRejection, judge, neighbourSimilarity, normalQuantile, percentile, profileSimilarity } from './rejection.js';

/** Photos near one of two directions, with "base model" probabilities peaked on classes 0–1; strangers elsewhere. */
function world(seed: number, count: number) {
  const rand = seededRandom(seed);
  const dim = 32;
  const centre = (k: number): number[] => Array.from({ length: dim }, (_, j) => (j % 2 === k ? 1 : 0));
  const noisy = (v: number[], s: number): Float64Array => l2Normalize(v.map((x) => x + (rand() - 0.5) * s));
  const probs = (hot: number): Float64Array => {
    const p = new Float64Array(10).fill(0.02);
    p[hot] = 1 - 0.02 * 9;
    return p;
  };
  const inside = Array.from({ length: count }, (_, i) => ({ x: noisy(centre(i % 2), 1.2), p: probs(i % 2) }));
  const stranger = () => ({ x: noisy(Array.from({ length: dim }, () => rand() - 0.5), 0), p: probs(2 + Math.floor(rand() * 8)) });
  return { inside, stranger };
}

test('scores: neighbour similarity, profile similarity, percentiles, the normal quantile', () => {
  const examples = Float32Array.of(1, 0, 0, 1, 0.6, 0.8);
  assert.ok(Math.abs(neighbourSimilarity([1, 0], examples, 2, 1) - 1) < 1e-6);
  assert.ok(Math.abs(neighbourSimilarity([1, 0], examples, 2, 2) - 0.8) < 1e-6);
  assert.equal(profileSimilarity([0.5, 0.5], [0.5, 0.5]), 1);
  assert.equal(profileSimilarity([1, 0], [0, 1]), 0);
  assert.equal(percentile([1, 2, 3, 4], 2.5), 0.5);
  assert.equal(percentile([1, 2, 3, 4], 0), 0);
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  assert.ok(Math.abs(normalQuantile(0.01) + 2.326348) < 1e-5);
});

test('strangers are rejected, photos like the training ones are kept at about the chosen rate', () => {
  const { inside, stranger } = world(3, 400);
  const train = inside.slice(0, 200);
  const model = calibrateRejection(train.map((t) => t.x), train.map((t) => t.p), (i) => i % 5, 5, { quantile: 0.02 });
  assert.ok(model.heldOutRejected <= 0.02 + 1e-9, `held-out rejected ${model.heldOutRejected}`);
  const fresh = inside.slice(200);
  const kept = fresh.filter((t) => !judge(model, t.x, t.p).rejected).length / fresh.length;
  assert.ok(kept >= 0.94, `kept ${kept}`);
  const strangers = Array.from({ length: 100 }, stranger);
  const rejected = strangers.filter((s) => judge(model, s.x, s.p).rejected).length / strangers.length;
  assert.ok(rejected >= 0.95, `rejected ${rejected}`);
  const verdict = judge(model, strangers[0].x, strangers[0].p);
  assert.ok(verdict.typicality >= 0 && verdict.typicality <= 1);
});

test('with few photos the thresholds come from a normal fit; with two, nothing is rejected', () => {
  const { inside, stranger } = world(5, 12);
  const small = calibrateRejection(inside.map((t) => t.x), inside.map((t) => t.p), (i) => i % 3, 3);
  assert.ok(small.thresholds.neighbours > -1 && small.thresholds.profile > 0);
  assert.ok(judge(small, stranger().x, stranger().p).rejected);
  const tiny = calibrateRejection(inside.slice(0, 2).map((t) => t.x), inside.slice(0, 2).map((t) => t.p), (i) => i, 2);
  assert.deepEqual(tiny.thresholds, { neighbours: -2, profile: -2 });
  assert.equal(judge(tiny, stranger().x, stranger().p).rejected, false);
});
