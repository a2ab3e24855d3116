import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { ConcurrencyGate } from './concurrency-gate.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('at most `limit` hold the gate; the others get in in arrival order as places are given back', async () => {
  const gate = new ConcurrencyGate(2);
  const order: number[] = [];
  const releases = new Map<number, () => void>();
  const entries = [0, 1, 2, 3, 4].map((i) => gate.enter().then((release) => (order.push(i), releases.set(i, release))));
  await tick();
  assert.deepEqual(order, [0, 1]);
  assert.equal(gate.active, 2);
  assert.equal(gate.waiting, 3);
  releases.get(1)?.();
  await tick();
  assert.deepEqual(order, [0, 1, 2]);
  releases.get(0)?.();
  releases.get(0)?.();
  await tick();
  assert.deepEqual(order, [0, 1, 2, 3], 'giving a place back twice frees one place, not two');
  assert.equal(gate.active, 2);
  releases.get(2)?.();
  releases.get(3)?.();
  await Promise.all(entries);
  assert.deepEqual(order, [0, 1, 2, 3, 4]);
  releases.get(4)?.();
  assert.equal(gate.active, 0);
  assert.equal(gate.waiting, 0);
});

test('a caller whose signal aborts while waiting is refused with its reason and takes no place', async () => {
  const gate = new ConcurrencyGate(1);
  const first = await gate.enter();
  const controller = new AbortController();
  const abandoned = gate.enter(controller.signal);
  const next = gate.enter();
  controller.abort(new Error('client gone'));
  await assert.rejects(abandoned, /client gone/);
  assert.equal(gate.waiting, 1);
  first();
  const release = await next;
  assert.equal(gate.active, 1, 'the place went to the caller still waiting');
  release();
  await assert.rejects(gate.enter(AbortSignal.abort(new Error('already over'))), /already over/);
  assert.equal(gate.active, 0);
});

test('the limit is checked up front', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => new ConcurrencyGate(bad), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && /limit/.test(err.message));
  }
});
