import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { ClassifierSession } from '../model/session.js';
import { seededRandom } from '../testing/random-resnet.js';
import { tinyClassifierOnnx } from '../testing/tiny-onnx.js';
import { InferenceBatcher } from './batcher.js';

let session: ClassifierSession;
const PER = 3 * 224 * 224;
const images: Float32Array[] = [];
const alone: Float32Array[] = [];

before(async () => {
  session = await ClassifierSession.open(tinyClassifierOnnx(['n', 3, 224, 224], 10), { threads: 1 });
  const rand = seededRandom(9);
  for (let i = 0; i < 12; i++) {
    const t = Float32Array.from({ length: PER }, () => rand() * 2 - 1 + i * 0.1);
    images.push(t);
    alone.push((await session.run(t, 1)).logits.data);
  }
});
after(() => session.release());

test('concurrent images are gathered into batches, and each gets its own logits; imagesInModel is the batch running', async () => {
  const sizes: number[] = [];
  const inModel: number[] = [];
  const batcher = new InferenceBatcher(session, { maxBatch: 16 }, (n) => {
    sizes.push(n);
    inModel.push(batcher.imagesInModel);
  });
  assert.equal(batcher.imagesInModel, 0);
  // The first image starts at once (no waiting at concurrency 1); the rest queue behind it and run together.
  const first = batcher.infer(images[0]);
  await new Promise((resolve) => setImmediate(resolve));
  const results = await Promise.all([first, ...images.slice(1, 10).map((t) => batcher.infer(t))]);
  assert.deepEqual(sizes, [1, 9]);
  assert.deepEqual(inModel, [1, 9]);
  assert.equal(batcher.imagesInModel, 0);
  results.forEach((r, i) => {
    assert.equal(r.outputs.logits.data.length, 10);
    r.outputs.logits.data.forEach((v, j) => assert.ok(Math.abs(v - alone[i][j]) < 1e-5));
    assert.equal(r.batchSize, i === 0 ? 1 : 9);
  });
});

test('images queued in one task run as one batch: a photo and its mirror image for a head', async () => {
  const sizes: number[] = [];
  const batcher = new InferenceBatcher(session, { maxBatch: 16 }, (n) => sizes.push(n));
  const [a, b] = await Promise.all([batcher.infer(images[0]), batcher.infer(images[1])]);
  assert.deepEqual(sizes, [2]);
  assert.deepEqual([a.batchSize, b.batchSize], [2, 2]);
  a.outputs.logits.data.forEach((v, j) => assert.ok(Math.abs(v - alone[0][j]) < 1e-5));
  b.outputs.logits.data.forEach((v, j) => assert.ok(Math.abs(v - alone[1][j]) < 1e-5));
});

test('maxWaitMicros lets a partial batch wait for company; maxBatch caps it', async () => {
  const sizes: number[] = [];
  const waiting = new InferenceBatcher(session, { maxBatch: 16, maxWaitMicros: 50_000 }, (n) => sizes.push(n));
  await Promise.all(images.slice(0, 6).map((t) => waiting.infer(t)));
  assert.deepEqual(sizes, [6]);
  // A full batch does not wait out the rest of the time.
  const full: number[] = [];
  const long = new InferenceBatcher(session, { maxBatch: 4, maxWaitMicros: 60_000_000 }, (n) => full.push(n));
  let timer: NodeJS.Timeout | undefined;
  const ran = await Promise.race([
    Promise.all(images.slice(0, 4).map((t) => long.infer(t))).then(() => 'ran'),
    new Promise((resolve) => (timer = setTimeout(resolve, 20_000, 'still waiting'))),
  ]);
  clearTimeout(timer);
  assert.equal(ran, 'ran');
  assert.deepEqual(full, [4]);
  const capped: number[] = [];
  const small = new InferenceBatcher(session, { maxBatch: 4 }, (n) => capped.push(n));
  await Promise.all(images.map((t) => small.infer(t)));
  assert.ok(capped.every((n) => n <= 4));
  assert.equal(capped.reduce((a, b) => a + b, 0), 12);
});

test('beyond the queue bound, QUEUE_FULL at once', async () => {
  const batcher = new InferenceBatcher(session, { maxBatch: 1, maxQueue: 3 });
  const outcomes = await Promise.allSettled(images.slice(0, 8).map((t) => batcher.infer(t)));
  const full = outcomes.filter((o) => o.status === 'rejected' && isResnetServeError(o.reason, 'QUEUE_FULL'));
  assert.ok(full.length >= 4, `${full.length} refused`);
  assert.ok(outcomes.filter((o) => o.status === 'fulfilled').length >= 3);
});

test('an aborted request is dropped before inference', async () => {
  const sizes: number[] = [];
  const batcher = new InferenceBatcher(session, {}, (n) => sizes.push(n));
  const controller = new AbortController();
  const first = batcher.infer(images[0]);
  await new Promise((resolve) => setImmediate(resolve));
  const dropped = batcher.infer(images[1], controller.signal);
  const kept = batcher.infer(images[2]);
  controller.abort(new Error('client went away'));
  await first;
  await assert.rejects(dropped, /client went away/);
  await kept;
  assert.deepEqual(sizes, [1, 1]);
});

test('settings are validated', () => {
  assert.throws(() => new InferenceBatcher(session, { maxBatch: 0 }), /maxBatch/);
  assert.throws(() => new InferenceBatcher(session, { maxWaitMicros: -1 }), /maxWaitMicros/);
  assert.throws(() => new InferenceBatcher(session, { maxQueue: 1.5 }), /maxQueue/);
});
