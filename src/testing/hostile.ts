/**
 * Test helper: hostile and odd images, generated (no checked-in blobs):
 * decompression bombs declared in headers (PNG, JPEG, AVIF), broken checksums, truncations,
 * huge animations, multi-page TIFFs, SVG with external references, bad EXIF
 * and ICC data.
 */
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A PNG whose header declares `width`×`height` (8-bit RGB) with a tiny, inconsistent IDAT. */
export function pngDeclaring(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))]);
}

/** A JPEG whose SOF0 declares `width`×`height`, made by patching a small real JPEG. */
export async function jpegDeclaring(width: number, height: number): Promise<Buffer> {
  const jpeg = Buffer.from(await sharp({ create: { width: 16, height: 16, channels: 3, background: '#888' } }).jpeg({ progressive: false }).toBuffer());
  for (let i = 2; i < jpeg.length - 9; i++) {
    if (jpeg[i] === 0xff && (jpeg[i + 1] === 0xc0 || jpeg[i + 1] === 0xc2)) {
      jpeg.writeUInt16BE(height, i + 5);
      jpeg.writeUInt16BE(width, i + 7);
      return jpeg;
    }
  }
  throw new Error('no SOF marker');
}

/** An AVIF whose image extent (`ispe` box) declares `width`×`height`, made by patching a small real AVIF. */
export async function avifDeclaring(width: number, height: number): Promise<Buffer> {
  const avif = Buffer.from(await sharp({ create: { width: 16, height: 16, channels: 3, background: '#888' } }).avif({ effort: 0 }).toBuffer());
  const at = avif.indexOf('ispe', 0, 'latin1');
  if (at < 0) throw new Error('no ispe box');
  // After the type: version and flags (4 bytes), then width and height.
  avif.writeUInt32BE(width, at + 8);
  avif.writeUInt32BE(height, at + 12);
  return avif;
}

/** A valid PNG with one bit flipped inside its IDAT data, so the CRC no longer matches. */
export async function pngWithBadCrc(): Promise<Buffer> {
  const png = Buffer.from(await sharp({ create: { width: 32, height: 32, channels: 3, background: '#3a6' } }).png().toBuffer());
  const idat = png.indexOf(Buffer.from('IDAT'));
  png[idat + 6] ^= 0x10;
  return png;
}

/** An animated GIF with `frames` 4×4 frames. */
export async function gifWithFrames(frames: number): Promise<Buffer> {
  const raw = Buffer.alloc(4 * 4 * 4 * frames);
  for (let f = 0; f < frames; f++) raw.fill(f % 2 ? 255 : 40, f * 64, (f + 1) * 64);
  return sharp(raw, { raw: { width: 4, height: 4 * frames, channels: 4, pageHeight: 4 } as never }).gif({ effort: 1 }).toBuffer();
}

/** A multi-page TIFF. */
export async function multiPageTiff(pages: number): Promise<Buffer> {
  const raw = Buffer.alloc(32 * 32 * 3 * pages, 90);
  return sharp(raw, { raw: { width: 32, height: 32 * pages, channels: 3, pageHeight: 32 } as never }).tiff().toBuffer();
}

/** SVG that references a remote URL and a local file. */
export function svgWithExternalRefs(): Buffer {
  return Buffer.from(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64">
<image xlink:href="http://127.0.0.1:1/secret.png" width="64" height="64"/><image xlink:href="file:///etc/passwd" width="64" height="64"/></svg>`);
}

/** A JPEG whose EXIF orientation tag holds `value` (patched after writing orientation 3). */
export async function jpegWithOrientation(value: number): Promise<Buffer> {
  const jpeg = Buffer.from(await sharp({ create: { width: 40, height: 30, channels: 3, background: '#a52' } }).jpeg().withMetadata({ orientation: 3 }).toBuffer());
  // The Orientation entry is tag 0x0112, type SHORT (3), count 1, value 3, in either byte order.
  for (const [tag, le] of [[Buffer.from([0x12, 0x01, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00]), true], [Buffer.from([0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x03]), false]] as const) {
    const at = jpeg.indexOf(tag);
    if (at >= 0) {
      if (le) jpeg.writeUInt16LE(value, at + 8);
      else jpeg.writeUInt16BE(value, at + 8);
      return jpeg;
    }
  }
  throw new Error('no orientation tag');
}

/** A JPEG carrying an APP2 ICC_PROFILE segment of garbage. */
export async function jpegWithMalformedIcc(): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#25a' } }).jpeg().toBuffer();
  const payload = Buffer.concat([Buffer.from('ICC_PROFILE\0', 'latin1'), Buffer.from([1, 1]), Buffer.from('this is not an ICC profile at all, just bytes'.repeat(4))]);
  const segment = Buffer.alloc(4);
  segment.writeUInt16BE(0xffe2, 0);
  segment.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), segment, payload, jpeg.subarray(2)]);
}

/** A 16-bit RGBA PNG. */
export async function png16Rgba(): Promise<Buffer> {
  const samples = new Uint16Array(24 * 24 * 4).map((_, i) => (i * 977) % 65536);
  return sharp(samples, { raw: { width: 24, height: 24, channels: 4 } }).toColourspace('rgb16').png().toBuffer();
}

/** A CMYK JPEG with no ICC profile. */
export async function cmykJpegWithoutProfile(): Promise<Buffer> {
  return sharp({ create: { width: 48, height: 32, channels: 3, background: '#c84' } }).toColourspace('cmyk').jpeg().toBuffer();
}
