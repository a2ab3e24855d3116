/**
 * Pillow's antialiased bilinear resize (`Image.resize(size, BILINEAR)`,
 * libImaging/Resample.c, Pillow 9.x), reproduced to the pixel.
 *
 * Why hand-written: torchvision's `Resize` on a PIL image is exactly this
 * filter, and neither libvips (sharp) nor any npm package computes the same
 * pixels. Plain bilinear ignores the antialiasing support, libvips' `linear`
 * kernel uses different bounds and rounding.
 *
 * The algorithm, per axis:
 * - `scale = in / out`; `filterscale = max(scale, 1)`; the triangle filter's
 *   support is `1 * filterscale` source pixels either side of the centre.
 * - Output pixel `i` is centred at `(i + 0.5) * scale` in source coordinates.
 *   Its taps run from `xmin = trunc(centre - support + 0.5)` (clamped to 0) to
 *   `xmax = trunc(centre + support + 0.5)` (clamped to the input size); tap
 *   `x` weighs `triangle((x - centre + 0.5) / filterscale)`, and the weights are
 *   normalised to sum to 1, all in double precision.
 * - For 8-bit images the weights become fixed point with 22 fractional bits
 *   (`trunc(w * 2^22 ± 0.5)`); each output is `(2^21 + Σ v·w) >> 22`, clamped to
 *   0..255. So the horizontal pass rounds to uint8 before the vertical pass.
 * - The horizontal pass runs first, over only the source rows the vertical
 *   pass reads; an axis whose size does not change is not resampled at all.
 *
 * Each output pixel depends only on its own taps, so computing just a window
 * of the output (the centre crop) gives the same values as resizing the
 * whole image and cropping afterwards, for a fraction of the work.
 */
import type { CropBox, Size } from './geometry.js';
import { resizeRgbSimd, simdAvailable } from './resample-simd.js';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const MAX_FIXED = (1 << PRECISION_BITS) * 256;

/** Fixed-point filter taps for a run of output pixels along one axis. */
export interface AxisCoefficients {
  /** Maximum taps per output pixel; `weights` holds `ksize` slots per output. */
  ksize: number;
  /** Per output pixel: first source index and number of taps. */
  bounds: Int32Array;
  /** Fixed-point weights (22 fractional bits), `ksize` per output pixel. */
  weights: Int32Array;
}

function triangle(x: number): number {
  const a = x < 0 ? -x : x;
  return a < 1 ? 1 - a : 0;
}

const firstTap = (center: number, support: number): number => Math.max(0, Math.trunc(center - support + 0.5));
const endTap = (center: number, support: number, inSize: number): number => Math.min(inSize, Math.trunc(center + support + 0.5));

/**
 * The source samples `[start, end)` that output indices `first .. first +
 * count - 1` read when `inSize` samples are resized to `outSize` (the taps
 * of {@link bilinearCoefficients}): what a decoder must produce for a window.
 */
export function bilinearSourceSpan(inSize: number, outSize: number, first: number, count: number): { start: number; end: number } {
  const scale = inSize / outSize;
  const support = scale < 1 ? 1 : scale;
  return { start: firstTap((first + 0.5) * scale, support), end: endTap((first + count - 0.5) * scale, support, inSize) };
}

/**
 * Taps of Pillow's antialiased bilinear filter resizing `inSize` samples to
 * `outSize`, for output indices `first .. first + count - 1`.
 */
export function bilinearCoefficients(inSize: number, outSize: number, first = 0, count = outSize): AxisCoefficients {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(count * 2);
  const weights = new Int32Array(count * ksize);
  const taps = new Float64Array(ksize);
  const invScale = 1 / filterscale;
  for (let i = 0; i < count; i++) {
    const center = (first + i + 0.5) * scale;
    const xmin = firstTap(center, support);
    const n = endTap(center, support, inSize) - xmin;
    let total = 0;
    for (let x = 0; x < n; x++) {
      const w = triangle((x + xmin - center + 0.5) * invScale);
      taps[x] = w;
      total += w;
    }
    for (let x = 0; x < n; x++) {
      const w = total !== 0 ? taps[x] / total : taps[x];
      weights[i * ksize + x] = Math.trunc(w < 0 ? w * (1 << PRECISION_BITS) - 0.5 : w * (1 << PRECISION_BITS) + 0.5);
    }
    bounds[i * 2] = xmin;
    bounds[i * 2 + 1] = n;
  }
  return { ksize, bounds, weights };
}

function clip8(acc: number): number {
  if (acc >= MAX_FIXED) return 255;
  if (acc <= 0) return 0;
  return acc >> PRECISION_BITS;
}

