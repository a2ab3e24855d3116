import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { MAX_PHOTO_FILE_BYTES } from '../image/read-photo.js';
import { UsageError } from './args.js';
import { readPipedPhoto } from './stdin-photo.js';

test('a terminal on standard input is a usage error that says how to pipe a photo in', async () => {
  const terminal = Object.assign(Readable.from([]), { isTTY: true });
  await assert.rejects(readPipedPhoto(terminal), (err: Error) => err instanceof UsageError && /none is piped in \(resnet-serve classify - < photo\.jpg\)/.test(err.message));
});

test('piped bytes are read whole; what starts as no image is read no further; more than any photo is refused', async () => {
  const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(100, 1)]);
  assert.deepEqual(await readPipedPhoto(Readable.from([jpeg.subarray(0, 50), jpeg.subarray(50)])), jpeg);
  let pulled = 0;
  const text = Readable.from((function* () {
    for (let i = 0; i < 1000; i++) {
      pulled++;
      yield Buffer.from('not a photo, line after line\n');
    }
  })());
  assert.equal((await readPipedPhoto(text)).toString(), 'not a photo, line after line\n');
  assert.ok(pulled < 10, `read ${pulled} chunks of a stream that is no image`);
  const chunk = Buffer.concat([jpeg, Buffer.alloc(64 * 2 ** 20 - jpeg.length)]);
  const endless = Readable.from((function* () {
    for (let i = 0; i <= MAX_PHOTO_FILE_BYTES / chunk.length; i++) yield chunk;
  })());
  await assert.rejects(readPipedPhoto(endless), { code: 'IMAGE_TOO_LARGE' });
});
