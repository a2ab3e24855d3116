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
  // A large noisy PNG keeps the worker busy for a while in exact mode (full decode and Pillow's filter in JavaScript).
  const noise = Buffer.alloc(4000 * 3000 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  const big = await sharp(noise, { raw: { width: 4000, height: 3000, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
  const controller = new AbortController();
  const abandoned = service.preprocess(big, controller.signal);
  setTimeout(() => controller.abort(new Error('deadline')), 150);
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
