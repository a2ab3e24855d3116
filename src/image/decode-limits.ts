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
