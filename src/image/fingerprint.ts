/**
 * A photo's fingerprint for finding near duplicates: its whole upright frame
 * as a 32×32 luma thumbnail plus 16×16 of each colour difference (Cb, Cr):
 * 1.5 KB. Resizing, recompressing and EXIF rotation barely change it, and a
 * crop is found by comparing one fingerprint with windows of the other
 * (`compareFingerprints`). The embedding says two photos show the same kind
 * of thing; the fingerprint says they are the same picture: the same
 * light and dark in the same places (correlation of luma) in the same colours
 * (mean colour difference). Pure functions.
 */
import type { RawImage } from './resample.js';

const F = 32;
const C = 16;
/** Bytes of a fingerprint: luma 32×32, then Cb and Cr 16×16. */
export const FINGERPRINT_BYTES = F * F + 2 * C * C;

/** The mean luma and colour differences (BT.601) of the cells of an image. */
export function fingerprintOf(image: RawImage): Uint8Array {
  const { width, height, channels, data } = image;
  const luma = new Float64Array(F * F);
  const cb = new Float64Array(C * C);
  const cr = new Float64Array(C * C);
  const count = new Float64Array(F * F);
  const colOf = new Int32Array(width);
  for (let x = 0; x < width; x++) colOf[x] = Math.min(F - 1, Math.floor((x * F) / width));
  for (let y = 0; y < height; y++) {
    const row = Math.min(F - 1, Math.floor((y * F) / height));
    let p = y * width * channels;
    for (let x = 0; x < width; x++, p += channels) {
      const [r, g, b] = channels >= 3 ? [data[p], data[p + 1], data[p + 2]] : [data[p], data[p], data[p]];
      const cell = row * F + colOf[x];
      const small = (row >> 1) * C + (colOf[x] >> 1);
      luma[cell] += 0.299 * r + 0.587 * g + 0.114 * b;
      cb[small] += 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
      cr[small] += 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
      count[cell]++;
    }
  }
  const out = new Uint8Array(FINGERPRINT_BYTES);
  for (let i = 0; i < F * F; i++) out[i] = count[i] ? Math.round(luma[i] / count[i]) : 0;
  for (let j = 0; j < C * C; j++) {
    const [row, col] = [Math.floor(j / C) * 2, (j % C) * 2];
    const n = count[row * F + col] + count[row * F + col + 1] + count[(row + 1) * F + col] + count[(row + 1) * F + col + 1];
    out[F * F + j] = n ? Math.round(cb[j] / n) : 128;
    out[F * F + C * C + j] = n ? Math.round(cr[j] / n) : 128;
  }
  return out;
}

/** A window of a frame, in fractions of its width and height. */
interface Window {
  x: number;
  y: number;
  w: number;
  h: number;
}
const WHOLE: Window = { x: 0, y: 0, w: 1, h: 1 };

/** `n`×`n` bilinear samples of a window of one `side`×`side` plane of a fingerprint starting at `offset`. */
function sample(fp: Uint8Array, offset: number, side: number, win: Window, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const y = Math.min(side - 1, Math.max(0, (win.y + ((j + 0.5) * win.h) / n) * side - 0.5));
    const yi = Math.min(side - 2, Math.floor(y));
    const fy = y - yi;
    for (let i = 0; i < n; i++) {
      const x = Math.min(side - 1, Math.max(0, (win.x + ((i + 0.5) * win.w) / n) * side - 0.5));
      const xi = Math.min(side - 2, Math.floor(x));
      const fx = x - xi;
      const at = (yy: number, xx: number): number => fp[offset + yy * side + xx];
      out[j * n + i] = at(yi, xi) * (1 - fx) * (1 - fy) + at(yi, xi + 1) * fx * (1 - fy) + at(yi + 1, xi) * (1 - fx) * fy + at(yi + 1, xi + 1) * fx * fy;
    }
  }
  return out;
}

const lumaOf = (fp: Uint8Array, win: Window, n: number): Float64Array => sample(fp, 0, F, win, n);

