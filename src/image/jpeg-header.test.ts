import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { testPhoto } from '../testing/fixtures.js';
import { DATASETS_DIR, REFERENCE_DIR, skipWithoutReference } from '../testing/shared.js';
import { readJpegHeader } from './jpeg-header.js';

/** `jpeg` with an APP1 segment holding `payload` inserted after its SOI marker. */
function withApp1(jpeg: Buffer, payload: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt16BE(0xffe1, 0);
  length.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), length, payload, jpeg.subarray(2)]);
}

/** An EXIF block whose IFD0 holds `entries` (`[tag, type, count, value]`), in either byte order. */
function exif(entries: [number, number, number, number][], bigEndian = false): Buffer {
  const tiff = Buffer.alloc(8 + 2 + 12 * entries.length + 4);
  const u16 = (v: number, at: number): number => (bigEndian ? tiff.writeUInt16BE(v, at) : tiff.writeUInt16LE(v, at));
  const u32 = (v: number, at: number): number => (bigEndian ? tiff.writeUInt32BE(v, at) : tiff.writeUInt32LE(v, at));
  tiff.write(bigEndian ? 'MM' : 'II', 0, 'latin1');
  u16(42, 2);
  u32(8, 4);
  u16(entries.length, 8);
  entries.forEach(([tag, type, count, value], i) => {
    u16(tag, 10 + 12 * i);
    u16(type, 12 + 12 * i);
    u32(count, 14 + 12 * i);
    u16(value, 18 + 12 * i);
  });
  return Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
}

/** What sharp says of the same file, in the header's terms (null where fast decoding leaves it to sharp). */
async function sharpView(bytes: Buffer): Promise<{ width: number; height: number; channels: number; orientation: number; progressive: boolean } | null> {
  const meta = await sharp(bytes).metadata();
  if (meta.format !== 'jpeg' || meta.depth !== 'uchar' || (meta.space !== 'srgb' && meta.space !== 'b-w')) return null;
  return { width: meta.width as number, height: meta.height as number, channels: meta.space === 'b-w' ? 1 : 3, orientation: meta.orientation ?? 1, progressive: meta.isProgressive ?? false };
}

test('reads size, channels and every EXIF orientation (either byte order) as sharp does', async () => {
  const photo = await testPhoto(3, 320, 200);
  for (let orientation = 1; orientation <= 8; orientation++) {
    const written = await sharp(photo).withMetadata({ orientation }).jpeg().toBuffer();
    assert.deepEqual(readJpegHeader(written), await sharpView(written), `orientation ${orientation} written by libvips`);
    for (const bigEndian of [false, true]) {
      const spliced = withApp1(photo, exif([[0x0112, 3, 1, orientation]], bigEndian));
      assert.deepEqual(readJpegHeader(spliced), { width: 320, height: 200, channels: 3, orientation, progressive: false });
      assert.deepEqual(readJpegHeader(spliced), await sharpView(spliced));
    }
  }
  const grey = await sharp(photo).toColourspace('b-w').jpeg().toBuffer();
  assert.deepEqual(readJpegHeader(grey), { width: 320, height: 200, channels: 1, orientation: 1, progressive: false });
  const progressive = await sharp(photo).jpeg({ progressive: true }).toBuffer();
  assert.deepEqual(readJpegHeader(progressive), await sharpView(progressive));
  assert.equal(readJpegHeader(progressive)?.progressive, true);
});

test('leaves to sharp what is not plainly an 8-bit grey or colour photo', async () => {
  const photo = await testPhoto(4, 160, 120);
  assert.equal(readJpegHeader(await sharp(photo).toColourspace('cmyk').jpeg().toBuffer()), null, 'CMYK');
  assert.equal(readJpegHeader(withApp1(photo, exif([[0x0112, 3, 1, 9]]))), null, 'an orientation outside 1–8');
  assert.equal(readJpegHeader(withApp1(photo, exif([[0x0112, 4, 1, 6]]))), null, 'an orientation that is not a SHORT');
  assert.equal(readJpegHeader(withApp1(withApp1(photo, exif([[0x0112, 3, 1, 6]])), exif([[0x0112, 3, 1, 3]]))), null, 'two EXIF blocks');
  assert.equal(readJpegHeader(withApp1(photo, exif([[0x0112, 3, 1, 6]]).subarray(0, 20))), null, 'EXIF cut short');
  const repeated = withApp1(photo, exif([[0x0112, 3, 1, 6], [0x0112, 3, 1, 6]]));
  assert.equal(readJpegHeader(repeated)?.orientation, 6, 'the tag twice with one value');
  assert.deepEqual(readJpegHeader(repeated), await sharpView(repeated));
  assert.equal(readJpegHeader(withApp1(photo, exif([[0x0112, 3, 1, 6], [0x0112, 3, 1, 3]]))), null, 'the tag twice with two values');
  assert.equal(readJpegHeader(photo.subarray(0, 10)), null, 'a file cut inside its header');
  assert.equal(readJpegHeader(await sharp(photo).png().toBuffer()), null, 'a PNG');
  const sof = photo.indexOf(Buffer.from([0xff, 0xc0]));
  const twelveBit = Buffer.from(photo);
  twelveBit[sof + 4] = 12;
  assert.equal(readJpegHeader(twelveBit), null, '12-bit samples');
  const lossless = Buffer.from(photo);
  lossless[sof + 1] = 0xc3;
  assert.equal(readJpegHeader(lossless), null, 'a lossless frame');
  // Another APP1 (XMP) and an EXIF block without an orientation change nothing.
  const xmp = withApp1(photo, Buffer.from('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>', 'latin1'));
  assert.deepEqual(readJpegHeader(withApp1(xmp, exif([[0x010f, 2, 1, 0]]))), { width: 160, height: 120, channels: 3, orientation: 1, progressive: false });
});

test('agrees with sharp on every JPEG of the shared photos', { skip: skipWithoutReference }, async () => {
  const folders = [join(REFERENCE_DIR, 'images'), join(DATASETS_DIR, 'hymenoptera', 'train', 'ants'), join(DATASETS_DIR, 'hymenoptera', 'val', 'bees'), join(DATASETS_DIR, 'imagenet-sample-500')];
  let read = 0;
  let compared = 0;
  for (const folder of folders) {
    let names: string[];
    try {
      names = readdirSync(folder);
    } catch {
      continue;
    }
    for (const name of names.filter((n) => /\.jpe?g$/i.test(n))) {
      const bytes = readFileSync(join(folder, name));
      const header = readJpegHeader(bytes);
      const expected = await sharpView(bytes).catch(() => null);
      compared++;
      if (header) read++;
      // Where the header is read here it must be what sharp reads; where it is not, sharp still decodes the photo.
      if (header) assert.deepEqual(header, expected, `${folder}/${name}`);
    }
  }
  assert.ok(compared > 300, `${compared} JPEGs compared`);
  assert.ok(read / compared > 0.95, `${read} of ${compared} read without sharp`);
});
