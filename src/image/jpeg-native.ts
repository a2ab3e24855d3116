/**
 * The JPEG decoder for photos: libjpeg-turbo (its scaled IDCT in fast mode)
 * through our small addon (`native/jpeg_scaled.c`, whose header says why it
 * exists), used when it was built at install (it needs libjpeg's headers)
 * and not turned off with `RESNET_SERVE_NO_NATIVE_JPEG=1`. Everything it
 * cannot take, and every image when it is missing, goes through sharp.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { CropBox, Size } from './geometry.js';
import type { RawImage } from './resample.js';

interface Addon {
  decode(bytes: Uint8Array, denominator: number, into?: Uint8Array, x?: number, y?: number, width?: number, height?: number): { data: Uint8Array; width: number; height: number; channels: number };
}

const ADDON = fileURLToPath(new URL('../../native/build/Release/jpeg_scaled.node', import.meta.url));

let addon: Addon | null | undefined;

function loadAddon(): Addon | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.RESNET_SERVE_NO_NATIVE_JPEG === '1' || !existsSync(ADDON)) return addon;
  try {
    addon = createRequire(import.meta.url)(ADDON) as Addon;
  } catch {
    addon = null;
  }
  return addon;
}

/** Whether the native decoder is built and in use. */
export function nativeJpegAvailable(): boolean {
  return loadAddon() !== null;
}

/** libjpeg's scale denominators, largest first. */
const DENOMINATORS = [8, 4, 2] as const;

/** The size libjpeg decodes a stored `size` to at 1/`denominator` (it rounds up). */
export function jpegScaledSize(size: Size, denominator: number): Size {
  return { width: Math.ceil(size.width / denominator), height: Math.ceil(size.height / denominator) };
}

/**
 * The largest libjpeg scale (1/8, 1/4, 1/2, else 1) at which a stored
 * `size` still decodes to at least `reduction` times `minimum` on both axes
 * (libjpeg rounds scaled sizes up). Returns the denominator.
 */
export function jpegScaleDenominator(size: Size, minimum: Size, reduction = 1): number {
  for (const d of DENOMINATORS) {
    const scaled = jpegScaledSize(size, d);
    if (scaled.width >= reduction * minimum.width && scaled.height >= reduction * minimum.height) return d;
  }
  return 1;
}

/** Scaled decodes up to this size reuse one buffer per thread; larger ones get their own. */
const SCRATCH_LIMIT = 16 * 1024 * 1024;
let scratch = new Uint8Array(0);

/**
 * Decodes a grey, YCbCr or RGB JPEG at 1/`denominator` scale, or returns
 * null when the addon is not available. With `reuse` (the stored size), the
 * pixels live in a buffer this thread reuses: use them before the next call,
 * synchronously; without it they are the caller's. With `reuse` and a
 * `region` of the scaled image, only the region's pixels are decoded (the
 * rest of `data` holds nothing meaningful): what a windowed resample reads.
 * Throws (a plain Error) on anything libjpeg refuses or warns about;
 * callers fall back to sharp, which names the problem.
 */
export function decodeJpegScaled(bytes: Uint8Array, denominator: number, reuse?: Size, region?: CropBox): RawImage | null {
  const decoder = loadAddon();
  if (!decoder) return null;
  const scaled = reuse && jpegScaledSize(reuse, denominator);
  const needed = scaled ? scaled.width * scaled.height * 3 : 0;
  if (needed > scratch.length && needed <= SCRATCH_LIMIT) scratch = new Uint8Array(needed);
  const into = reuse ? (needed <= SCRATCH_LIMIT ? scratch : new Uint8Array(needed)) : undefined;
  if (region && !into) throw new RangeError('a region is decoded into the reused buffer: pass the stored size');
  const { data, width, height, channels } = region && into
    ? decoder.decode(bytes, denominator, into, region.left, region.top, region.width, region.height)
    : decoder.decode(bytes, denominator, into);
  return { data: new Uint8Array(data.buffer, data.byteOffset, width * height * channels), width, height, channels };
}
