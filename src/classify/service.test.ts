import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { isResnetServeError } from '../errors.js';
import { startTestService, testPhoto } from '../testing/fixtures.js';
import type { ClassificationService } from './service.js';

let service: ClassificationService;

before(async () => {
  service = await startTestService({ workers: 1, preprocess: 'exact' });
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

test('the decode time budget is an option, checked up front', async () => {
  await assert.rejects(startTestService({ maxDecodeMs: 0 }), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && /maxDecodeMs/.test(err.message));
});
