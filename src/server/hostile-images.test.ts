/** Hostile and odd uploads: a typed 4xx or a normal answer, never a crash; memory stays bounded and the next request works. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { ClassificationService } from '../classify/service.js';
import { multipartBody, startTestService, testPhoto } from '../testing/fixtures.js';
import * as hostile from '../testing/hostile.js';
import { buildApp, type ResnetApp } from './app.js';

let service: ClassificationService;
let app: ResnetApp;
let good: Buffer;

before(async () => {
  service = await startTestService({ workers: 1 });
  app = await buildApp({ service, processMetrics: false });
  good = await testPhoto(2);
});
after(async () => {
  await app.close();
  await service.close();
});

async function post(bytes: Buffer, name = 'upload.jpg') {
  const res = await app.inject({ method: 'POST', url: '/predict', ...multipartBody([{ field: 'file', filename: name, type: 'image/jpeg', data: bytes }]) });
  return { status: res.statusCode, body: res.json() };
}

test('bad input gets a 4xx with a stable code and a message', async () => {
  const jpeg = await sharp(good).jpeg({ quality: 90 }).toBuffer();
  const cases: [string, Buffer, number, string][] = [
    ['empty file', Buffer.alloc(0), 400, 'IMAGE_EMPTY'],
    ['random bytes', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)), 415, 'IMAGE_UNSUPPORTED'],
    ['text named .jpg', Buffer.from('Dear photo library, this is a letter.\n'), 415, 'IMAGE_UNSUPPORTED'],
    ['HTML named .jpg', Buffer.from('<!doctype html><html><body><img src=x onerror=alert(1)></body></html>'), 415, 'IMAGE_UNSUPPORTED'],
    ['PDF named .jpg', Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n'), 415, 'IMAGE_UNSUPPORTED'],
    ['PNG with a broken CRC', await hostile.pngWithBadCrc(), 422, 'IMAGE_CORRUPT'],
    ['PNG declaring 30000×30000', hostile.pngDeclaring(30000, 30000), 422, 'IMAGE_TOO_LARGE'],
    ['PNG declaring 100000×1', hostile.pngDeclaring(100000, 1), 422, 'IMAGE_TOO_LARGE'],
    ['JPEG declaring 30000×30000', await hostile.jpegDeclaring(30000, 30000), 422, 'IMAGE_TOO_LARGE'],
    ['JPEG declaring 65000×1', await hostile.jpegDeclaring(65000, 1), 422, 'IMAGE_TOO_LARGE'],
    // 49 MP is under the limit for other formats, but AVIF's decoder would hold ~890 MB for it.
    ['AVIF declaring 7000×7000', await hostile.avifDeclaring(7000, 7000), 422, 'IMAGE_TOO_LARGE'],
    ['SVG with external references', hostile.svgWithExternalRefs(), 415, 'IMAGE_UNSUPPORTED'],
    ['0×0 PNG', hostile.pngDeclaring(0, 0), 422, 'IMAGE_CORRUPT'],
  ];
  for (let i = 1; i <= 10; i++) cases.push([`JPEG truncated at ${i}/11`, jpeg.subarray(0, Math.floor((jpeg.length * i) / 11)), 0, '']);
  for (const [name, bytes, status, code] of cases) {
    const r = await post(bytes);
    if (status) {
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, code, name);
    } else {
      assert.ok(r.status >= 400 && r.status < 500, `${name}: ${r.status}`);
      assert.match(r.body.code, /^IMAGE_(CORRUPT|UNSUPPORTED)$/, name);
    }
    assert.ok(typeof r.body.error === 'string' && r.body.error.length > 10, name);
  }
});

test('odd but valid images are answered like torchvision would: first frame, first page, ignored bad metadata', async () => {
  const cases: [string, Buffer][] = [
    ['GIF with 5000 frames', await hostile.gifWithFrames(5000)],
    ['multi-page TIFF', await hostile.multiPageTiff(4)],
    ['EXIF orientation 9', await hostile.jpegWithOrientation(9)],
    ['EXIF orientation 0', await hostile.jpegWithOrientation(0)],
    ['EXIF orientation 65535', await hostile.jpegWithOrientation(65535)],
    ['malformed ICC profile', await hostile.jpegWithMalformedIcc()],
    ['1×1 PNG', await sharp({ create: { width: 1, height: 1, channels: 3, background: '#fff' } }).png().toBuffer()],
    ['16-bit RGBA PNG', await hostile.png16Rgba()],
    ['CMYK JPEG without a profile', await hostile.cmykJpegWithoutProfile()],
  ];
  for (const [name, bytes] of cases) {
    const r = await post(bytes);
    assert.equal(r.status, 200, `${name}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.length, 3, name);
  }
});

test('after a barrage of bad uploads the process is fine: bounded memory, next request works', async () => {
  const rssBefore = process.memoryUsage().rss;
  const bombs = [hostile.pngDeclaring(30000, 30000), await hostile.jpegDeclaring(30000, 30000), await hostile.avifDeclaring(7000, 7000), await hostile.gifWithFrames(5000), Buffer.from('junk')];
  for (let i = 0; i < 40; i++) await post(bombs[i % bombs.length]);
  const grown = (process.memoryUsage().rss - rssBefore) / (1024 * 1024);
  assert.ok(grown < 200, `RSS grew ${grown.toFixed(0)} MB`);
  const r = await post(good);
  assert.equal(r.status, 200);
});
