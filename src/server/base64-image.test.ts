import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testPhoto } from '../testing/fixtures.js';
import { decodeBase64Image } from './base64-image.js';

test('base64 text of a photo (plain, with line breaks, as a data URL) is decoded; anything else is left as it was', async () => {
  const photo = await testPhoto(3, 64, 48);
  const b64 = photo.toString('base64');
  assert.deepEqual(decodeBase64Image(Buffer.from(b64)), photo);
  assert.deepEqual(decodeBase64Image(Buffer.from(`${b64.replace(/.{76}/g, '$&\n')}\n`)), photo);
  assert.deepEqual(decodeBase64Image(Buffer.from(`data:image/jpeg;base64,${b64}`)), photo);
  // The photo itself, text that is not base64, and base64 of something that is not an image: unchanged.
  for (const other of [photo, Buffer.from('hello, this is not a photo at all'), Buffer.from(Buffer.from('just some words here, no image').toString('base64')), Buffer.alloc(0)]) {
    assert.equal(decodeBase64Image(other), other);
  }
});
