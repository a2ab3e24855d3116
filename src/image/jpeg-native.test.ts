import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { isResnetServeError } from '../errors.js';
import { testPhoto } from '../testing/fixtures.js';
import { REFERENCE_DIR, skipWithoutReference } from '../testing/shared.js';
import { decodeImage } from './decode.js';
import { decodeJpegScaled, jpegScaleDenominator, nativeJpegAvailable } from './jpeg-native.js';
import { orient } from './orient.js';
import { IMAGENET_PREPROCESS } from './preprocess-config.js';
import { Preprocessor } from './preprocess.js';
import { resizeBilinearWindow } from './resample.js';

const skipWithoutAddon = nativeJpegAvailable() ? false : 'native JPEG decoder not built (needs libjpeg headers at install: apt-get install libjpeg62-turbo-dev, then npm run build:native)';

/** Largest difference between two sample arrays of the same length. */
function maxDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

test('the scale is the smallest that keeps the asked reduction on both axes (libjpeg rounds up)', () => {
  assert.equal(jpegScaleDenominator({ width: 1920, height: 1080 }, { width: 455, height: 256 }, 2), 2);
  assert.equal(jpegScaleDenominator({ width: 1920, height: 1080 }, { width: 455, height: 256 }), 4);
  assert.equal(jpegScaleDenominator({ width: 4000, height: 3000 }, { width: 341, height: 256 }, 2), 4);
  assert.equal(jpegScaleDenominator({ width: 8000, height: 6000 }, { width: 341, height: 256 }, 2), 8);
  assert.equal(jpegScaleDenominator({ width: 1023, height: 1023 }, { width: 256, height: 256 }, 2), 2);
  assert.equal(jpegScaleDenominator({ width: 1000, height: 600 }, { width: 426, height: 256 }, 2), 1);
});

