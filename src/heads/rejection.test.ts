import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../testing/random-resnet.js';
import { l2Normalize } from './logistic.js';
import { calibrateRejection, fisherSum, fisherSurvival, judge, neighbourSimilarity, normalCdf, percentile, profileSimilarity, pValue, type RejectionModel } from './rejection.js';

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

test('scores: neighbour similarity, profile similarity, percentiles, the normal law, Fisher\'s chi-squared', () => {
  const examples = Float32Array.of(1, 0, 0, 1, 0.6, 0.8);
  assert.ok(Math.abs(neighbourSimilarity([1, 0], examples, 2, 1) - 1) < 1e-6);
  assert.ok(Math.abs(neighbourSimilarity([1, 0], examples, 2, 2) - 0.8) < 1e-6);
  assert.equal(profileSimilarity([0.5, 0.5], [0.5, 0.5]), 1);
  assert.equal(profileSimilarity([1, 0], [0, 1]), 0);
  assert.equal(percentile([1, 2, 3, 4], 2.5), 0.5);
  assert.equal(percentile([1, 2, 3, 4], 0), 0);
  assert.ok(Math.abs(normalCdf(1.959964) - 0.975) < 1e-6);
  assert.ok(Math.abs(normalCdf(-2.326348) - 0.01) < 1e-6);
  assert.ok(Math.abs(normalCdf(0) - 0.5) < 1e-7);
  // Fisher's sum of two uniform p-values: P(ln p1 + ln p2 < s) = e^s (1 - s); checked by simulation.
  const rand = seededRandom(9);
  const draws = Array.from({ length: 20000 }, () => Math.log(rand()) + Math.log(rand()));
  for (const s of [-1, -3, -6]) {
    const seen = draws.filter((d) => d < s).length / draws.length;
    assert.ok(Math.abs(seen - fisherSurvival(s)) < 0.01, `at ${s}: ${seen} against ${fisherSurvival(s)}`);
  }
  assert.equal(fisherSurvival(0), 1);
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

test('with few photos the p-values come from a normal fit and the threshold from the chi-squared law; with two, nothing is rejected', () => {
  const { inside, stranger } = world(5, 12);
  const small = calibrateRejection(inside.map((t) => t.x), inside.map((t) => t.p), (i) => i % 3, 3, { quantile: 0.03 });
  assert.ok('combined' in small.thresholds);
  assert.ok(Math.abs(fisherSurvival(small.thresholds.combined) - 0.03) < 1e-6);
  const mean = small.heldOut.neighbours.reduce((a, b) => a + b, 0) / small.heldOut.neighbours.length;
  assert.ok(Math.abs(pValue(small.heldOut.neighbours, mean) - 0.5) < 1e-6);
  assert.ok(judge(small, stranger().x, stranger().p).rejected);
  const tiny = calibrateRejection(inside.slice(0, 2).map((t) => t.x), inside.slice(0, 2).map((t) => t.p), (i) => i, 2);
  assert.deepEqual(tiny.thresholds, { combined: -1e6 });
  assert.equal(judge(tiny, stranger().x, stranger().p).rejected, false);
});

/** A model whose held-out scores are 1..100 on both signals, for judging hand-made scores (profile 1-hot, one example). */
function gradedModel(thresholds: RejectionModel['thresholds']): RejectionModel {
  const scores = Array.from({ length: 100 }, (_, i) => (i + 1) / 100);
  const heldOut = { neighbours: scores, profile: scores };
  return { k: 1, dim: 2, examples: Float32Array.of(1, 0), profile: Float32Array.of(1, 0), heldOut: { ...heldOut, combined: scores.map((s) => fisherSum(heldOut, s, s)).sort((a, b) => a - b) }, thresholds, heldOutRejected: 0 };
}

/** The embedding whose similarity to (1, 0) is `near` and the probabilities whose similarity to (1, 0) is `seen`. */
const photo = (near: number, seen: number) => ({ x: [near, Math.sqrt(1 - near * near)], p: [seen * seen, 1 - seen * seen] });

test('a photo a little unusual in both ways is refused; one as unusual in only one way is kept', () => {
  const model = gradedModel({ combined: Math.log(0.06) * 2 });
  const both = photo(0.045, 0.045);
  assert.ok(judge(model, both.x, both.p).rejected);
  const one = photo(0.045, 0.9);
  assert.equal(judge(model, one.x, one.p).rejected, false);
  const far = photo(-0.5, 0.9);
  assert.ok(judge(model, far.x, far.p).rejected);
  const ordinary = judge(model, photo(0.6, 0.6).x, photo(0.6, 0.6).p);
  assert.equal(ordinary.rejected, false);
  assert.ok(ordinary.typicality > 0.3 && ordinary.typicality < 0.7, `typicality ${ordinary.typicality}`);
});

test('heads of file version 1 are still judged by a threshold per signal', () => {
  const model = gradedModel({ neighbours: 0.03, profile: 0.03 });
  delete model.heldOut.combined;
  const both = photo(0.045, 0.045);
  assert.equal(judge(model, both.x, both.p).rejected, false);
  const one = photo(0.02, 0.9);
  assert.ok(judge(model, one.x, one.p).rejected);
  assert.ok(Math.abs(judge(model, one.x, one.p).typicality - 0.01) < 1e-9);
});
