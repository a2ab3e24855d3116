/**
 * Counts the scans of a JPEG from its markers, without decoding. A
 * progressive JPEG may hold thousands of tiny scans, each costing a pass over
 * every block of the image: a 178 KB file kept a decoder busy for 30 s. The
 * decoder (libjpeg inside libvips) offers no scan limit through sharp, so the
 * count is checked here first.
 */

const SOS = 0xda;
const EOI = 0xd9;

/** True for markers that stand alone, without a length: RSTn, TEM, SOI. */
const standalone = (marker: number): boolean => (marker >= 0xd0 && marker <= 0xd8) || marker === 0x01;

/**
 * The number of scans (SOS markers) in `bytes`, counting no further than
 * `stopAfter + 1`. Damaged marker structure ends the count where it breaks;
 * the decoder reports such damage itself.
 */
export function countJpegScans(bytes: Uint8Array, stopAfter = Infinity): number {
  let scans = 0;
  let pos = 2;
  while (pos + 3 < bytes.length) {
    if (bytes[pos] !== 0xff) return scans;
    const marker = bytes[pos + 1];
    if (marker === 0xff) {
      pos++;
      continue;
    }
    if (marker === EOI) return scans;
    if (standalone(marker)) {
      pos += 2;
      continue;
    }
    const length = (bytes[pos + 2] << 8) | bytes[pos + 3];
    if (length < 2) return scans;
    pos += 2 + length;
    if (marker !== SOS) continue;
    if (++scans > stopAfter) return scans;
    // Skip the entropy-coded data: it ends at the first 0xFF not followed by 0x00 or a restart marker.
    for (;;) {
      pos = bytes.indexOf(0xff, pos);
      if (pos < 0 || pos + 1 >= bytes.length) return scans;
      const next = bytes[pos + 1];
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) pos += 2;
      else break;
    }
  }
  return scans;
}

/**
 * Most scans allowed for an image of `pixels` pixels: each scan costs a pass
 * over the image, so the budget is about 10^9 pixel-passes (a few seconds),
 * never fewer than 20 (encoders write about 10) nor more than 100.
 */
export function maxJpegScans(pixels: number): number {
  return Math.max(20, Math.min(100, Math.floor(1e9 / Math.max(1, pixels))));
}
