import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { isResnetServeError } from '../errors.js';
import { writeBmp } from '../testing/bmp-writer.js';
import { REPO_ROOT } from '../testing/shared.js';
import { countJpegScans } from './jpeg-scans.js';
import { decodeError, decodeImage, drawableImage } from './decode.js';
import { restrictImageLoaders } from './guarded-sharp.js';
import { DEFAULT_DECODE_LIMITS, HEIF_PIXEL_WEIGHT, maxPixelsFor } from './decode-limits.js';

/** A w×h RGB gradient, so orientation and channel order are visible. */
function gradient(width: number, height: number): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / (width - 1);
      data[i + 1] = (y * 255) / (height - 1);
      data[i + 2] = 77;
    }
  }
  return data;
}

async function rejects(bytes: Buffer, code: string, limits?: { maxPixels?: number }, mention = /./): Promise<void> {
  const full = limits?.maxPixels === undefined ? undefined : { maxPixels: limits.maxPixels };
  await assert.rejects(decodeImage(bytes, full), (err: unknown) => isResnetServeError(err) && err.code === code && mention.test(err.message));
}

test('PNG RGB decodes to exact pixels', async () => {
  const raw = gradient(16, 8);
  const png = await sharp(raw, { raw: { width: 16, height: 8, channels: 3 } }).png().toBuffer();
  const img = await decodeImage(png);
  assert.deepEqual([img.width, img.height, img.channels], [16, 8, 3]);
  assert.deepEqual(Buffer.from(img.data), raw);
});

test('EXIF orientation 6 is applied (the image comes out rotated upright)', async () => {
  const raw = gradient(16, 8);
  const jpeg = await sharp(raw, { raw: { width: 16, height: 8, channels: 3 } }).jpeg({ quality: 100 }).withMetadata({ orientation: 6 }).toBuffer();
  const img = await decodeImage(jpeg);
  assert.deepEqual([img.width, img.height], [8, 16]);
});

