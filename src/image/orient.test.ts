import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { orient, storedBox } from './orient.js';
import type { RawImage } from './resample.js';

/** A 5×3 RGB image whose every sample differs, so any misplaced pixel shows. */
const STORED: RawImage = { data: Uint8Array.from({ length: 5 * 3 * 3 }, (_, i) => i * 5), width: 5, height: 3, channels: 3 };

/** What libvips makes of the stored image for each EXIF orientation, built from its own rotate/flip operations. */
async function libvipsUpright(orientation: number): Promise<RawImage> {
  const raw = (data: Uint8Array | Buffer, width: number, height: number) => sharp(data, { raw: { width, height, channels: 3 } });
  const steps: Record<number, (s: Sharp) => Sharp> = {
    2: (s) => s.flop(),
    3: (s) => s.rotate(180),
    4: (s) => s.flip(),
    5: (s) => s.rotate(90),
    6: (s) => s.rotate(90),
    7: (s) => s.rotate(270),
    8: (s) => s.rotate(270),
  };
  let { data, info } = await steps[orientation](raw(STORED.data, STORED.width, STORED.height)).raw().toBuffer({ resolveWithObject: true });
  // Transpose and transverse: the quarter turn, then a mirror, as EXIF defines them.
  if (orientation === 5 || orientation === 7) ({ data, info } = await raw(data, info.width, info.height).flop().raw().toBuffer({ resolveWithObject: true }));
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 };
}

for (const orientation of [2, 3, 4, 5, 6, 7, 8]) {
  test(`EXIF orientation ${orientation} turns the pixels as libvips does`, async () => {
    const expected = await libvipsUpright(orientation);
    const upright = orient(STORED, orientation);
    assert.deepEqual([upright.width, upright.height], [expected.width, expected.height]);
    assert.deepEqual(upright.data, expected.data);
  });
}

test('orientation 1 and unknown values leave the image as it is', () => {
  assert.equal(orient(STORED, 1), STORED);
  assert.equal(orient(STORED, 0), STORED);
  assert.equal(orient(STORED, 9), STORED);
});

test('a grey image keeps one channel', () => {
  const grey: RawImage = { data: Uint8Array.from([1, 2, 3, 4, 5, 6]), width: 3, height: 2, channels: 1 };
  assert.deepEqual(orient(grey, 6), { data: Uint8Array.from([4, 1, 5, 2, 6, 3]), width: 2, height: 3, channels: 1 });
});

test('storedBox: the stored pixels of an upright box, turned upright, are that box of the upright image, for every orientation', () => {
  const stored = { width: 13, height: 8, channels: 1, data: Uint8Array.from({ length: 13 * 8 }, (_, i) => i) };
  const crop = (image: { width: number; data: Uint8Array }, box: { left: number; top: number; width: number; height: number }): number[] => {
    const out: number[] = [];
    for (let y = box.top; y < box.top + box.height; y++) for (let x = box.left; x < box.left + box.width; x++) out.push(image.data[y * image.width + x]);
    return out;
  };
  for (let orientation = 1; orientation <= 8; orientation++) {
    const upright = orient(stored, orientation);
    const box = { left: 1, top: 2, width: 4, height: 3 };
    const inStored = storedBox(box, upright, orientation);
    const piece = { ...inStored, channels: 1, data: Uint8Array.from(crop(stored, inStored)) };
    assert.deepEqual(Array.from(orient(piece, orientation).data), crop(upright, box), `orientation ${orientation}`);
  }
});
