import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { TensorSlots } from './tensor-slots.js';

test('slots live in shared memory, are made on demand up to max, and are reused last-in first-out', () => {
  const slots = new TensorSlots(12, 3);
  const a = slots.acquire();
  const b = slots.acquire();
  assert.ok(a && b);
  assert.ok(a.buffer instanceof SharedArrayBuffer);
  assert.equal(a.length, 12);
  assert.notEqual(a.buffer, b.buffer);
  assert.equal(slots.size, 2);
  assert.equal(slots.inUse, 2);
  slots.release(a);
  slots.release(b);
  assert.equal(slots.inUse, 0);
  assert.equal(slots.acquire(), b, 'the slot released last comes back first');
  assert.equal(slots.acquire(), a);
  assert.ok(slots.acquire());
  assert.equal(slots.acquire(), null, 'past max, no slot');
  assert.equal(slots.size, 3);
});

test('releasing twice does not hand one slot to two images', () => {
  const slots = new TensorSlots(4, 2);
  const a = slots.acquire() as Float32Array;
  slots.release(a);
  slots.release(a);
  const first = slots.acquire();
  const second = slots.acquire();
  assert.equal(first, a);
  assert.notEqual(second, a);
});

test('a discarded slot is never handed out again, and another may be made in its place', () => {
  const slots = new TensorSlots(4, 1);
  const a = slots.acquire() as Float32Array;
  assert.equal(slots.acquire(), null);
  slots.discard(a);
  const b = slots.acquire();
  assert.ok(b);
  assert.notEqual(b, a);
});

test('settings and foreign arrays are refused by name', () => {
  assert.throws(() => new TensorSlots(0, 1), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && /length/.test(err.message));
  assert.throws(() => new TensorSlots(4, -1), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && /max/.test(err.message));
  const slots = new TensorSlots(4, 1);
  assert.throws(() => slots.release(new Float32Array(4)), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && /slot/.test(err.message));
});