test('grayscale stays one channel; alpha is dropped without compositing', async () => {
  const gray = await sharp(Buffer.from([0, 128, 255, 64]), { raw: { width: 2, height: 2, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  const g = await decodeImage(gray);
  assert.equal(g.channels, 1);
  assert.deepEqual([...g.data], [0, 128, 255, 64]);
  const rgba = await sharp(Buffer.from([200, 100, 50, 0, 10, 20, 30, 255]), { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
  const c = await decodeImage(rgba);
  assert.equal(c.channels, 3);
  assert.deepEqual([...c.data], [200, 100, 50, 10, 20, 30]);
});

test('16-bit samples are scaled by 1/257', async () => {
  const samples = new Uint16Array([0, 257 * 100, 65535, 1000]);
  const png = await sharp(samples, { raw: { width: 4, height: 1, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  const meta = await sharp(png).metadata();
  assert.equal(meta.depth, 'ushort');
  const img = await decodeImage(png);
  assert.deepEqual([...img.data], [0, 100, 255, 4]);
});

test('CMYK JPEG becomes RGB by the naive formula', async () => {
  const raw = gradient(8, 8);
  const jpeg = await sharp(raw, { raw: { width: 8, height: 8, channels: 3 } }).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer();
  assert.equal((await sharp(jpeg).metadata()).space, 'cmyk');
  const img = await decodeImage(jpeg);
  assert.deepEqual([img.width, img.height, img.channels], [8, 8, 3]);
});

test('an animated GIF gives its first frame', async () => {
  const frames = Buffer.concat([Buffer.alloc(4 * 4 * 4, 255), Buffer.alloc(4 * 4 * 4, 0)]);
  const gif = await sharp(frames, { raw: { width: 4, height: 8, channels: 4, pageHeight: 4 } as never }).gif().toBuffer();
  assert.equal((await sharp(gif).metadata()).pages, 2);
  const img = await decodeImage(gif);
  assert.deepEqual([img.width, img.height], [4, 4]);
  assert.ok(img.data.every((v) => v === 255));
});

test('BMP is decoded without libvips', async () => {
  const pixels = new Uint8Array(3 * 2 * 3);
  for (let i = 0; i < 6; i++) pixels.set([30, 20, 10 * i], i * 3);
  const bmp = writeBmp({ width: 3, height: 2, bitsPerPixel: 24, pixels });
  const img = await decodeImage(bmp);
  assert.deepEqual([img.width, img.height, img.channels], [3, 2, 3]);
  assert.deepEqual([...img.data.subarray(0, 6)], [30, 20, 0, 30, 20, 10]);
});

test('bad input gets typed errors', async () => {
  await rejects(Buffer.alloc(0), 'IMAGE_EMPTY');
  await rejects(Buffer.from('hello, I am a text file pretending to be a JPEG'), 'IMAGE_UNSUPPORTED');
  await rejects(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'), 'IMAGE_UNSUPPORTED');
  const jpeg = await sharp(gradient(64, 64), { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
  await rejects(jpeg.subarray(0, Math.floor(jpeg.length / 2)), 'IMAGE_CORRUPT', undefined, /^Image data is damaged or truncated \(premature end of JPEG image\)$/);
  // Cut short within the first bytes (an upload that stopped at once): still damaged, not "not an image".
  const png8 = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  for (const [cut, format] of [[jpeg.subarray(0, 2), 'JPEG'], [png8, 'PNG'], [png8.subarray(0, 3), 'PNG'], [Buffer.from('GIF8'), 'GIF'], [Buffer.from('II*'), 'TIFF']] as const) {
    await rejects(cut, 'IMAGE_CORRUPT', undefined, new RegExp(`^The file is only ${cut.length} bytes: the start of a ${format} image, cut short$`));
  }
  for (const text of ['GIVE', 'ok', 'II', '\xff\xfe']) await rejects(Buffer.from(text, 'latin1'), 'IMAGE_UNSUPPORTED');
  // A JPEG's start-of-image marker and then anything else (a camera frame half overwritten with zeros): a damaged JPEG.
  const overwritten = Buffer.from(jpeg);
  overwritten.fill(0, 2, 400);
  for (const damaged of [Buffer.concat([Buffer.from([0xff, 0xd8]), Buffer.alloc(5000)]), overwritten]) await rejects(damaged, 'IMAGE_CORRUPT');
  // A start-of-scan naming a colour component the frame does not have: libjpeg's own sentence, without libvips' prefixes.
  const badScan = Buffer.from(jpeg);
  const sos = badScan.indexOf(Buffer.from([0xff, 0xda]));
  badScan[sos + 5] = 9;
  await rejects(badScan, 'IMAGE_CORRUPT', undefined, /^Image data is damaged or truncated \(Invalid component ID 9 in SOS\)$/);
  await rejects(jpeg, 'IMAGE_TOO_LARGE', { maxPixels: 64 * 64 - 1 });
  // A PNG declaring sides PNG allows (up to 2^31 - 1) but libspng does not: too large, not "corrupt header".
  const png = await sharp(gradient(8, 8), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
  for (const [width, height] of [[1, 2 ** 31 - 1], [2 ** 31 - 1, 2 ** 31 - 1], [1, 60_000_000]]) {
    const declared = Buffer.from(png);
    declared.writeUInt32BE(width, 16);
    declared.writeUInt32BE(height, 20);
    await rejects(declared, 'IMAGE_TOO_LARGE', undefined, new RegExp(`^Image is ${width}x${height}`));
  }
  const ok = await decodeImage(jpeg, { maxPixels: 64 * 64 });
  assert.equal(ok.width, 64);
});

test('an AVIF counts HEIF_PIXEL_WEIGHT times its pixels against the limit (its decoder holds ~19 bytes a pixel); other formats once', async () => {
  const raw = gradient(64, 48);
  const avif = await sharp(raw, { raw: { width: 64, height: 48, channels: 3 } }).avif({ effort: 0 }).toBuffer();
  const png = await sharp(raw, { raw: { width: 64, height: 48, channels: 3 } }).png().toBuffer();
  const pixels = 64 * 48;
  assert.equal(maxPixelsFor('heif', { maxPixels: 300 }), 100);
  assert.equal(maxPixelsFor('avif', { maxPixels: 300 }), 100);
  assert.equal(maxPixelsFor('png', { maxPixels: 300 }), 300);
  // Refused from the header, with the reason and the limit it came from; the same size as PNG passes.
  await rejects(avif, 'IMAGE_TOO_LARGE', { maxPixels: HEIF_PIXEL_WEIGHT * pixels - 1 }, new RegExp(`above the limit of ${pixels - 1} for AVIF and HEIF images .*count ${HEIF_PIXEL_WEIGHT}× against the limit of ${HEIF_PIXEL_WEIGHT * pixels - 1} pixels`));
  assert.equal((await decodeImage(png, { maxPixels: HEIF_PIXEL_WEIGHT * pixels - 1 })).width, 64);
  const ok = await decodeImage(avif, { maxPixels: HEIF_PIXEL_WEIGHT * pixels });
  assert.deepEqual([ok.width, ok.height], [64, 48]);
  // Drawing (overlays, thumbnails) decodes under the same weighted limit.
  await assert.rejects((await drawableImage(avif, { maxPixels: HEIF_PIXEL_WEIGHT * pixels - 1 })).png().toBuffer(), /pixel limit/);
  assert.ok((await (await drawableImage(avif, { maxPixels: HEIF_PIXEL_WEIGHT * pixels })).png().toBuffer()).length > 0);
});

test('a supported format libvips cannot open is a damaged image of that format, not an unsupported one', async () => {
  // libtiff writes the directory after the pixels: a TIFF cut short has the TIFF signature and no header libvips can read.
  const tiff = await sharp(gradient(64, 48), { raw: { width: 64, height: 48, channels: 3 } }).tiff({ compression: 'none' }).toBuffer();
  await rejects(tiff.subarray(0, Math.floor(tiff.length * 0.9)), 'IMAGE_CORRUPT', undefined, /^Image data is damaged or truncated \(it starts as TIFF but its header cannot be read\)$/);
  assert.equal(decodeError(new Error('Input buffer contains unsupported image format'), DEFAULT_DECODE_LIMITS, { format: 'png' }).code, 'IMAGE_CORRUPT');
  assert.equal(decodeError(new Error('Input buffer contains unsupported image format'), DEFAULT_DECODE_LIMITS).code, 'IMAGE_UNSUPPORTED');
});

test("a damaged image's reason is its own format's loader's, never another image's decoding at the same time", async () => {
  // libvips keeps one error buffer for all threads: these are messages it gave a truncated WebP and a PNG, decoded beside others.
  const mixed = new Error('Input buffer has corrupt header: vipspng: libpng read error\nwebp: unable to parse image');
  assert.equal(decodeError(mixed, DEFAULT_DECODE_LIMITS, { format: 'webp' }).message, 'Image data is damaged or truncated (unable to parse image)');
  assert.equal(decodeError(mixed, DEFAULT_DECODE_LIMITS, { format: 'png' }).message, 'Image data is damaged or truncated (libpng read error)');
  const emptied = new Error('Warning treated as error due to failOn setting');
  assert.equal(decodeError(emptied, DEFAULT_DECODE_LIMITS, { format: 'png' }).message, 'Image data is damaged or truncated (the PNG data could not be read)');
  // Decoded for real, all at once on libuv's threads.
  const noise = sharp({ create: { width: 320, height: 240, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
  const cut = async (format: 'png' | 'webp' | 'gif'): Promise<Buffer> => {
    const whole = await noise.clone().toFormat(format).toBuffer();
    return whole.subarray(0, Math.floor(whole.length * 0.6));
  };
  const own: Record<string, RegExp> = { png: /\((?:libpng read error|the PNG data could not be read)\)$/, webp: /\((?:unable to parse image|the WebP data could not be read)\)$/, gif: /\((?:Unexpected end of GIF source data|the GIF data could not be read)\)$/ };
  const files = await Promise.all((['png', 'webp', 'gif'] as const).map(async (format) => [format, await cut(format)] as const));
  const outcomes = await Promise.all(Array.from({ length: 30 }, () => files).flat().map(async ([format, bytes]) => {
    const err = await decodeImage(Buffer.from(bytes)).then(() => null, (e: unknown) => e);
    return { format, err };
  }));
  for (const { format, err } of outcomes) {
    assert.ok(isResnetServeError(err) && err.code === 'IMAGE_CORRUPT', `${format}: ${String(err)}`);
    assert.match(err.message, own[format], format);
  }
});

test('a 12-bit JPEG is unsupported (415) and said so, in both modes, not reported as damaged', async () => {
  const jpeg = Buffer.from(await sharp(gradient(64, 48), { raw: { width: 64, height: 48, channels: 3 } }).jpeg().toBuffer());
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  assert.ok(sof > 0, 'a baseline frame header');
  jpeg[sof + 4] = 12;
  for (const options of [{}, { resizeTo: () => ({ width: 32, height: 24 }) }]) {
    await assert.rejects(decodeImage(jpeg, undefined, options), (err: unknown) => isResnetServeError(err) && err.code === 'IMAGE_UNSUPPORTED' && /^12-bit JPEGs .* not supported/.test(err.message));
  }
});

test("a decode cut short by the time limit is IMAGE_TOO_COMPLEX even when libvips also names the read it was in (AVIF: 'bad seek')", () => {
  const timedOut = new Error('source: bad seek to 6015\nheifload_source: timeout');
  assert.equal(decodeError(timedOut, DEFAULT_DECODE_LIMITS).code, 'IMAGE_TOO_COMPLEX');
  assert.equal(decodeError(new Error('source: bad seek to 6015'), DEFAULT_DECODE_LIMITS).code, 'IMAGE_UNSUPPORTED');
});

describe('only the decoders we accept ever see the bytes', () => {
  const svg = (prefix: string, bytes: number): Buffer => {
    const shapes = '<rect width="10" height="10" fill="red"/>'.repeat(Math.ceil(bytes / 40));
    return Buffer.from(`${prefix}<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000">${shapes}</svg>`);
  };

  test('SVG disguised behind an ftyp, JXL or JP2 comment is refused before any parsing', async () => {
    for (const prefix of ['<!--ftyp-->', '<!--JXL -->', '<!--jP  -->', '<!--ftypheic-->']) {
      const bytes = svg(prefix, 4 * 1024 * 1024);
      const start = performance.now();
      await rejects(bytes, 'IMAGE_UNSUPPORTED');
      assert.ok(performance.now() - start < 200, `${prefix}: ${(performance.now() - start).toFixed(0)} ms`);
    }
  });

  test('libvips itself will not load SVG or PDF in a process restricted to our loaders, whatever calls it', async () => {
    restrictImageLoaders();
    await assert.rejects(sharp(svg('', 100)).metadata(), /not permitted|blocked|unsupported image format/i);
    await assert.rejects(sharp(Buffer.from('%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF')).metadata());
  });

  test('JPEG XL, JPEG 2000 and iPhone HEIC say plainly that this build cannot decode them', async () => {
    const jxl = Buffer.from([0xff, 0x0a, 0xfa, 0x1f, 0x42, 0x0a, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00]);
    const jp2 = Buffer.concat([Buffer.from([0, 0, 0, 0x0c]), Buffer.from('jP  \r\n\x87\n', 'latin1'), Buffer.alloc(32)]);
    await rejects(jxl, 'IMAGE_UNSUPPORTED', {}, /JPEG XL/);
    await rejects(jp2, 'IMAGE_UNSUPPORTED', {}, /JPEG 2000/);
    const heic = readFileSync(join(REPO_ROOT, 'src', 'image', 'fixtures', 'iphone-style.heic'));
    await rejects(heic, 'IMAGE_UNSUPPORTED', {}, /HEIC[\s\S]*export them as JPEG/);
  });

  test('a video (MP4, QuickTime, WebM) is named as one, not as a damaged photo', async () => {
    const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom\0\0\x02\0isomiso2'), Buffer.alloc(64)]);
    const mov = Buffer.concat([Buffer.from([0, 0, 0, 0x14]), Buffer.from('ftypqt  \0\0\0\0qt  '), Buffer.alloc(64)]);
    const webm = Buffer.concat([Buffer.from([0x1a, 0x45, 0xdf, 0xa3]), Buffer.alloc(64)]);
    for (const video of [mp4, mov, webm]) await rejects(video, 'IMAGE_UNSUPPORTED', {}, /A video, not a photo/);
    await rejects(Buffer.from('plain text, not a video'), 'IMAGE_UNSUPPORTED', {}, /^Not an image in a supported format/);
  });

  test('a progressive JPEG with hundreds of scans is refused from its markers, a normal one decodes', async () => {
    const progressive = await sharp(gradient(64, 64), { raw: { width: 64, height: 64, channels: 3 } }).jpeg({ progressive: true }).toBuffer();
    assert.ok((await decodeImage(progressive)).width === 64);
    const normalScans = countJpegScans(progressive);
    assert.ok(normalScans >= 2 && normalScans <= 20, `${normalScans} scans`);
    // Repeat the last scan (its SOS segment and entropy data) 500 times before EOI.
    const lastScan = progressive.lastIndexOf(Buffer.from([0xff, 0xda]));
    const scan = progressive.subarray(lastScan, progressive.length - 2);
    const bomb = Buffer.concat([progressive.subarray(0, lastScan), ...Array.from({ length: 500 }, () => scan), Buffer.from([0xff, 0xd9])]);
    assert.ok(countJpegScans(bomb) > 100);
    const start = performance.now();
    await rejects(bomb, 'IMAGE_TOO_COMPLEX', {}, /scans/);
    assert.ok(performance.now() - start < 200);
  });
});