/** Pearson correlation of two equal-length vectors (0 when either is flat). */
function correlation(a: Float64Array, b: Float64Array): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= a.length;
  mb /= b.length;
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] - ma;
    const y = b[i] - mb;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa > 1e-9 && bb > 1e-9 ? ab / Math.sqrt(aa * bb) : 0;
}

/**
 * The window of `whole` that best matches all of `part` (each side cut by up
 * to 20%, anywhere): a coarse search on 8×8 samples, then a local refinement
 * on 16×16 around the best window.
 */
function bestWindow(whole: Uint8Array, part: Uint8Array): { win: Window; score: number } {
  const coarse = lumaOf(part, WHOLE, 8);
  let best = { win: WHOLE, score: -1 };
  for (const w of [1, 0.9, 0.8]) {
    for (const h of [1, 0.9, 0.8]) {
      for (let x = 0; x <= 1 - w + 1e-9; x += 0.05) {
        for (let y = 0; y <= 1 - h + 1e-9; y += 0.05) {
          const score = correlation(lumaOf(whole, { x, y, w, h }, 8), coarse);
          if (score > best.score) best = { win: { x, y, w, h }, score };
        }
      }
    }
  }
  const fine = lumaOf(part, WHOLE, 16);
  let refined = { win: best.win, score: correlation(lumaOf(whole, best.win, 16), fine) };
  for (let step = 0.025; step >= 0.006; step /= 2) {
    let improved = true;
    while (improved) {
      improved = false;
      const c = refined.win;
      for (const [dx, dy, dw, dh] of [[step, 0, 0, 0], [-step, 0, 0, 0], [0, step, 0, 0], [0, -step, 0, 0], [0, 0, step, 0], [0, 0, -step, 0], [0, 0, 0, step], [0, 0, 0, -step]]) {
        const win = { x: c.x + dx, y: c.y + dy, w: c.w + dw, h: c.h + dh };
        if (win.w < 0.75 || win.h < 0.75 || win.w > 1 || win.h > 1 || win.x < -1e-9 || win.y < -1e-9 || win.x + win.w > 1 + 1e-9 || win.y + win.h > 1 + 1e-9) continue;
        const score = correlation(lumaOf(whole, win, 16), fine);
        if (score > refined.score + 1e-6) {
          refined = { win, score };
          improved = true;
        }
      }
    }
  }
  return refined;
}

/** Mean absolute difference of Cb and Cr (0..255) between a window of `whole` and all of `part`. */
function colourDifference(whole: Uint8Array, part: Uint8Array, win: Window): number {
  let sum = 0;
  for (const offset of [F * F, F * F + C * C]) {
    const a = sample(whole, offset, C, win, 8);
    const b = sample(part, offset, C, WHOLE, 8);
    for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  }
  return sum / 128;
}

/** How two fingerprints compare. */
export interface FingerprintMatch {
  /** Correlation of their light and dark (−1..1), the best over crops of either. */
  similarity: number;
  /** Mean colour difference where they line up (0..255; near duplicates stay under ~6). */
  colourDifference: number;
}

/**
 * Compares two fingerprints as pictures, allowing either to be a crop of the
 * other (each side cut by up to 20%, anywhere). Near duplicates have a
 * similarity above ~0.93 and a colour difference under ~6; different photos,
 * even of the same scene, rarely both.
 */
export function compareFingerprints(a: Uint8Array, b: Uint8Array): FingerprintMatch {
  const direct = correlation(lumaOf(a, WHOLE, 16), lumaOf(b, WHOLE, 16));
  if (direct > 0.98) return { similarity: direct, colourDifference: colourDifference(a, b, WHOLE) };
  const ab = bestWindow(a, b);
  const ba = bestWindow(b, a);
  const best = Math.max(direct, ab.score, ba.score);
  if (best === direct) return { similarity: direct, colourDifference: colourDifference(a, b, WHOLE) };
  return best === ab.score ? { similarity: ab.score, colourDifference: colourDifference(a, b, ab.win) } : { similarity: ba.score, colourDifference: colourDifference(b, a, ba.win) };
}
