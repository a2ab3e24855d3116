/**
 * The header of a JPEG as fast decoding needs it (size, channels, EXIF
 * orientation), read from its markers here rather than asked of libvips:
 * sharp's `metadata()` is a trip to libuv's threads and back, about 0.6 ms
 * of a photo's 4–5 ms of decoding in fast mode. Only what is plainly a
 * photo is read: one 8-bit baseline, extended or progressive Huffman frame
 * of grey or three-component colour, with at most one EXIF block whose
 * orientation is a SHORT from 1 to 8 (repeated only with the same value). Anything else (CMYK, 12-bit,
 * arithmetic coding, lossless, several frames or EXIF blocks, damaged EXIF)
 * gives null, and sharp reads the header as before, so odd files are judged
 * exactly as they were; a test compares both readers on every JPEG at hand.
 */
import { SOS, walkJpegSegments } from './jpeg-scans.js';

/** What a JPEG's markers say about its pixels. */
export interface JpegHeader {
  /** Stored size, before EXIF orientation. */
  width: number;
  height: number;
  channels: 1 | 3;
  /** EXIF orientation, 1 (none) to 8. */
  orientation: number;
  /** Coded in several scans (SOF2): every scan is decoded in full even at reduced scale, so it decodes far slower than a baseline one. */
  progressive: boolean;
}

/** Frame markers of Huffman-coded DCT JPEGs: baseline, extended sequential, progressive. */
const HUFFMAN_FRAMES = new Set([0xc0, 0xc1, 0xc2]);
const PROGRESSIVE_FRAME = 0xc2;
/** Every other frame marker (lossless, hierarchical, arithmetic coding). */
const OTHER_FRAMES = new Set([0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);
const APP1 = 0xe1;
const ORIENTATION_TAG = 0x0112;
const SHORT = 3;

/** The EXIF orientation in an APP1 segment: 1 when it has none, null when it cannot be read plainly, undefined when the segment is not EXIF. */
function exifOrientation(bytes: Uint8Array, start: number, end: number): number | null | undefined {
  const isExif = end - start >= 6 && bytes[start] === 0x45 && bytes[start + 1] === 0x78 && bytes[start + 2] === 0x69 && bytes[start + 3] === 0x66 && bytes[start + 4] === 0 && bytes[start + 5] === 0;
  if (!isExif) return undefined;
  const tiff = start + 6;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (end - tiff < 8) return null;
  const order = view.getUint16(tiff);
  if (order !== 0x4949 && order !== 0x4d4d) return null;
  const little = order === 0x4949;
  if (view.getUint16(tiff + 2, little) !== 42) return null;
  const ifd = tiff + view.getUint32(tiff + 4, little);
  if (ifd < tiff + 8 || ifd + 2 > end) return null;
  const entries = view.getUint16(ifd, little);
  if (ifd + 2 + entries * 12 > end) return null;
  let orientation: number | undefined;
  for (let i = 0; i < entries; i++) {
    const entry = ifd + 2 + i * 12;
    if (view.getUint16(entry, little) !== ORIENTATION_TAG) continue;
    if (view.getUint16(entry + 2, little) !== SHORT || view.getUint32(entry + 4, little) !== 1) return null;
    const value = view.getUint16(entry + 8, little);
    // A repeated tag is plain only when it repeats the same value (Apple's camera app writes it twice).
    if (value < 1 || value > 8 || (orientation !== undefined && orientation !== value)) return null;
    orientation = value;
  }
  return orientation ?? 1;
}

/**
 * Reads the header of `bytes` when it is plainly an 8-bit grey or colour
 * photo JPEG (see the module header); null otherwise, and for anything that
 * is not a JPEG.
 */
export function readJpegHeader(bytes: Uint8Array): JpegHeader | null {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== 0xd8) return null;
  let frame = null as Omit<JpegHeader, 'orientation'> | null;
  let orientation: number | undefined;
  let plain = true;
  walkJpegSegments(bytes, (marker, start, end) => {
    if (end > bytes.length) plain = false;
    else if (HUFFMAN_FRAMES.has(marker)) {
      const channels = bytes[start + 5];
      const width = (bytes[start + 3] << 8) | bytes[start + 4];
      const height = (bytes[start + 1] << 8) | bytes[start + 2];
      const fits = end - start >= 6 + 3 * channels;
      if (frame || !fits || bytes[start] !== 8 || (channels !== 1 && channels !== 3) || width === 0 || height === 0) plain = false;
      else frame = { width, height, channels, progressive: marker === PROGRESSIVE_FRAME };
    } else if (OTHER_FRAMES.has(marker)) plain = false;
    else if (marker === APP1) {
      const found = exifOrientation(bytes, start, end);
      if (found === null || (found !== undefined && orientation !== undefined)) plain = false;
      else if (found !== undefined) orientation = found;
    }
    return plain && marker !== SOS;
  });
  return plain && frame ? { ...frame, orientation: orientation ?? 1 } : null;
}
