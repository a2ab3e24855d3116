/**
 * A BMP decoder for untrusted files. libvips (sharp) has no BMP loader, and
 * the npm decoders we tried check nothing against the file: a 1 MB RLE8 file
 * cost 57 s of CPU and a palette count of 0xFFFFFFFF 13 s and 600 MB in
 * bmp-ts. Here every header field is checked against the file size and the
 * pixel limit before a pixel is decoded, and decoding is linear in the file
 * and the pixels.
 *
 * Reads what Pillow reads, with the same colours: 1/4/8-bit palettes, 16-bit
 * (5-5-5 or bit fields), 24-bit, 32-bit (alpha dropped, as
 * `convert('RGB')` does), RLE8 and RLE4 (pixels an RLE stream skips are
 * palette entry 0), bottom-up and top-down rows.
 */
import { ResnetServeError } from '../errors.js';

/** Decoded BMP pixels: RGB, 8 bits, row-major top-down. */
export interface BmpImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A BMP header, checked. */
export interface BmpHeader {
  width: number;
  height: number;
  topDown: boolean;
  bitsPerPixel: number;
  compression: number;
  pixelOffset: number;
  palette: Uint8Array;
  /** Bit masks of R, G, B for 16- and 32-bit images. */
  masks: [number, number, number];
}

const RGB = 0;
const RLE8 = 1;
const RLE4 = 2;
const BITFIELDS = 3;
const ALPHABITFIELDS = 6;

function corrupt(why: string): ResnetServeError {
  return new ResnetServeError('IMAGE_CORRUPT', `BMP file is damaged: ${why}`);
}

/** True when the bytes start like a BMP file. */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 26 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

/** Reads and checks the headers (and palette) against the file's own size; decodes nothing. */
export function readBmpHeader(bytes: Uint8Array): BmpHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 26) throw corrupt('the header is cut short');
  const pixelOffset = view.getUint32(10, true);
  const dibSize = view.getUint32(14, true);
  if (![12, 40, 52, 56, 64, 108, 124].includes(dibSize)) throw new ResnetServeError('IMAGE_UNSUPPORTED', `BMP header of ${dibSize} bytes is not a known BMP version`);
  if (14 + dibSize > bytes.length) throw corrupt('the header is cut short');
  const core = dibSize === 12;
  const width = core ? view.getUint16(18, true) : view.getInt32(18, true);
  const rawHeight = core ? view.getInt16(20, true) : view.getInt32(22, true);
  const planes = view.getUint16(core ? 22 : 26, true);
  const bitsPerPixel = view.getUint16(core ? 24 : 28, true);
  const compression = core ? RGB : view.getUint32(30, true);
  if (compression === 4 || compression === 5) throw new ResnetServeError('IMAGE_UNSUPPORTED', `BMP files holding a ${compression === 4 ? 'JPEG' : 'PNG'} are not supported; send the ${compression === 4 ? 'JPEG' : 'PNG'} itself`);
  if (width <= 0 || rawHeight === 0 || rawHeight === -2147483648) throw corrupt(`it declares a ${width}x${rawHeight} image`);
  if (planes !== 1) throw corrupt(`it declares ${planes} planes`);
  if (![1, 4, 8, 16, 24, 32].includes(bitsPerPixel)) throw corrupt(`${bitsPerPixel} bits per pixel`);
  const okCompression = compression === RGB || (compression === RLE8 && bitsPerPixel === 8) || (compression === RLE4 && bitsPerPixel === 4) || ((compression === BITFIELDS || compression === ALPHABITFIELDS) && (bitsPerPixel === 16 || bitsPerPixel === 32));
  if (!okCompression) throw new ResnetServeError('IMAGE_UNSUPPORTED', `BMP compression ${compression} with ${bitsPerPixel} bits per pixel is not supported`);

  let masks: [number, number, number] = bitsPerPixel === 16 ? [0x7c00, 0x03e0, 0x001f] : [0xff0000, 0x00ff00, 0x0000ff];
  let afterHeader = 14 + dibSize;
  if (compression === BITFIELDS || compression === ALPHABITFIELDS) {
    const at = dibSize >= 52 ? 54 : afterHeader;
    if (at + 12 > bytes.length) throw corrupt('the colour masks are cut short');
    masks = [view.getUint32(at, true), view.getUint32(at + 4, true), view.getUint32(at + 8, true)];
    if (masks.some((m) => m === 0)) throw corrupt('a colour mask is empty');
    if (dibSize === 40) afterHeader += compression === ALPHABITFIELDS ? 16 : 12;
  }

  let palette = new Uint8Array(0);
  if (bitsPerPixel <= 8) {
    const declared = core ? 0 : view.getUint32(46, true);
    const max = 1 << bitsPerPixel;
    if (declared > max) throw corrupt(`it declares ${declared} palette colours for ${bitsPerPixel}-bit pixels (at most ${max})`);
    const count = declared || max;
    const entry = core ? 3 : 4;
    const available = Math.floor((Math.min(pixelOffset, bytes.length) - afterHeader) / entry);
    if (available < 1) throw corrupt('it has no palette');
    palette = new Uint8Array(max * 3);
    for (let i = 0; i < Math.min(count, available); i++) {
      const at = afterHeader + i * entry;
      palette[i * 3] = bytes[at + 2];
      palette[i * 3 + 1] = bytes[at + 1];
      palette[i * 3 + 2] = bytes[at];
    }
  }
  if (pixelOffset < afterHeader || pixelOffset >= bytes.length) throw corrupt(`its pixel data offset ${pixelOffset} is outside the file`);
  if (compression === RGB || compression === BITFIELDS || compression === ALPHABITFIELDS) {
    const rowBytes = Math.ceil((width * bitsPerPixel) / 32) * 4;
    if (rowBytes * Math.abs(rawHeight) > bytes.length - pixelOffset) throw corrupt('the pixel data is shorter than the header says (truncated file)');
  }
  return { width, height: Math.abs(rawHeight), topDown: rawHeight < 0, bitsPerPixel, compression, pixelOffset, palette, masks };
}

