import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { testPhoto } from '../testing/fixtures.js';
import { suitsInferenceThread } from './service-calls.js';

const MAX_PIXELS = 40_000_000;

test('the inference thread decodes only baseline photo JPEGs of at most 12 MP and 4 MB itself', async () => {
  const photo = await testPhoto(7, 640, 480);
  assert.equal(suitsInferenceThread(photo, MAX_PIXELS), true, 'a baseline photo JPEG');
  assert.equal(suitsInferenceThread(await sharp(photo).jpeg({ progressive: true }).toBuffer(), MAX_PIXELS), false, 'progressive');
  assert.equal(suitsInferenceThread(await sharp(photo).png().toBuffer(), MAX_PIXELS), false, 'a PNG');
  assert.equal(suitsInferenceThread(photo, 640 * 480 - 1), false, 'more pixels than the service takes');
  const blank = (width: number, height: number): Promise<Buffer> => sharp({ create: { width, height, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  assert.equal(suitsInferenceThread(await blank(4000, 3000), MAX_PIXELS), true, '4000×3000');
  assert.equal(suitsInferenceThread(await blank(4000, 3001), MAX_PIXELS), false, 'over 12 MP');
  const padded = Buffer.concat([photo, Buffer.alloc(4 * 1024 * 1024 - photo.length + 1)]);
  assert.equal(suitsInferenceThread(padded.subarray(0, 4 * 1024 * 1024), MAX_PIXELS), true, '4 MB');
  assert.equal(suitsInferenceThread(padded, MAX_PIXELS), false, 'over 4 MB');
});
