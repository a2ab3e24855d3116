import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../testing/random-resnet.js';
import { fitSoftmax, l2Normalize, predictProbabilities } from './logistic.js';

/** The objective of logistic.ts, computed directly (to check optimality from outside). */
function objective(x: number[][], y: number[], classes: number, w: Float64Array, b: Float64Array, lambda: number): number {
  let loss = 0;
  for (let i = 0; i < x.length; i++) {
    const z = Array.from({ length: classes }, (_, k) => b[k] + x[i].reduce((s, v, j) => s + w[k * x[i].length + j] * v, 0));
    const max = Math.max(...z);
    const lse = max + Math.log(z.reduce((s, v) => s + Math.exp(v - max), 0));
    loss += lse - z[y[i]];
  }
  return loss / x.length + 0.5 * lambda * w.reduce((s, v) => s + v * v, 0);
}

test('separable data with L2: the known optimum (two mirrored points in 1-D)', () => {
  // Points x = +1 (class 1) and x = -1 (class 0). By symmetry the optimum is w = [-a, a], b = [0, 0]: each point's
  // margin is 2a, so a minimises log(1 + e^(-2a)) + λ a², i.e. -2 / (1 + e^(2a)) + 2λa = 0 (bisection below).
  const lambda = 0.01;
  let lo = 0;
  let hi = 100;
  for (let i = 0; i < 200; i++) {
    const a = (lo + hi) / 2;
    if (-2 / (1 + Math.exp(2 * a)) + 2 * lambda * a < 0) lo = a;
    else hi = a;
  }
  const a = (lo + hi) / 2;
  const { model, converged } = fitSoftmax([[-1], [1]], [0, 1], 2, { lambda, tolerance: 1e-10, maxIterations: 2000 });
  assert.ok(converged);
  assert.ok(Math.abs(model.weights[0] + a) < 1e-6, `${model.weights[0]} vs ${-a}`);
  assert.ok(Math.abs(model.weights[1] - a) < 1e-6, `${model.weights[1]} vs ${a}`);
  assert.ok(Math.abs(model.bias[0]) < 1e-6 && Math.abs(model.bias[1]) < 1e-6);
});

test('non-separable data: the fit is a minimum (no nearby point is lower, the gradient vanishes)', () => {
  const rand = seededRandom(4);
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < 300; i++) {
    const label = i % 3;
    y.push(label);
    x.push([label + rand() * 2.5, Math.sin(label) + rand() * 2.5, rand()]);
  }
  const lambda = 1e-3;
  const { model, converged } = fitSoftmax(x, y, 3, { lambda, tolerance: 1e-9, maxIterations: 2000 });
  assert.ok(converged);
  const best = objective(x, y, 3, model.weights, model.bias, lambda);
  for (let trial = 0; trial < 40; trial++) {
    const w = Float64Array.from(model.weights, (v) => v + (rand() - 0.5) * 1e-3);
    const b = Float64Array.from(model.bias, (v) => v + (rand() - 0.5) * 1e-3);
    assert.ok(objective(x, y, 3, w, b, lambda) >= best - 1e-12);
  }
  // Classes overlap, so the training accuracy is well below 100% but above chance.
  const correct = x.filter((xi, i) => {
    const p = predictProbabilities(model, xi);
    return p.indexOf(Math.max(...p)) === y[i];
  }).length;
  assert.ok(correct / x.length > 0.5 && correct / x.length < 1);
});

test('stable with 1 class, with 1,000 classes, and with huge logits', () => {
  const one = fitSoftmax([[1, 2], [3, 4]], [0, 0], 1);
  assert.deepEqual(Array.from(predictProbabilities(one.model, [5, 6])), [1]);
  const rand = seededRandom(8);
  const x = Array.from({ length: 2000 }, () => Array.from({ length: 8 }, () => rand() - 0.5));
  const y = x.map((_, i) => i % 1000);
  const many = fitSoftmax(x, y, 1000, { maxIterations: 30 });
  const p = predictProbabilities(many.model, x[0]);
  assert.equal(p.length, 1000);
  assert.ok(p.every(Number.isFinite));
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  const huge = { classes: 2, dim: 1, weights: Float64Array.of(1e6, -1e6), bias: Float64Array.of(0, 0) };
  assert.deepEqual(Array.from(predictProbabilities(huge, [1])), [1, 0]);
});

test('deterministic: the same data gives the same model, bit for bit', () => {
  const rand = seededRandom(12);
  const x = Array.from({ length: 60 }, () => l2Normalize(Array.from({ length: 16 }, () => rand() - 0.5)));
  const y = x.map((_, i) => i % 4);
  const a = fitSoftmax(x, y, 4);
  const b = fitSoftmax(x, y, 4);
  assert.deepEqual(a.model.weights, b.model.weights);
  assert.deepEqual(a.model.bias, b.model.bias);
});

test('bad input is refused', () => {
  assert.throws(() => fitSoftmax([], [], 2), /no training examples/);
  assert.throws(() => fitSoftmax([[1]], [0, 1], 2), /differ in length/);
  assert.throws(() => fitSoftmax([[1], [1, 2]], [0, 1], 2), /differ in length/);
  const unit = l2Normalize([3, 4]);
  assert.ok(Math.abs(unit[0] - 0.6) < 1e-12 && Math.abs(unit[1] - 0.8) < 1e-12);
  assert.deepEqual(Array.from(l2Normalize([0, 0])), [0, 0]);
});