describe('native JPEG decoder', { skip: skipWithoutAddon }, () => {
  test('decodes at each libjpeg scale to the rounded-up size, the same pixels as sharp at full size', async () => {
    const jpeg = await testPhoto(4, 1001, 601);
    for (const d of [1, 2, 4, 8]) {
      const image = decodeJpegScaled(jpeg, d);
      assert.ok(image);
      assert.deepEqual([image.width, image.height, image.channels], [Math.ceil(1001 / d), Math.ceil(601 / d), 3]);
    }
    const full = decodeJpegScaled(jpeg, 1);
    const reference = await sharp(jpeg).raw().toBuffer();
    assert.ok(full && maxDiff(full.data, reference) <= 1, 'libjpeg-turbo and libvips decode the same file alike');
  });

  test('a grey JPEG comes back with one channel', async () => {
    const grey = await sharp(await testPhoto(5, 300, 200)).toColourspace('b-w').jpeg().toBuffer();
    const image = decodeJpegScaled(grey, 2);
    assert.deepEqual([image?.width, image?.height, image?.channels], [150, 100, 1]);
  });

  test('a region decodes, at every scale, the same pixels as the whole image inside it (but for its outermost row and column), for baseline, 4:4:4, progressive and grey JPEGs', async () => {
    const photo = await testPhoto(12, 1237, 915);
    const flavours = {
      baseline: photo,
      '4:4:4': await sharp(photo).jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer(),
      progressive: await sharp(photo).jpeg({ quality: 85, progressive: true }).toBuffer(),
      grey: await sharp(photo).toColourspace('b-w').jpeg().toBuffer(),
    };
    const stored = { width: 1237, height: 915 };
    for (const [name, jpeg] of Object.entries(flavours)) {
      for (const d of [1, 2, 4, 8]) {
        const whole = decodeJpegScaled(jpeg, d);
        assert.ok(whole);
        const wholeData = Uint8Array.from(whole.data);
        // Off-iMCU edges, one at the image's corner, one a thin strip.
        const boxes = [
          { left: 13, top: 9, width: Math.ceil(whole.width / 2), height: Math.ceil(whole.height / 3) },
          { left: 0, top: 0, width: 37, height: 21 },
          { left: whole.width - 19, top: whole.height - 5, width: 19, height: 5 },
        ];
        for (const box of boxes) {
          const part = decodeJpegScaled(jpeg, d, stored, box);
          assert.ok(part);
          assert.deepEqual([part.width, part.height, part.channels], [whole.width, whole.height, whole.channels], `${name} 1/${d}: the whole image's layout`);
          const ch = whole.channels;
          let differ = 0;
          for (let y = box.top + 1; y < box.top + box.height - 1; y++) {
            for (let i = (y * whole.width + box.left + 1) * ch; i < (y * whole.width + box.left + box.width - 1) * ch; i++) differ += part.data[i] === wholeData[i] ? 0 : 1;
          }
          assert.equal(differ, 0, `${name} 1/${d}, box ${JSON.stringify(box)}`);
        }
      }
    }
  });

  test('a region outside the scaled image, an empty one or one without the stored size is refused', async () => {
    const jpeg = await testPhoto(13, 640, 480);
    const stored = { width: 640, height: 480 };
    assert.throws(() => decodeJpegScaled(jpeg, 2, stored, { left: 300, top: 0, width: 21, height: 10 }), /region must be a non-empty box inside the scaled image/);
    assert.throws(() => decodeJpegScaled(jpeg, 2, stored, { left: 0, top: 0, width: 0, height: 10 }), /region must be a non-empty box/);
    assert.throws(() => decodeJpegScaled(jpeg, 2, stored, { left: 2 ** 32 - 1, top: 0, width: 2, height: 10 }), /region must be a non-empty box inside/, 'a sum that wraps around 32 bits');
    assert.throws(() => decodeJpegScaled(jpeg, 2, undefined, { left: 0, top: 0, width: 10, height: 10 }), /pass the stored size/);
    assert.ok(decodeJpegScaled(jpeg, 2, stored, { left: 300, top: 0, width: 20, height: 240 }), 'the last column and row are inside');
  });

  test('a region of a damaged JPEG is still refused when the damage lies below it', async () => {
    const jpeg = await testPhoto(14, 1200, 900);
    const truncated = jpeg.subarray(0, Math.floor(jpeg.length * 0.8));
    assert.throws(() => decodeJpegScaled(truncated, 2, { width: 1200, height: 900 }, { left: 100, top: 20, width: 200, height: 100 }), /premature end|corrupt/i);
  });

  test('truncated, corrupt and non-JPEG bytes and a wrong scale throw instead of crashing', async () => {
    const jpeg = await testPhoto(6, 640, 480);
    assert.throws(() => decodeJpegScaled(jpeg.subarray(0, jpeg.length / 2), 2), /premature end|corrupt|JPEG/i);
    assert.throws(() => decodeJpegScaled(Buffer.from('not a jpeg at all'), 1), /JPEG|marker/i);
    assert.throws(() => decodeJpegScaled(jpeg, 3), /denominator/);
    const cmyk = await sharp(jpeg).toColourspace('cmyk').jpeg().toBuffer();
    assert.throws(() => decodeJpegScaled(cmyk, 2), /only grey, YCbCr and RGB/);
  });

  test('fast mode decodes a large JPEG at reduced scale, upright for every EXIF orientation, as sharp would orient it', async () => {
    const upright = await testPhoto(7, 1200, 700);
    const resizeTo = (size: { width: number; height: number }) => ({ width: Math.round(size.width / 6), height: Math.round(size.height / 6) });
    for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const tagged = await sharp(upright).withMetadata({ orientation }).jpeg({ quality: 95 }).toBuffer();
      const decoded = await decodeImage(tagged, undefined, { resizeTo });
      const swapped = orientation >= 5;
      assert.deepEqual([decoded.width, decoded.height], swapped ? [117, 200] : [200, 117], `orientation ${orientation}`);
      assert.deepEqual(decoded.original, swapped ? { width: 700, height: 1200 } : { width: 1200, height: 700 });
      // The native path: the stored 1200×700 at 1/2 (1/4 would leave less than twice 200×117), Pillow's filter, then the turn.
      const storedTarget = { width: 200, height: 117 };
      const half = decodeJpegScaled(tagged, 2);
      assert.ok(half);
      const expectedNative = orient(resizeBilinearWindow(half, storedTarget, { left: 0, top: 0, ...storedTarget }), orientation);
      assert.deepEqual(decoded.data, expectedNative.data, `orientation ${orientation}: decoded through the native path`);
      const bySharp = await sharp(tagged).autoOrient().resize(decoded.width, decoded.height, { fit: 'fill' }).raw().toBuffer();
      let sum = 0;
      for (let i = 0; i < decoded.data.length; i++) sum += Math.abs(decoded.data[i] - bySharp[i]);
      assert.ok(sum / decoded.data.length < 6, `orientation ${orientation}: mean difference ${sum / decoded.data.length} from sharp's upright image`);
    }
  });

  test('a photo too small to decode at a reduced scale (short side 512 to 1023) gives in fast mode exactly exact mode\'s input, for every EXIF orientation', async () => {
    const stored = await testPhoto(9, 1000, 600);
    const fast = new Preprocessor(IMAGENET_PREPROCESS, undefined, 'fast');
    const exact = new Preprocessor(IMAGENET_PREPROCESS, undefined, 'exact');
    for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const tagged = await sharp(stored).withMetadata({ orientation }).jpeg({ quality: 92 }).toBuffer();
      const [a, b] = [new Float32Array(fast.imageLength), new Float32Array(exact.imageLength)];
      await fast.imageToTensor(tagged, a);
      await exact.imageToTensor(tagged, b);
      assert.ok(a.every((v, i) => v === b[i]), `orientation ${orientation}`);
    }
  });

  test('asked for a window of the resized image (fast mode\'s crop), it decodes and resamples only that box: the same pixels as the whole image cropped, at full and reduced scale, for every EXIF orientation, grey and progressive', async () => {
    const colour = await testPhoto(9, 1131, 769);
    const large = await testPhoto(10, 2263, 1539);
    const sources = [
      ['colour', colour],
      ['grey', await sharp(colour).toColourspace('b-w').jpeg().toBuffer()],
      ['large (decoded at 1/2)', large],
      ['large progressive', await sharp(large).jpeg({ progressive: true }).toBuffer()],
    ] as const;
    const resizeTo = (size: { width: number; height: number }) => ({ width: Math.trunc((size.width * 256) / Math.min(size.width, size.height)), height: Math.trunc((size.height * 256) / Math.min(size.width, size.height)) });
    for (const [name, source] of sources) {
      for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const tagged = await sharp(source).withMetadata({ orientation }).jpeg({ quality: 90 }).toBuffer();
        const whole = await decodeImage(tagged, undefined, { resizeTo });
        // An off-centre box with odd offsets, so that a flip or turn mapped the wrong way would show.
        const box = { left: 7, top: 3, width: 101, height: 57 };
        const part = await decodeImage(tagged, undefined, { resizeTo, window: () => box });
        assert.deepEqual(part.window, box, `${name} ${orientation}`);
        assert.deepEqual([part.width, part.height, part.channels], [101, 57, whole.channels]);
        assert.deepEqual(part.data, resizeBilinearWindow(whole, whole, box).data, `${name}, orientation ${orientation}: the box of the whole resized image`);
      }
    }
  });

  test('at full size (exact mode) every EXIF orientation gives exactly the pixels sharp gives', async () => {
    const upright = await testPhoto(9, 64, 40);
    for (const orientation of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const tagged = await sharp(upright).withMetadata({ orientation }).jpeg({ quality: 90 }).toBuffer();
      const decoded = await decodeImage(tagged);
      const bySharp = await sharp(tagged).autoOrient().raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([decoded.width, decoded.height], [bySharp.info.width, bySharp.info.height], `orientation ${orientation}`);
      assert.equal(maxDiff(decoded.data, bySharp.data), 0, `orientation ${orientation}`);
    }
  });

  test('a JPEG the native decoder refuses still gets sharp\'s typed error', async () => {
    const jpeg = await testPhoto(8, 1200, 900);
    await assert.rejects(
      decodeImage(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), undefined, { resizeTo: () => ({ width: 341, height: 256 }) }),
      (err: unknown) => isResnetServeError(err, 'IMAGE_CORRUPT'),
    );
  });
});