/** Scales a masked channel value to 8 bits, as Pillow's unpackers do (integer division). */
function channel(value: number, mask: number): number {
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  const max = mask >>> shift;
  return Math.floor((((value & mask) >>> shift) * 255) / max);
}

function decodeRows(bytes: Uint8Array, h: BmpHeader, out: Uint8Array): void {
  const { width, height, bitsPerPixel, palette, masks } = h;
  const rowBytes = Math.ceil((width * bitsPerPixel) / 32) * 4;
  for (let row = 0; row < height; row++) {
    const src = h.pixelOffset + (h.topDown ? row : height - 1 - row) * rowBytes;
    let o = row * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      if (bitsPerPixel <= 8) {
        const perByte = 8 / bitsPerPixel;
        const byte = bytes[src + Math.floor(x / perByte)];
        const index = (byte >> (8 - bitsPerPixel * ((x % perByte) + 1))) & ((1 << bitsPerPixel) - 1);
        out[o] = palette[index * 3];
        out[o + 1] = palette[index * 3 + 1];
        out[o + 2] = palette[index * 3 + 2];
      } else if (bitsPerPixel === 24) {
        const at = src + x * 3;
        out[o] = bytes[at + 2];
        out[o + 1] = bytes[at + 1];
        out[o + 2] = bytes[at];
      } else {
        const at = src + (x * bitsPerPixel) / 8;
        const v = bitsPerPixel === 16 ? bytes[at] | (bytes[at + 1] << 8) : (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
        out[o] = channel(v, masks[0]);
        out[o + 1] = channel(v, masks[1]);
        out[o + 2] = channel(v, masks[2]);
      }
    }
  }
}

/** RLE8/RLE4: work is bounded by the file's bytes plus the image's pixels (every run is clipped to the image). */
function decodeRle(bytes: Uint8Array, h: BmpHeader, out: Uint8Array): void {
  const { width, height, palette } = h;
  const four = h.compression === RLE4;
  const put = (x: number, y: number, index: number): void => {
    const row = h.topDown ? y : height - 1 - y;
    const o = (row * width + x) * 3;
    out[o] = palette[index * 3];
    out[o + 1] = palette[index * 3 + 1];
    out[o + 2] = palette[index * 3 + 2];
  };
  // Pixels the stream never reaches are palette entry 0 (filled by doubling copies, fast for any size).
  if (out.length) {
    out.set(palette.subarray(0, 3), 0);
    for (let filled = 3; filled < out.length; filled *= 2) out.copyWithin(filled, 0, Math.min(filled, out.length - filled));
  }
  let pos = h.pixelOffset;
  let x = 0;
  let y = 0;
  while (pos + 1 < bytes.length && y < height) {
    const count = bytes[pos];
    const value = bytes[pos + 1];
    pos += 2;
    if (count > 0) {
      for (let i = 0; i < count && x < width; i++, x++) put(x, y, four ? (i % 2 === 0 ? value >> 4 : value & 15) : value);
    } else if (value === 0) {
      x = 0;
      y++;
    } else if (value === 1) {
      return;
    } else if (value === 2) {
      if (pos + 1 >= bytes.length) return;
      x += bytes[pos];
      y += bytes[pos + 1];
      pos += 2;
    } else {
      const stored = four ? Math.ceil(value / 2) : value;
      if (pos + stored > bytes.length) throw corrupt('an RLE run is cut short (truncated file)');
      for (let i = 0; i < value; i++, x++) {
        if (x >= width) continue;
        const b = bytes[pos + (four ? i >> 1 : i)];
        put(x, y, four ? (i % 2 === 0 ? b >> 4 : b & 15) : b);
      }
      pos += stored + (stored % 2);
    }
  }
}

/** Decodes a checked BMP header's pixels to RGB. */
export function decodeBmp(bytes: Uint8Array, header: BmpHeader = readBmpHeader(bytes)): BmpImage {
  const out = new Uint8Array(header.width * header.height * 3);
  if (header.compression === RLE8 || header.compression === RLE4) decodeRle(bytes, header, out);
  else decodeRows(bytes, header, out);
  return { data: out, width: header.width, height: header.height };
}
