import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { Admission } from './admission.js';

test('admits up to its bound, then refuses with QUEUE_FULL saying how many are in progress', () => {
  const admission = new Admission(4);
  const release = admission.admit(3);
  assert.equal(admission.inProgress, 3);
  assert.throws(() => admission.admit(2), (err: unknown) => isResnetServeError(err, 'QUEUE_FULL') && err.message === 'The server is busy (3 images in progress, of at most 4); retry shortly');
  admission.ensureCapacity(1);
  assert.throws(() => admission.ensureCapacity(2, true), (err: unknown) => isResnetServeError(err, 'QUEUE_FULL') && /counts as two, it and its mirror image\); retry shortly$/.test(err.message));
  const one = admission.admit(1);
  assert.equal(admission.inProgress, 4);
  one();
  release();
  assert.equal(admission.inProgress, 0);
});

test('releasing twice frees the room once', () => {
  const admission = new Admission(2);
  const a = admission.admit(1);
  const b = admission.admit(1);
  a();
  a();
  assert.equal(admission.inProgress, 1);
  assert.throws(() => admission.admit(2), (err: unknown) => isResnetServeError(err, 'QUEUE_FULL'));
  b();
  assert.equal(admission.inProgress, 0);
});

test('close admits nothing more and resolves when the last image admitted is released', async () => {
  const admission = new Admission(8);
  const first = admission.admit(2);
  const second = admission.admit(1);
  let closed = false;
  const closing = admission.close().then(() => (closed = true));
  assert.throws(() => admission.admit(1), (err: unknown) => isResnetServeError(err, 'NOT_READY'));
  first();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, false, 'one image is still in progress');
  second();
  await closing;
  assert.equal(closed, true);
});

test('closing with nothing in progress resolves at once', async () => {
  const admission = new Admission(1);
  await admission.close();
  assert.throws(() => admission.admit(1), (err: unknown) => isResnetServeError(err, 'NOT_READY'));
});

test('whenRoom admits in order as room is released; refusing callers do not jump the queue', async () => {
  const admission = new Admission(4);
  const first = admission.admit(3);
  const order: string[] = [];
  const a = admission.whenRoom(2).then((release) => (order.push('a'), release));
  const b = admission.whenRoom(1).then((release) => (order.push('b'), release));
  // One place is free, but a call is waiting before: a refusing caller is told the service is full.
  assert.throws(() => admission.admit(1), (err: unknown) => isResnetServeError(err, 'QUEUE_FULL'));
  first();
  const [releaseA, releaseB] = await Promise.all([a, b]);
  assert.deepEqual(order, ['a', 'b']);
  assert.equal(admission.inProgress, 3);
  releaseA();
  releaseB();
  assert.equal(admission.inProgress, 0);
});

test('a call entered before close goes on to its end, and close waits for it', async () => {
  const admission = new Admission(2);
  const endCall = admission.enterCall();
  let closed = false;
  const closing = admission.close().then(() => (closed = true));
  assert.throws(() => admission.enterCall(), (err: unknown) => isResnetServeError(err, 'NOT_READY'));
  // Its images are still admitted, within the call.
  const release = admission.admit(2, false, true);
  release();
  (await admission.whenRoom(1))();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(closed, false, 'the call has not ended');
  endCall();
  await closing;
  assert.equal(closed, true);
});