test('damaged JPEGs decoded at the same time each get their own reason (libvips shares one error buffer between threads)', { skip: skipWithoutAddon }, async () => {
  const jpeg = await testPhoto(11, 640, 480);
  const truncated = jpeg.subarray(0, Math.floor(jpeg.length * 0.6));
  const scan = jpeg.indexOf(Buffer.from([0xff, 0xda]));
  const garbled = Buffer.from(jpeg);
  for (let i = scan + 200; i < scan + 260; i++) garbled[i] = 0xff ^ (garbled[i] & 0x7f);
  const files = Array.from({ length: 40 }, (_, i) => (i % 2 ? garbled : truncated));
  const reasons = await Promise.all(files.map((bytes) => decodeImage(bytes).then(() => 'decoded', (err: Error) => err.message)));
  reasons.forEach((reason, i) => {
    assert.match(reason, i % 2 ? /^Image data is damaged or truncated \(Corrupt JPEG data: premature end of data segment\)$/ : /^Image data is damaged or truncated \(Premature end of JPEG file\)$/, `file ${i}`);
  });
});

test('on every reference JPEG, fast mode decoding only the centre crop gives the model the input of the whole frame decoded', { skip: skipWithoutAddon || skipWithoutReference }, async () => {
  const fast = new Preprocessor(IMAGENET_PREPROCESS, undefined, 'fast');
  const files = readdirSync(join(REFERENCE_DIR, 'images')).filter((f) => /\.jpe?g$/i.test(f));
  let large = 0;
  for (const file of files) {
    const bytes = readFileSync(join(REFERENCE_DIR, 'images', file));
    const [cropOnly, wholeFrame] = [new Float32Array(fast.imageLength), new Float32Array(fast.imageLength)];
    await fast.imageToTensor(bytes, cropOnly);
    // A fingerprint needs the whole frame, so this decode takes every pixel.
    await fast.imageToTensor(bytes, wholeFrame, 0, { fingerprint: true });
    assert.ok(cropOnly.every((v, i) => v === wholeFrame[i]), file);
    const { width = 0, height = 0 } = await sharp(bytes).metadata();
    if (Math.min(width, height) >= 512) large++;
  }
  assert.ok(files.length >= 50 && large >= 5, `${files.length} JPEGs, ${large} of them decoded at a reduced size`);
});
