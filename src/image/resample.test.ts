import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../testing/random-resnet.js';
import { bilinearCoefficients, bilinearSourceSpan, resizeBilinearWindow, type RawImage } from './resample.js';

const row = (values: number[]): RawImage => ({ data: Uint8Array.from(values), width: values.length, height: 1, channels: 1 });

test('downscaling 4→2 widens the triangle filter (antialiasing), computed by hand', () => {
  // Output 0: centre 1, support 2, taps 0..2 weighted 3/7, 3/7, 1/7 → (0·3 + 100·3 + 200)/7 = 71.4 → 71.
  // Output 1: centre 3, taps 1..3 weighted 1/7, 3/7, 3/7 → (100 + 200·3 + 255·3)/7 = 209.3 → 209.
  const out = resizeBilinearWindow(row([0, 100, 200, 255]), { width: 2, height: 1 }, { left: 0, top: 0, width: 2, height: 1 });
  assert.deepEqual([...out.data], [71, 209]);
  const c = bilinearCoefficients(4, 2);
  assert.equal(c.ksize, 5);
  assert.deepEqual([...c.bounds], [0, 3, 1, 3]);
  assert.deepEqual([...c.weights.subarray(0, 3)], [1797559, 1797559, 599186]);
});

test('upscaling 2→4 interpolates with support 1, clamping at the edges', () => {
  // Centres 0.25, 0.75, 1.25, 1.75: edge outputs have a single tap, inner ones 3/4 + 1/4.
  const out = resizeBilinearWindow(row([0, 100]), { width: 4, height: 1 }, { left: 0, top: 0, width: 4, height: 1 });
  assert.deepEqual([...out.data], [0, 25, 75, 100]);
});

test('an axis whose size does not change is copied, not filtered', () => {
  const image: RawImage = { data: Uint8Array.from([10, 20, 30, 40, 50, 60]), width: 3, height: 2, channels: 1 };
  const out = resizeBilinearWindow(image, { width: 3, height: 2 }, { left: 1, top: 0, width: 2, height: 2 });
  assert.deepEqual([...out.data], [20, 30, 50, 60]);
});

test('a window of the output equals the full resize cropped afterwards', () => {
  const rand = seededRandom(7);
  const width = 97;
  const height = 61;
  const data = Uint8Array.from({ length: width * height * 3 }, () => Math.floor(rand() * 256));
  const image: RawImage = { data, width, height, channels: 3 };
  for (const out of [{ width: 40, height: 25 }, { width: 150, height: 90 }]) {
    const full = resizeBilinearWindow(image, out, { left: 0, top: 0, ...out });
    const win = { left: 7, top: 3, width: 20, height: 15 };
    const part = resizeBilinearWindow(image, out, win);
    for (let y = 0; y < win.height; y++) {
      const a = part.data.subarray(y * win.width * 3, (y + 1) * win.width * 3);
      const start = ((win.top + y) * out.width + win.left) * 3;
      assert.deepEqual([...a], [...full.data.subarray(start, start + win.width * 3)]);
    }
  }
});

test('a constant image stays constant through any resize', () => {
  const image: RawImage = { data: new Uint8Array(50 * 30 * 3).fill(123), width: 50, height: 30, channels: 3 };
  const out = resizeBilinearWindow(image, { width: 17, height: 11 }, { left: 0, top: 0, width: 17, height: 11 });
  assert.ok(out.data.every((v) => v === 123));
});

test('a window outside the output is refused', () => {
  assert.throws(() => resizeBilinearWindow(row([1, 2, 3]), { width: 2, height: 1 }, { left: 1, top: 0, width: 2, height: 1 }), RangeError);
});

test('the source span of a window is exactly the samples its taps read, shrinking, enlarging or keeping the size', () => {
  const random = seededRandom(7);
  for (let trial = 0; trial < 300; trial++) {
    const inSize = 1 + Math.floor(random() * 2000);
    const outSize = 1 + Math.floor(random() * 600);
    const first = Math.floor(random() * outSize);
    const count = 1 + Math.floor(random() * (outSize - first));
    const { bounds } = bilinearCoefficients(inSize, outSize, first, count);
    let start = Infinity;
    let end = -Infinity;
    for (let i = 0; i < count; i++) {
      start = Math.min(start, bounds[i * 2]);
      end = Math.max(end, bounds[i * 2] + bounds[i * 2 + 1]);
    }
    assert.deepEqual(bilinearSourceSpan(inSize, outSize, first, count), { start, end }, `${inSize} → ${outSize}, outputs ${first}..${first + count - 1}`);
  }
});
