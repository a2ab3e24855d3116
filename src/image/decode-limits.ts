/**
 * How much decoding an image may cost: checked from its header before any
 * pixel is decoded, and enforced by libvips while it decodes. Apart from
 * `decode.ts` so that code which only passes limits on (the server's event
 * loop) does not load sharp.
 */

/** Limits applied while decoding untrusted input. */
export interface DecodeLimits {
  /** Largest accepted `width * height`, checked before decoding. */
  maxPixels: number;
  /** Longest accepted side, checked before decoding (a 100000×1 strip is a bomb once resized). Default 32768. */
  maxSide?: number;
  /** Longest a decode may run, in ms (libvips stops it; whole seconds, rounded up). Default 10000. */
  maxDecodeMs?: number;
}

/** Default limits: 50 megapixels, 32768 px a side, 10 s of decoding. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = { maxPixels: 50_000_000, maxSide: 32_768, maxDecodeMs: 10_000 };

/**
 * How many times its pixels an AVIF or HEIF image counts against
 * `maxPixels`. Its decoder (libheif with libaom, inside libvips) holds the
 * whole picture several times over, about 19 bytes a pixel whatever the
 * output size (measured: 241 MB for 12 MP, 890 MB for 49 MP, from a file of
 * 1.5 KB), against at most 9 for the other formats decoded whole (WebP and
 * GIF) and 1–6 for the rest; so the default admits AVIF up to 16.7 MP, about
 * 320 MB of decoding (README, What it withstands).
 */
export const HEIF_PIXEL_WEIGHT = 3;

/** The largest pixel count accepted for an image of `format` (as `sniffFormat` or sharp names it) under `limits`. */
export function maxPixelsFor(format: string | null | undefined, limits: Pick<DecodeLimits, 'maxPixels'>): number {
  return format === 'heif' || format === 'avif' ? Math.floor(limits.maxPixels / HEIF_PIXEL_WEIGHT) : limits.maxPixels;
}
