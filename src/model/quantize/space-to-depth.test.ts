import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../seeded-random.js';
import { spaceToDepthLayout, spaceToDepthWeights, type ConvGeometry } from './space-to-depth.js';

/** A plain NCHW convolution of one image (integers, so sums are exact), with zero padding. */
function conv(x: Int32Array, c: number, h: number, w: number, weights: Int32Array, out: number, k: number[], stride: number, pads: number[]): { y: Int32Array; oh: number; ow: number } {
  const [top, left, bottom, right] = pads;
  const oh = Math.floor((h + top + bottom - k[0]) / stride) + 1;
  const ow = Math.floor((w + left + right - k[1]) / stride) + 1;
  const y = new Int32Array(out * oh * ow);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let sum = 0;
        for (let ch = 0; ch < c; ch++) {
          for (let ky = 0; ky < k[0]; ky++) {
            for (let kx = 0; kx < k[1]; kx++) {
              const r = i * stride + ky - top;
              const q = j * stride + kx - left;
              if (r >= 0 && r < h && q >= 0 && q < w) sum += x[(ch * h + r) * w + q] * weights[((o * c + ch) * k[0] + ky) * k[1] + kx];
            }
          }
        }
        y[(o * oh + i) * ow + j] = sum;
      }
    }
  }
  return { y, oh, ow };
}

/** ONNX Pad (zeros) then SpaceToDepth(2) of one NCHW image. */
function padSpaceToDepth(x: Int32Array, c: number, h: number, w: number, pads: number[]): { s: Int32Array; h2: number; w2: number } {
  const [, , top, left, , , bottom, right] = pads;
  const hp = h + top + bottom;
  const wp = w + left + right;
  assert.equal(hp % 2, 0, 'the padded height splits into blocks');
  assert.equal(wp % 2, 0, 'the padded width splits into blocks');
  const [h2, w2] = [hp / 2, wp / 2];
  const s = new Int32Array(4 * c * h2 * w2);
  for (let ch = 0; ch < c; ch++) {
    for (let r = 0; r < hp; r++) {
      for (let q = 0; q < wp; q++) {
        const [sr, sq] = [r - top, q - left];
        const v = sr >= 0 && sr < h && sq >= 0 && sq < w ? x[(ch * h + sr) * w + sq] : 0;
        s[((((r % 2) * 2 + (q % 2)) * c + ch) * h2 + (r >> 1)) * w2 + (q >> 1)] = v;
      }
    }
  }
  return { s, h2, w2 };
}

const geometry = (channels: number, k: number[], pads: number[], extra: Partial<ConvGeometry> = {}): ConvGeometry => ({ channels, group: 1, kernel: k, strides: [2, 2], dilations: [1, 1], pads, ...extra });

test('a stride-2 convolution equals the stride-1 one over its input’s 2×2 blocks, for odd and even kernels, odd sizes and uneven padding', () => {
  const random = seededRandom(7);
  const cases: { c: number; h: number; w: number; k: number[]; pads: number[] }[] = [
    { c: 3, h: 16, w: 16, k: [7, 7], pads: [3, 3, 3, 3] },
    { c: 3, h: 15, w: 13, k: [7, 7], pads: [3, 3, 3, 3] },
    { c: 1, h: 9, w: 12, k: [3, 3], pads: [1, 1, 1, 1] },
    { c: 2, h: 10, w: 11, k: [4, 5], pads: [1, 2, 1, 2] },
    { c: 3, h: 8, w: 8, k: [2, 2], pads: [0, 0, 0, 0] },
    { c: 3, h: 12, w: 9, k: [5, 3], pads: [2, 0, 1, 1] },
  ];
  for (const { c, h, w, k, pads } of cases) {
    const out = 4;
    const x = Int32Array.from({ length: c * h * w }, () => Math.floor(random() * 256));
    const weights = Int8Array.from({ length: out * c * k[0] * k[1] }, () => Math.floor(random() * 255) - 127);
    const direct = conv(x, c, h, w, Int32Array.from(weights), out, k, 2, pads);
    const layout = spaceToDepthLayout(geometry(c, k, pads), h, w);
    assert.ok(layout, `rewritable: ${JSON.stringify({ c, h, w, k, pads })}`);
    assert.equal(layout.channels, 4 * c);
    const regrouped = spaceToDepthWeights(weights, [out, c, k[0], k[1]]);
    assert.deepEqual(regrouped.dims, [out, 4 * c, ...layout.kernel]);
    assert.ok(regrouped.values instanceof Int8Array);
    const { s, h2, w2 } = padSpaceToDepth(x, c, h, w, layout.pads);
    const rewritten = conv(s, 4 * c, h2, w2, Int32Array.from(regrouped.values), out, layout.kernel, 1, [0, 0, 0, 0]);
    assert.deepEqual([rewritten.oh, rewritten.ow], [direct.oh, direct.ow], `output size for ${JSON.stringify({ h, w, k, pads })}`);
    assert.deepEqual(rewritten.y, direct.y, `same sums for ${JSON.stringify({ c, h, w, k, pads })}`);
  }
});

test('ResNet’s first convolution over 224×224: pad 3 on each side, 115×115 blocks, a 4×4 kernel over 12 channels', () => {
  assert.deepEqual(spaceToDepthLayout(geometry(3, [7, 7], [3, 3, 3, 3]), 224, 224), { pads: [0, 0, 3, 3, 0, 0, 3, 3], kernel: [4, 4], channels: 12 });
});

test('left alone: more than 3 channels, groups, another stride, dilation, automatic padding, a kernel of 1, an input to crop', () => {
  const base = geometry(3, [7, 7], [3, 3, 3, 3]);
  assert.equal(spaceToDepthLayout({ ...base, channels: 4 }, 224, 224), null);
  assert.equal(spaceToDepthLayout({ ...base, group: 3, channels: 1 }, 224, 224), null);
  assert.equal(spaceToDepthLayout({ ...base, strides: [1, 1] }, 224, 224), null);
  assert.equal(spaceToDepthLayout({ ...base, strides: [2, 1] }, 224, 224), null);
  assert.equal(spaceToDepthLayout({ ...base, dilations: [2, 2] }, 224, 224), null);
  assert.equal(spaceToDepthLayout({ ...base, autoPad: 'SAME_UPPER', pads: [0, 0, 0, 0] }, 224, 224), null);
  assert.notEqual(spaceToDepthLayout({ ...base, autoPad: 'NOTSET' }, 224, 224), null);
  assert.equal(spaceToDepthLayout({ ...base, kernel: [1, 1], pads: [0, 0, 0, 0] }, 224, 224), null);
  assert.equal(spaceToDepthLayout(base, 0, 224), null);
  // An even kernel whose last input row no output reads: the blocks would need the input cropped.
  assert.equal(spaceToDepthLayout(geometry(2, [4, 4], [1, 1, 0, 0]), 10, 10), null);
});

test('weights that do not fit their dims are refused', () => {
  assert.throws(() => spaceToDepthWeights(new Int8Array(10), [2, 3, 7, 7]), RangeError);
});
