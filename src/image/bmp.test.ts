import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { writeBmp } from '../testing/bmp-writer.js';
import { decodeBmp, readBmpHeader } from './bmp.js';
import { decodeImage } from './decode.js';

const W = 13;
const H = 7;
const rgb = Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 37 + (i >> 5)) & 255);
const palette = Uint8Array.from({ length: 256 * 3 }, (_, i) => (i * 91) & 255);
const indices = (levels: number): Uint8Array => Uint8Array.from({ length: W * H }, (_, i) => (i * 7 + (i >> 3)) % levels);
const fromPalette = (idx: Uint8Array): number[] => [...idx].flatMap((i) => [palette[i * 3], palette[i * 3 + 1], palette[i * 3 + 2]]);

describe('BMP decoding, as Pillow reads each kind', () => {
  test('24-bit and 32-bit, bottom-up and top-down', () => {
    for (const bitsPerPixel of [24, 32] as const) {
      for (const topDown of [false, true]) {
        const img = decodeBmp(writeBmp({ width: W, height: H, bitsPerPixel, pixels: rgb, topDown }));
        assert.deepEqual([img.width, img.height], [W, H]);
        assert.deepEqual([...img.data], [...rgb], `${bitsPerPixel}-bit, topDown ${topDown}`);
      }
    }
  });

  test('16-bit 5-5-5 scales each channel as v * 255 / 31', () => {
    const img = decodeBmp(writeBmp({ width: W, height: H, bitsPerPixel: 16, pixels: rgb }));
    assert.deepEqual([...img.data], [...rgb].map((v) => Math.floor(((v >> 3) * 255) / 31)));
  });

  test('1, 4 and 8-bit palettes, and RLE8', () => {
    for (const bitsPerPixel of [1, 4, 8] as const) {
      const idx = indices(1 << bitsPerPixel);
      const img = decodeBmp(writeBmp({ width: W, height: H, bitsPerPixel, pixels: idx, palette: palette.subarray(0, (1 << bitsPerPixel) * 3) }));
      assert.deepEqual([...img.data], fromPalette(idx), `${bitsPerPixel}-bit`);
    }
    const idx = Uint8Array.from({ length: W * H }, (_, i) => Math.floor(i / 5) % 4);
    const rle = writeBmp({ width: W, height: H, bitsPerPixel: 8, pixels: idx, palette, rle8: true });
    assert.deepEqual([...decodeBmp(rle).data], fromPalette(idx));
  });

  test('decodeImage goes through it, with the pixel limit checked from the header', async () => {
    const bmp = writeBmp({ width: W, height: H, bitsPerPixel: 24, pixels: rgb });
    const img = await decodeImage(bmp);
    assert.deepEqual([img.width, img.height, img.channels], [W, H, 3]);
    await assert.rejects(decodeImage(bmp, { maxPixels: W * H - 1 }), (err) => isResnetServeError(err, 'IMAGE_TOO_LARGE'));
  });
});

describe('hostile BMP files are refused or bounded before work', () => {
  const refused = (bytes: Uint8Array, code: 'IMAGE_CORRUPT' | 'IMAGE_UNSUPPORTED', mention: RegExp): void => {
    assert.throws(() => readBmpHeader(bytes), (err) => isResnetServeError(err, code) && mention.test(err.message));
  };

  test('a palette count of 0xFFFFFFFF', () => {
    const start = performance.now();
    refused(writeBmp({ width: W, height: H, bitsPerPixel: 8, pixels: indices(256), palette, declaredColours: 0xffffffff }), 'IMAGE_CORRUPT', /palette colours/);
    assert.ok(performance.now() - start < 100);
  });

  test('pixel data shorter than the header says', () => {
    const bmp = writeBmp({ width: W, height: H, bitsPerPixel: 24, pixels: rgb });
    refused(bmp.subarray(0, bmp.length - 10), 'IMAGE_CORRUPT', /truncated/);
  });

  test('nonsense fields: zero width, 3 planes, 7 bits per pixel, pixel offset past the end, unknown header size', () => {
    const base = writeBmp({ width: W, height: H, bitsPerPixel: 24, pixels: rgb });
    const edit = (write: (b: Buffer) => void): Buffer => {
      const b = Buffer.from(base);
      write(b);
      return b;
    };
    refused(edit((b) => b.writeInt32LE(0, 18)), 'IMAGE_CORRUPT', /0x7/);
    refused(edit((b) => b.writeUInt16LE(3, 26)), 'IMAGE_CORRUPT', /planes/);
    refused(edit((b) => b.writeUInt16LE(7, 28)), 'IMAGE_CORRUPT', /bits per pixel/);
    refused(edit((b) => b.writeUInt32LE(1 << 30, 10)), 'IMAGE_CORRUPT', /outside the file/);
    refused(edit((b) => b.writeUInt32LE(77, 14)), 'IMAGE_UNSUPPORTED', /not a known BMP version/);
  });

  test('an RLE8 file of a megabyte declaring 49 megapixels decodes in bounded time (linear, not quadratic)', async () => {
    const width = 7000;
    const height = 7000;
    // Runs of 255 across every row, then the stream ends early: the rest is palette entry 0.
    const runs = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < runs.length; i += 2) {
      runs[i] = 255;
      runs[i + 1] = (i >> 1) & 255;
    }
    const head = writeBmp({ width: 1, height: 1, bitsPerPixel: 8, pixels: new Uint8Array(1), palette, rle8: true });
    const bmp = Buffer.concat([head.subarray(0, 54 + 256 * 4), runs]);
    bmp.writeInt32LE(width, 18);
    bmp.writeInt32LE(height, 22);
    const start = performance.now();
    const img = await decodeImage(bmp);
    const ms = performance.now() - start;
    assert.deepEqual([img.width, img.height], [width, height]);
    assert.ok(ms < 10_000, `${ms.toFixed(0)} ms`);
  });
});
