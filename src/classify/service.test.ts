import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { availableCpus } from '../cpu-quota.js';
import { isResnetServeError } from '../errors.js';
import type { BlockingTask } from '../testing/blocking-worker.js';
import { startTestService, testPhoto } from '../testing/fixtures.js';
import { movableBuffer, type ClassificationService } from './service.js';

let service: ClassificationService;
const batches: number[] = [];
const waits: number[] = [];

before(async () => {
  service = await startTestService({ workers: 1, preprocess: 'exact', observer: { batch: (n) => batches.push(n), stage: (stage, ms) => void (stage === 'queue' && waits.push(ms)) } });
});
after(() => service.close());

test('an abandoned decode ends its work: the busy worker is replaced and the next image is served', async () => {
  const pool = (service as unknown as { pool: { threads: { threadId: number }[] } }).pool;
  const before = pool.threads.map((t) => t.threadId);
  // A 40-megapixel noisy PNG keeps the worker busy for ~0.4 s in exact mode (a full decode that cannot be shrunk on load);
  // the abort comes long before that, whatever the machine's speed, but after the task has reached the worker.
  const [width, height] = [8000, 5000];
  const noise = Buffer.alloc(width * height * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  const big = await sharp(noise, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
  const controller = new AbortController();
  const abandoned = service.preprocess(big, controller.signal);
  setTimeout(() => controller.abort(new Error('deadline')), 40);
  await assert.rejects(abandoned);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const afterwards = pool.threads.map((t) => t.threadId);
  assert.equal(afterwards.length, 1);
  assert.notDeepEqual(afterwards, before, 'the worker that was decoding was terminated and replaced');
  const [ok] = await service.classifyMany([await testPhoto(2)], { topK: 1 });
  assert.ok(ok.ok);
});

test('offloaded work (fitting a head) runs in a thread of its own: images are answered while it runs, and an abort stops it', async () => {
  const worker = new URL('../testing/blocking-worker.js', import.meta.url);
  const task = (): BlockingTask => ({ started: new Int32Array(new SharedArrayBuffer(4)), flag: new Int32Array(new SharedArrayBuffer(4)) });
  const hasStarted = async (t: BlockingTask): Promise<void> => {
    while (Atomics.load(t.started, 0) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  const job = task();
  const running = service.offload<BlockingTask, string>(worker, job);
  await hasStarted(job);
  // With the job in the preprocessing worker this would wait for ever; the guard only turns such a wait into a failure.
  let guard: NodeJS.Timeout | undefined;
  const [answer] = await Promise.race([service.classifyMany([await testPhoto(3)], { topK: 1 }), new Promise<never>((_, reject) => (guard = setTimeout(() => reject(new Error('the image waited for the offloaded job')), 20_000)))]);
  clearTimeout(guard);
  assert.ok(answer.ok);
  Atomics.store(job.flag, 0, 1);
  assert.equal(await running, 'released');

  const stopped = task();
  const controller = new AbortController();
  const aborted = service.offload<BlockingTask, string>(worker, stopped, controller.signal);
  await hasStarted(stopped);
  controller.abort(new Error('deadline'));
  await assert.rejects(aborted, /^Error: deadline$/);
  // The next job runs (a new thread replaced the stopped one).
  const next = task();
  Atomics.store(next.flag, 0, 1);
  assert.equal(await service.offload<BlockingTask, string>(worker, next), 'released');
});

test('the start-up limit is not spent on quantising: an int8 server with a 1 ms limit quantises, starts and answers', async () => {
  // Before, the limit ran from before quantising, and the first inference was then given up while ONNX Runtime ran it,
  // which aborted the process.
  const int8 = await startTestService({ precision: 'int8', startupTimeoutMs: 1, workers: 1 });
  try {
    assert.equal(int8.info.precision, 'int8');
    // Beside its decoding worker it still takes every CPU: int8 threads sleep between layers instead of spinning.
    assert.equal(int8.info.threads, availableCpus());
    const [answer] = await int8.classifyMany([await testPhoto(5)], { topK: 1 });
    assert.ok(answer.ok);
  } finally {
    await int8.close();
  }
});

test('the decode time budget is an option, checked up front', async () => {
  await assert.rejects(startTestService({ maxDecodeMs: 0 }), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && /maxDecodeMs/.test(err.message));
});

test('images in progress keep their tensors in reused slots: concurrent answers match one-at-a-time ones, and no slot stays taken', async () => {
  const photos = await Promise.all(Array.from({ length: 8 }, (_, i) => testPhoto(30 + i)));
  const alone: Awaited<ReturnType<ClassificationService['analyzeMany']>>[] = [];
  for (const photo of photos) alone.push(await service.analyzeMany([photo]));
  const slots = (service as unknown as { slots: { size: number; inUse: number } }).slots;
  assert.equal(slots.size, 0, 'a photo JPEG alone is decoded by the inference thread, into its own input: no slot');
  const together = await Promise.all(photos.map((photo) => service.analyzeMany([photo])));
  together.forEach(([o], i) => {
    const [a] = alone[i];
    assert.ok(o.ok && a.ok);
    assert.deepEqual(Array.from(o.outputs.logits.data), Array.from(a.outputs.logits.data), `photo ${i}`);
  });
  assert.ok(slots.size <= photos.length, `at most one slot per image in progress (made ${slots.size})`);
  assert.equal(slots.inUse, 0);
  const [bad] = await service.analyzeMany([Buffer.from('not an image')]);
  assert.ok(!bad.ok);
  assert.equal(slots.inUse, 0, 'a refused image gives its slot back');
});

test('a lone photo JPEG is decoded by the inference thread with the answer a worker gives; a PNG, a damaged JPEG and a mirrored photo go to a worker', async () => {
  const target = service as unknown as { preprocess: ClassificationService['preprocess'] };
  const preprocess = target.preprocess;
  let byWorker = 0;
  target.preprocess = function (this: ClassificationService, ...args: Parameters<ClassificationService['preprocess']>) {
    byWorker++;
    return preprocess.apply(this, args);
  };
  try {
    const photo = await testPhoto(81, 640, 480);
    const [alone] = await service.analyzeMany([photo], ['embedding']);
    assert.equal(byWorker, 0, 'the photo JPEG did not go to a worker');
    assert.ok(alone.ok);
    const viaWorker = await preprocess.call(service, photo);
    const outputs = await service.infer(viaWorker.tensor, undefined, ['embedding']);
    assert.deepEqual(Array.from(alone.outputs.logits.data), Array.from(outputs.logits.data), 'the same logits as through a worker');
    assert.deepEqual(Array.from(alone.outputs.embedding?.data ?? []), Array.from(outputs.embedding?.data ?? []), 'and the same embedding');
    assert.deepEqual([alone.width, alone.height], [640, 480]);
    byWorker = 0;
    const [png] = await service.classifyMany([await testPhoto(82, 64, 48, 'png')], { topK: 1 });
    assert.ok(png.ok);
    assert.equal(byWorker, 1, 'a PNG went to a worker');
    // Progressive: each scan decoded in full, too slow to hold up every other request's inference.
    byWorker = 0;
    const [progressive] = await service.classifyMany([await sharp(photo).jpeg({ progressive: true }).toBuffer()], { topK: 1 });
    assert.ok(progressive.ok);
    assert.equal(byWorker, 1, 'a progressive JPEG went to a worker');
    // Cut short inside its entropy-coded data: libjpeg refuses it, and the worker's decoder says why, as before.
    byWorker = 0;
    const [damaged] = await service.classifyMany([photo.subarray(0, Math.floor(photo.length * 0.6))], { topK: 1 });
    assert.ok(!damaged.ok && damaged.error.code === 'IMAGE_CORRUPT', `damaged: ${JSON.stringify(damaged)}`);
    assert.equal(byWorker, 1, 'the damaged JPEG was declined by the inference thread and decoded by a worker');
    // A library's bytes in shared memory: declined, they come back shared (never moved), and the worker says why.
    const inShared = (bytes: Uint8Array): Uint8Array => {
      const shared = new Uint8Array(new SharedArrayBuffer(bytes.length));
      shared.set(bytes);
      return shared;
    };
    const [damagedShared] = await service.classifyMany([inShared(photo.subarray(0, Math.floor(photo.length * 0.6)))], { topK: 1 });
    const [photoShared] = await service.classifyMany([inShared(photo)], { topK: 1 });
    assert.ok(!damagedShared.ok && damagedShared.error.code === 'IMAGE_CORRUPT');
    assert.ok(photoShared.ok);
    byWorker = 0;
    const [mirrored] = await service.analyzeMany([photo], ['embedding'], undefined, { mirror: true });
    assert.ok(mirrored.ok);
    assert.equal(byWorker, 1, 'a photo with its mirror image goes to a worker (the two run as one batch)');
    const [next] = await service.classifyMany([photo], { topK: 1 });
    assert.ok(next.ok, 'and the next photo is answered');
  } finally {
    target.preprocess = preprocess;
  }
});

test('images waiting for a preprocessing worker hold no slot: two per worker are handed over at once, the rest wait their turn', async () => {
  const photos = await Promise.all(Array.from({ length: 10 }, (_, i) => testPhoto(50 + i)));
  const target = service as unknown as { preprocess: ClassificationService['preprocess'] };
  const preprocess = target.preprocess;
  let now = 0;
  let peak = 0;
  target.preprocess = async function (this: ClassificationService, ...args: Parameters<ClassificationService['preprocess']>) {
    peak = Math.max(peak, ++now);
    try {
      return await preprocess.apply(this, args);
    } finally {
      now--;
    }
  };
  try {
    const outcomes = await service.classifyMany(photos, { topK: 1 });
    assert.ok(outcomes.every((o) => o.ok));
    assert.equal(peak, 2 * service.workers, `images in the workers' hands at once (${peak} for ${service.workers} worker)`);
    const controller = new AbortController();
    const waiting = service.classifyMany(photos.slice(0, 6), { topK: 1 }, controller.signal);
    setImmediate(() => controller.abort(new Error('client gone')));
    await assert.rejects(waiting);
    const [after] = await service.classifyMany([photos[0]], { topK: 1 });
    assert.ok(after.ok, 'images abandoned while waiting left no place taken');
  } finally {
    target.preprocess = preprocess;
  }
});

test('handed-over bytes move to the worker instead of being copied; views and bytes not handed over stay the caller’s', async () => {
  const photo = await testPhoto(70);
  const whole = new Uint8Array(photo);
  const kept = new Uint8Array(photo);
  const frame = new Uint8Array(photo.length + 16);
  frame.set(photo, 8);
  const view = frame.subarray(8, 8 + photo.length);
  const [moved] = await service.classifyMany([whole], { topK: 3 }, undefined, { handOver: true });
  const [copied] = await service.classifyMany([kept], { topK: 3 });
  const [fromView] = await service.classifyMany([view], { topK: 3 }, undefined, { handOver: true });
  assert.ok(moved.ok && copied.ok && fromView.ok);
  assert.deepEqual(moved.predictions, copied.predictions);
  assert.deepEqual(fromView.predictions, copied.predictions);
  assert.equal(whole.byteLength, 0, 'the handed-over array is empty: its memory moved to the worker');
  assert.equal(kept.byteLength, photo.length);
  assert.equal(view.byteLength, photo.length, 'a view into a larger buffer is copied, never moved');
});

test('a photo answered with a head and its mirror image run as one batch, and count as one image waiting', async () => {
  const photo = await testPhoto(12);
  batches.length = 0;
  waits.length = 0;
  const [outcome] = await service.analyzeMany([photo], ['embedding'], undefined, { mirror: true });
  assert.ok(outcome.ok);
  assert.deepEqual(batches, [2]);
  assert.equal(waits.length, 1);
});

test('only a buffer an array covers whole may move', () => {
  assert.ok(movableBuffer(new Uint8Array(8)));
  assert.equal(movableBuffer(new Uint8Array(8).subarray(1)), null);
  assert.equal(movableBuffer(Buffer.from('small')), null, "Node's small-buffer pool is shared by other buffers");
  assert.equal(movableBuffer(new Uint8Array(new SharedArrayBuffer(8))), null);
  assert.equal(movableBuffer(new Uint8Array(0)), null);
});

test('a list longer than the service holds at once is taken that many at a time; close waits for calls in progress, then refuses with NOT_READY', async () => {
  const own = await startTestService({ workers: 1, batching: { maxQueue: 8 } });
  const photos = await Promise.all([1, 2, 3].map((seed) => testPhoto(seed)));
  const images = Array.from({ length: 19 }, (_, i) => photos[i % 3]);
  const answers = await own.classifyMany(images, { topK: 1 });
  assert.equal(answers.length, 19);
  const alone = await own.classifyMany(photos, { topK: 1 });
  answers.forEach((a, i) => assert.deepEqual(a.ok && a.predictions, alone[i % 3].ok && (alone[i % 3] as { predictions: unknown }).predictions));
  // A call longer than the queue, begun before close, is answered whole: close waits for all of it.
  const inProgress = own.classifyMany(images, { topK: 1 });
  await new Promise((resolve) => setTimeout(resolve, 20));
  await Promise.all([own.close(), own.close()]);
  const whole = await inProgress;
  assert.equal(whole.length, 19);
  for (const a of whole) assert.ok(a.ok);
  await assert.rejects(own.classifyMany([photos[0]]), (err) => isResnetServeError(err, 'NOT_READY'));
  await assert.rejects(own.loadHead('head.json'), (err) => isResnetServeError(err, 'NOT_READY'));
});

test('concurrent calls beyond the queue wait for room and are all answered; with whenFull: refuse, QUEUE_FULL at once', async () => {
  const own = await startTestService({ workers: 1, batching: { maxQueue: 4 } });
  try {
    const photo = await testPhoto(4);
    const calls = await Promise.all(Array.from({ length: 5 }, () => own.classifyMany([photo, photo, photo], { topK: 1 })));
    assert.deepEqual(calls.map((c) => c.filter((a) => a.ok).length), [3, 3, 3, 3, 3]);
    const first = own.classifyMany([photo, photo, photo], { topK: 1 });
    await assert.rejects(own.classifyMany([photo, photo], { topK: 1 }, undefined, { whenFull: 'refuse' }), (err) => isResnetServeError(err, 'QUEUE_FULL'));
    // A waiting call given up (its signal aborted) leaves the queue; the calls after it go on.
    const controller = new AbortController();
    const waiting = own.embedMany([photo, photo], controller.signal);
    controller.abort(new Error('gave up'));
    await assert.rejects(waiting, /gave up/);
    assert.equal((await first).length, 3);
    assert.equal((await own.embedMany([photo])).length, 1);
    assert.equal(own.inFlight, 0);
  } finally {
    await own.close();
  }
});

test('a call with the wrong arguments is refused before any work, naming them', async () => {
  const photo = await testPhoto(5);
  const refused = async (call: Promise<unknown>, message: RegExp): Promise<void> => {
    await assert.rejects(call, (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && message.test(err.message), String(message));
  };
  // A Buffer where an array of them goes: refused, not taken byte by byte.
  await refused(service.classifyMany(photo as unknown as Uint8Array[]), /^Expected an array of images as bytes \(Buffers or Uint8Arrays\) for images but received a Buffer of \d+ bytes$/);
  await refused(service.classifyMany('/photos/cat.jpg' as unknown as Uint8Array[]), /for images but received string "\/photos\/cat\.jpg"$/);
  await refused(service.classifyMany([photo, '/photos/cat.jpg' as unknown as Uint8Array]), /for images\[1\] but received string/);
  await refused(service.embedMany([photo], { topK: 1 } as unknown as AbortSignal), /^Expected an AbortSignal for signal but received object$/);
  await refused(service.classifyMany([photo], { topK: '3' as unknown as number }), /for topK but received string "3"/);
  await refused(service.classifyMany([photo], {}, undefined, { whenFull: 'later' as 'wait' }), /for whenFull but received string "later"/);
  assert.equal(service.inFlight, 0);
});

test('a full queue says how full, and why a photo answered with a head counts twice', () => {
  const release = service.admit(service.maxAdmitted - 1);
  try {
    assert.throws(() => service.ensureCapacity(2), (err: unknown) => isResnetServeError(err, 'QUEUE_FULL') && err.message === `The server is busy (${service.maxAdmitted - 1} images in progress, of at most ${service.maxAdmitted}); retry shortly`);
    assert.throws(() => service.admit(2, true), (err: unknown) => isResnetServeError(err, 'QUEUE_FULL') && /; a photo answered with a head counts as two, it and its mirror image\); retry shortly$/.test(err.message));
    service.ensureCapacity(1);
  } finally {
    release();
  }
});
