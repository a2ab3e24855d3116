/**
 * A JPEG's marker segments, walked without decoding (`jpeg-header.ts` reads
 * its header this way), and its scans counted from them. A
 * progressive JPEG may hold thousands of tiny scans, each costing a pass over
 * every block of the image: a 178 KB file kept a decoder busy for 30 s. The
 * decoder (libjpeg inside libvips) offers no scan limit through sharp, so the
 * count is checked here first.
 */

/** Start of scan. */
export const SOS = 0xda;
const EOI = 0xd9;

/** True for markers that stand alone, without a length: RSTn, TEM, SOI. */
const standalone = (marker: number): boolean => (marker >= 0xd0 && marker <= 0xd8) || marker === 0x01;

/**
 * Walks the marker segments of a JPEG, skipping each scan's entropy-coded
 * data: `visit(marker, start, end)` gets every segment that has a length
 * (`start` is its first byte after the length, `end` one past its last, which
 * may lie beyond `bytes` when the file is cut short). The walk ends when
 * `visit` returns false, at EOI, or where the marker structure breaks.
 */
export function walkJpegSegments(bytes: Uint8Array, visit: (marker: number, start: number, end: number) => boolean | void): void {
  let pos = 2;
  while (pos + 3 < bytes.length) {
    if (bytes[pos] !== 0xff) return;
    const marker = bytes[pos + 1];
    if (marker === 0xff) {
      pos++;
      continue;
    }
    if (marker === EOI) return;
    if (standalone(marker)) {
      pos += 2;
      continue;
    }
    const length = (bytes[pos + 2] << 8) | bytes[pos + 3];
    if (length < 2) return;
    if (visit(marker, pos + 4, pos + 2 + length) === false) return;
    pos += 2 + length;
    if (marker !== SOS) continue;
    // Skip the entropy-coded data: it ends at the first 0xFF not followed by 0x00 or a restart marker.
    for (;;) {
      pos = bytes.indexOf(0xff, pos);
      if (pos < 0 || pos + 1 >= bytes.length) return;
      const next = bytes[pos + 1];
      if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) pos += 2;
      else break;
    }
  }
}

/**
 * The number of scans (SOS markers) in `bytes`, counting no further than
 * `stopAfter + 1`. Damaged marker structure ends the count where it breaks;
 * the decoder reports such damage itself.
 */
export function countJpegScans(bytes: Uint8Array, stopAfter = Infinity): number {
  let scans = 0;
  walkJpegSegments(bytes, (marker) => marker !== SOS || ++scans <= stopAfter);
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