/** An 8-bit interleaved image: `data[(y * width + x) * channels + c]`. */
export interface RawImage extends Size {
  data: Uint8Array;
  channels: number;
}

/** Horizontal pass for one row range: `rows` rows starting at source row `rowFirst`, output columns of `coeffs`. */
function horizontalPass(src: RawImage, rowFirst: number, rows: number, coeffs: AxisCoefficients, outWidth: number): Uint8Array {
  const { ksize, bounds, weights } = coeffs;
  const ch = src.channels;
  const s = src.data;
  const out = new Uint8Array(rows * outWidth * ch);
  for (let r = 0; r < rows; r++) {
    const srcRow = (rowFirst + r) * src.width * ch;
    let o = r * outWidth * ch;
    for (let i = 0; i < outWidth; i++) {
      const n = bounds[i * 2 + 1];
      const k = i * ksize;
      let p = srcRow + bounds[i * 2] * ch;
      if (ch === 3) {
        let a0 = HALF;
        let a1 = HALF;
        let a2 = HALF;
        for (let x = 0; x < n; x++, p += 3) {
          const w = weights[k + x];
          a0 += s[p] * w;
          a1 += s[p + 1] * w;
          a2 += s[p + 2] * w;
        }
        out[o++] = clip8(a0);
        out[o++] = clip8(a1);
        out[o++] = clip8(a2);
      } else {
        for (let c = 0; c < ch; c++) {
          let acc = HALF;
          for (let x = 0, q = p + c; x < n; x++, q += ch) acc += s[q] * weights[k + x];
          out[o++] = clip8(acc);
        }
      }
    }
  }
  return out;
}

/** Vertical pass: each output row accumulates whole input rows, in order (cache-friendly). */
function verticalPass(tmp: Uint8Array, stride: number, rowFirst: number, coeffs: AxisCoefficients, outRows: number): Uint8Array {
  const { ksize, bounds, weights } = coeffs;
  const out = new Uint8Array(outRows * stride);
  const acc = new Float64Array(stride);
  for (let j = 0; j < outRows; j++) {
    acc.fill(HALF);
    const ymin = bounds[j * 2] - rowFirst;
    const n = bounds[j * 2 + 1];
    for (let y = 0; y < n; y++) {
      const w = weights[j * ksize + y];
      const row = (ymin + y) * stride;
      for (let q = 0; q < stride; q++) acc[q] += tmp[row + q] * w;
    }
    const o = j * stride;
    for (let q = 0; q < stride; q++) out[o + q] = clip8(acc[q]);
  }
  return out;
}

/**
 * Resizes `src` to `out` with Pillow's antialiased bilinear filter and returns
 * only the pixels of `window` (a box inside `out`), as Pillow would after
 * `resize(out).crop(window)`.
 */
export function resizeBilinearWindow(src: RawImage, out: Size, window: CropBox): RawImage {
  const { channels: ch } = src;
  if (window.left < 0 || window.top < 0 || window.left + window.width > out.width || window.top + window.height > out.height) {
    throw new RangeError('window lies outside the output image');
  }
  const needH = out.width !== src.width;
  const needV = out.height !== src.height;

  // Rows of the source the vertical pass reads (or copies, if no vertical pass).
  const vert = needV ? bilinearCoefficients(src.height, out.height, window.top, window.height) : null;
  const rowFirst = vert ? vert.bounds[0] : window.top;
  const rowEnd = vert ? vert.bounds[(window.height - 1) * 2] + vert.bounds[(window.height - 1) * 2 + 1] : window.top + window.height;
  const rows = rowEnd - rowFirst;

  if (needH && vert && ch === 3 && simdAvailable()) {
    const data = resizeRgbSimd(src, rowFirst, rows, bilinearCoefficients(src.width, out.width, window.left, window.width), vert, window.width, window.height);
    return { data, width: window.width, height: window.height, channels: ch };
  }
  let tmp: Uint8Array;
  if (needH) {
    tmp = horizontalPass(src, rowFirst, rows, bilinearCoefficients(src.width, out.width, window.left, window.width), window.width);
  } else {
    tmp = new Uint8Array(rows * window.width * ch);
    for (let r = 0; r < rows; r++) {
      const start = ((rowFirst + r) * src.width + window.left) * ch;
      tmp.set(src.data.subarray(start, start + window.width * ch), r * window.width * ch);
    }
  }
  const data = vert ? verticalPass(tmp, window.width * ch, rowFirst, vert, window.height) : tmp;
  return { data, width: window.width, height: window.height, channels: ch };
}
