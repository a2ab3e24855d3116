/**
 * Decodes untrusted image bytes into upright 8-bit pixels the way Pillow's
 * `ImageOps.exif_transpose(img).convert('RGB')` sees them.
 *
 * sharp (libvips) does the decoding, with limits for untrusted input: only
 * the JPEG, PNG, WebP, GIF, TIFF and HEIF/AVIF loaders may run at all
 * (`guarded-sharp.ts`), so SVG, PDF and the rest are never parsed whatever their
 * first bytes say; the pixel count and side are checked from the header
 * before decoding; a JPEG's scans are counted first (a scan bomb is refused);
 * libvips stops a decode that runs past its time budget; decoder warnings
 * (truncation) fail; only the first frame of an animation is read; embedded
 * ICC profiles are ignored (Pillow ignores them too). BMP, which libvips
 * does not read, goes through our checked decoder (`bmp.ts`). An 8-bit grey
 * or colour JPEG goes through libjpeg-turbo directly (`jpeg-native.ts`) when
 * that is built, its header read from its markers (`jpeg-header.ts`) and
 * checked by the same limits, without asking libvips; whatever that path
 * refuses goes through sharp as above.
 *
 * Colour handling, each matching Pillow: grayscale stays one channel (the
 * caller replicates it), alpha is dropped without compositing, 16-bit samples
 * become `round(v / 257)`, and CMYK becomes RGB by Pillow's naive
 * `(255 - C) * (255 - K) / 255` rather than through a colour profile.
 */
import type { Metadata, Sharp } from 'sharp';
import { ResnetServeError } from '../errors.js';
import { decodeBmp, isBmp, readBmpHeader } from './bmp.js';
import { DEFAULT_DECODE_LIMITS, HEIF_PIXEL_WEIGHT, maxPixelsFor, type DecodeLimits } from './decode-limits.js';
import { refuseUnlessImage, sniffFormat, UNDECODABLE, UNSUPPORTED } from './formats.js';
import { readJpegHeader, type JpegHeader } from './jpeg-header.js';
import { decodeJpegScaled, jpegScaleDenominator, jpegScaledSize, nativeJpegAvailable } from './jpeg-native.js';
import { countJpegScans, maxJpegScans } from './jpeg-scans.js';
import { orient, storedBox, turnedSize } from './orient.js';
import type { CropBox, Size } from './geometry.js';
import { loadSharp } from './load-sharp.js';
import { bilinearSourceSpan, resizeBilinearWindow, type RawImage } from './resample.js';

/** Decoded pixels plus the upright size of the original (larger when decoded with shrink-on-load). */
export interface DecodedImage extends RawImage {
  original: { width: number; height: number };
  /** Set when the pixels are only this box of the resized upright image (`DecodeOptions.window`). */
  window?: CropBox;
}

/** Optional decoding shortcut (the fast mode). */
export interface DecodeOptions {
  /**
   * When the image is at least twice this size, decode it smaller instead
   * of returning every pixel: a JPEG at the smallest libjpeg scale that
   * stays twice this size (`jpeg-native.ts`, when built), anything else resized
   * to this size by libvips while decoding (JPEG shrink-on-load, then an
   * antialiased linear reduce: the triangle filter of Pillow's bilinear
   * resize, stretched over the reduction as Pillow does). Off when undefined.
   */
  resizeTo?: (upright: { width: number; height: number }) => { width: number; height: number } | null;
  /**
   * With `resizeTo`: the part of the resized upright image that is needed
   * (fast mode's centre crop). The JPEG decoder then resamples only those
   * pixels and returns them with `window` set; other decoders ignore it.
   */
  window?: (resized: Size) => CropBox;
  /**
   * Decode only a photo JPEG that libjpeg-turbo reads (never load libvips):
   * anything else, a damaged JPEG included, throws {@link DecodeDeclined}.
   */
  nativeOnly?: boolean;
}

/** Thrown with `nativeOnly` for an image that needs libvips (or libvips' words for its error). */
export class DecodeDeclined extends Error {
  constructor() {
    super('This image is not a photo JPEG that libjpeg-turbo decodes on its own');
    this.name = 'DecodeDeclined';
  }
}

const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'avif']);

/** Refuses, from the header alone, images above the pixel (for `format`) or side limit. */
function checkSize(width: number, height: number, limits: DecodeLimits, format = ''): void {
  const maxPixels = maxPixelsFor(format, limits);
  if (width * height > maxPixels) {
    const why = maxPixels < limits.maxPixels ? ` for AVIF and HEIF images (their decoder needs about 19 bytes a pixel, so they count ${HEIF_PIXEL_WEIGHT}× against the limit of ${limits.maxPixels} pixels, which --max-pixels (maxPixels in the library) sets)` : ' pixels (--max-pixels sets it; maxPixels in the library)';
    throw new ResnetServeError('IMAGE_TOO_LARGE', `Image is ${width}x${height} (${width * height} pixels), above the limit of ${maxPixels}${why}`);
  }
  const maxSide = limits.maxSide ?? DEFAULT_DECODE_LIMITS.maxSide ?? Infinity;
  if (width > maxSide || height > maxSide) {
    throw new ResnetServeError('IMAGE_TOO_LARGE', `Image is ${width}x${height}, above the limit of ${maxSide} pixels a side`);
  }
}

/** How a format sniffed from the first bytes is named to people. */
const FORMAT_NAMES: Record<string, string> = { jpeg: 'JPEG', png: 'PNG', webp: 'WebP', gif: 'GIF', tiff: 'TIFF', heif: 'AVIF or HEIF' };

/** libvips's message prefixes naming the loader that wrote them, by the format it reads. */
const LOADER_PREFIXES: [string, RegExp][] = [
  ['jpeg', /^(?:VipsJpeg|jpegload)/i],
  ['png', /^(?:vipspng|VipsForeignLoadPng|pngload)/i],
  ['webp', /^(?:webp|VipsForeignLoadWebp)/i],
  ['gif', /^(?:gifload|nsgif|VipsForeignLoadNsgif|VipsForeignLoadGif)/i],
  ['tiff', /^(?:tiff2vips|tiffload|VipsForeignLoadTiff)/i],
  ['heif', /^(?:heifload|VipsForeignLoadHeif)/i],
];

/** The format whose libvips loader wrote `line` (its prefix says), or undefined for lines of libvips's generic parts. */
function writerOf(line: string): string | undefined {
  const text = line.trim().replace(/^Input (?:buffer|file) has corrupt header:\s*/i, '');
  return LOADER_PREFIXES.find(([, prefix]) => prefix.test(text))?.[0];
}

/** What {@link decodeError} knows about the image besides libvips's message. */
export interface DecodeFacts {
  /** libjpeg's reason, from our own decoder. */
  libjpegSays?: string;
  /** The format the first bytes announce ({@link sniffFormat}), for bytes already checked to be one we decode. */
  format?: string | null;
}

/**
 * libvips's error for an image as our typed error. The time limit is checked
 * first: a decode cut short by it also reports the read it was in ("bad seek").
 * Given `facts.libjpegSays`, that is the detail of a damaged image: libvips
 * keeps one error buffer for all threads, so its sentence may be another
 * image's, decoded at the same time. Given `facts.format`, only a line that
 * format's loader wrote is taken as the reason (else a generic one naming the
 * format), and bytes libvips does not recognise are a damaged image of that
 * format (a TIFF cut short loses its directory), not an unsupported one.
 */
export function decodeError(err: unknown, limits: DecodeLimits, facts: DecodeFacts = {}): ResnetServeError {
  const message = err instanceof Error ? err.message : String(err);
  const name = facts.format ? FORMAT_NAMES[facts.format] : undefined;
  if (/timeout/i.test(message)) {
    return new ResnetServeError('IMAGE_TOO_COMPLEX', `Image needs more than ${limits.maxDecodeMs ?? DEFAULT_DECODE_LIMITS.maxDecodeMs} ms of decoding`, { cause: err });
  }
  if (/unsupported image format|bad seek|not a known file format/i.test(message)) {
    if (name) return new ResnetServeError('IMAGE_CORRUPT', `Image data is damaged or truncated (it starts as ${name} but its header cannot be read)`, { cause: err });
    return new ResnetServeError('IMAGE_UNSUPPORTED', UNSUPPORTED, { cause: err });
  }
  if (/pixel limit/i.test(message)) {
    return new ResnetServeError('IMAGE_TOO_LARGE', `Image is above the limit of ${limits.maxPixels} pixels`, { cause: err });
  }
  // libvips repeats its message and sharp adds its own wording: keep libjpeg's (or libpng's…) sentence, once,
  // and with the format known only a line its own loader wrote (the buffer is shared by the images decoding at once).
  const line = message.split('\n').find((l) => l.trim() && !/failOn setting/i.test(l) && (!facts.format || writerOf(l) === facts.format)) ?? '';
  const said = line.replace(/^(?:(?:Input (?:buffer|file) has corrupt header|Vips\w*|\w+load\w*|tiff2vips|webp):\s*)+/i, '').trim();
  const reason = facts.libjpegSays ?? (said || (name ? `the ${name} data could not be read` : ''));
  const bits = /Unsupported JPEG data precision (\d+)/i.exec(reason)?.[1];
  if (bits) return new ResnetServeError('IMAGE_UNSUPPORTED', `${bits}-bit JPEGs (used in medical and scientific imaging) are not supported by this build; convert the image to an ordinary 8-bit JPEG or a PNG`, { cause: err });
  return new ResnetServeError('IMAGE_CORRUPT', `Image data is damaged or truncated${reason ? ` (${reason})` : ''}`, { cause: err });
}

function decodeBmpImage(bytes: Buffer, limits: DecodeLimits): DecodedImage {
  const header = readBmpHeader(bytes);
  checkSize(header.width, header.height, limits);
  const bmp = decodeBmp(bytes, header);
  return { data: bmp.data, width: bmp.width, height: bmp.height, channels: 3, original: { width: bmp.width, height: bmp.height } };
}

/**
 * A sharp pipeline over a photo, for drawing (heatmaps, thumbnails) rather
 * than for the model: the bytes as they are, with `limits.maxPixels`, except a
 * BMP, which libvips cannot read and which comes through our decoder as RGB.
 */
export async function drawableImage(bytes: Buffer, limits: DecodeLimits = DEFAULT_DECODE_LIMITS): Promise<Sharp> {
  const sharp = await loadSharp();
  if (!isBmp(bytes)) return sharp(bytes, { failOn: 'none', limitInputPixels: maxPixelsFor(sniffFormat(bytes), limits) }).timeout({ seconds: Math.ceil((limits.maxDecodeMs ?? DEFAULT_DECODE_LIMITS.maxDecodeMs ?? 10_000) / 1000) });
  const { data, width, height } = decodeBmpImage(bytes, limits);
  return sharp(data, { raw: { width, height, channels: 3 } });
}

/** Keeps the first `keep` of `channels` interleaved samples per pixel, mapping each through `map`. */
function selectChannels(src: ArrayLike<number>, pixels: number, channels: number, keep: number, map: (v: number) => number): Uint8Array {
  const out = new Uint8Array(pixels * keep);
  for (let i = 0; i < pixels; i++) {
    for (let c = 0; c < keep; c++) out[i * keep + c] = map(src[i * channels + c]);
  }
  return out;
}

function cmykToRgb(src: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) {
    const nk = 255 - src[i * 4 + 3];
    for (let c = 0; c < 3; c++) {
      const t = src[i * 4 + c] * nk + 128;
      const v = nk - (((t >> 8) + t) >> 8);
      out[i * 3 + c] = v < 0 ? 0 : v;
    }
  }
  return out;
}

const identity = (v: number): number => v;
const sixteenToEight = (v: number): number => Math.round(v / 257);

/** Refuses a JPEG of `pixels` pixels with more scans than {@link maxJpegScans} allows. */
function refuseScanBomb(bytes: Buffer, pixels: number): void {
  const limit = maxJpegScans(pixels);
  if (countJpegScans(bytes, limit) > limit) throw new ResnetServeError('IMAGE_TOO_COMPLEX', `JPEG has more than ${limit} scans (a normal progressive JPEG has about 10); refused as a decoding bomb`);
}

/** Opens untrusted bytes with sharp's safe settings and checks format and size from the header. */
async function openImage(bytes: Buffer, limits: DecodeLimits): Promise<{ image: Sharp; meta: Metadata; upright: { width: number; height: number } }> {
  // The format's own pixel limit is checked below from the header (checkSize), with its reason.
  const sharp = await loadSharp();
  const image = sharp(bytes, { ignoreIcc: true, limitInputPixels: limits.maxPixels, failOn: 'warning', pages: 1 });
  image.timeout({ seconds: Math.ceil((limits.maxDecodeMs ?? DEFAULT_DECODE_LIMITS.maxDecodeMs ?? 10_000) / 1000) });
  const meta = await image.metadata();
  if (!meta.format || !ACCEPTED_FORMATS.has(meta.format)) {
    throw new ResnetServeError('IMAGE_UNSUPPORTED', `Images of format ${meta.format ?? 'unknown'} are not accepted`);
  }
  if (meta.format === 'heif' && meta.compression === 'hevc') throw new ResnetServeError('IMAGE_UNSUPPORTED', UNDECODABLE.hevc);
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  checkSize(width, height, limits, meta.format);
  if (width === 0 || height === 0) throw new ResnetServeError('IMAGE_CORRUPT', `Image declares a ${width}x${height} size`);
  if (meta.format === 'jpeg') refuseScanBomb(bytes, width * height);
  image.autoOrient();
  return { image, meta, upright: turnedSize({ width, height }, meta.orientation ?? 1) };
}

/**
 * Fast mode's margin: a JPEG is decoded at the smallest libjpeg scale that
 * still leaves Pillow's filter at least this reduction to the resize size.
 * Less flips top-1 answers on large photos (`npm run eval:decode-scale`:
 * MobileNetV2 agreed with exact mode on 8 of 8 large reference photos with 2,
 * 7 with 1.5, 6 with 1; docs/performance.md, Decoding less).
 */
export const FAST_JPEG_REDUCTION = 2;

/**
 * The box of a `source`-sized image that resampling it to `target` reads
 * for `box`, grown by 2 pixels where the image goes on: all the JPEG decoder
 * has to produce. (libjpeg's cropped decode can differ from the whole
 * image's in its outermost row or column; a 1-pixel margin already made
 * every region of the reference photos the same, at every scale.)
 */
function sourceRegion(source: Size, target: Size, box: CropBox): CropBox {
  const x = bilinearSourceSpan(source.width, target.width, box.left, box.width);
  const y = bilinearSourceSpan(source.height, target.height, box.top, box.height);
  const left = Math.max(0, x.start - 2);
  const top = Math.max(0, y.start - 2);
  return { left, top, width: Math.min(source.width, x.end + 2) - left, height: Math.min(source.height, y.end + 2) - top };
}

/**
 * An 8-bit colour or grey JPEG through libjpeg-turbo directly
 * (`jpeg-native.ts`): at full size, the same pixels as libvips (checked on
 * 328 photos), or, given a `target` (fast mode, the upright resize size),
 * at the smallest libjpeg scale that leaves Pillow's filter at least
 * `reduction` to it, resized to it at once (the decoded pixels live in a
 * reused buffer; given a `window` of the upright resized image, only its
 * pixels are resampled, and only the pixels they read are decoded: the
 * same pixels as a whole decode, checked in `jpeg-native.test.ts`). Then
 * EXIF orientation. Null when the native decoder is
 * missing or refuses the file (`onRefused` hears libjpeg's reason): sharp
 * then decodes it (and names what is wrong with it).
 */
export function decodeJpegNative(bytes: Buffer, meta: Pick<Metadata, 'width' | 'height' | 'orientation'>, target: Size | null, reduction = FAST_JPEG_REDUCTION, window?: CropBox, onRefused?: (reason: string) => void): RawImage | null {
  const orientation = meta.orientation ?? 1;
  const stored = { width: meta.width ?? 0, height: meta.height ?? 0 };
  try {
    if (!target) {
      const full = decodeJpegScaled(bytes, 1);
      return full && orient(full, orientation);
    }
    const storedTarget = turnedSize(target, orientation);
    const denominator = jpegScaleDenominator(stored, storedTarget, reduction);
    if (denominator === 1) {
      // No smaller scale to decode at: resampled upright, as exact mode does, to the same bits (a turn first swaps the filter's passes).
      const upright = turnedSize(stored, orientation);
      const region = window && storedBox(sourceRegion(upright, target, window), upright, orientation);
      const full = decodeJpegScaled(bytes, 1, stored, region);
      return full && resizeBilinearWindow(orient(full, orientation), target, window ?? { left: 0, top: 0, ...target });
    }
    const box = window ? storedBox(window, target, orientation) : { left: 0, top: 0, ...storedTarget };
    const decoded = decodeJpegScaled(bytes, denominator, stored, window && sourceRegion(jpegScaledSize(stored, denominator), storedTarget, box));
    return decoded && orient(resizeBilinearWindow(decoded, storedTarget, box), orientation);
  } catch (err) {
    onRefused?.((err as Error).message);
    return null;
  }
}

/**
 * A JPEG through the native decoder, at the size fast mode asks for (and
 * only its window), with its upright size: null when libjpeg refuses it (its
 * reason to `onRefused`), and sharp then tries.
 */
function decodeNative(bytes: Buffer, header: Pick<JpegHeader, 'width' | 'height' | 'orientation'>, options: DecodeOptions, onRefused: (reason: string) => void): DecodedImage | null {
  const original = turnedSize(header, header.orientation);
  const target = options.resizeTo?.(original) ?? null;
  const window = target ? options.window?.(target) : undefined;
  const jpeg = decodeJpegNative(bytes, header, target, FAST_JPEG_REDUCTION, window, onRefused);
  return jpeg && { ...jpeg, original, ...(window ? { window } : {}) };
}

/**
 * A PNG's size as its IHDR chunk (first by the format's rule) declares it,
 * so a size past the limits is refused as too large before libspng, whose
 * own bound is lower than PNG's 2^31 − 1, calls the header corrupt.
 */
function pngDeclaredSize(bytes: Buffer): Size | null {
  if (bytes.length < 24 || sniffFormat(bytes) !== 'png' || bytes.toString('latin1', 12, 16) !== 'IHDR') return null;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/**
 * Decodes `bytes` to upright 8-bit pixels with 1 (gray) or 3 (RGB) channels.
 * With `options.resizeTo`, large images come back already resized (fast mode).
 * Throws IMAGE_EMPTY, IMAGE_UNSUPPORTED, IMAGE_CORRUPT or IMAGE_TOO_LARGE.
 */
export async function decodeImage(bytes: Buffer, limits: DecodeLimits = DEFAULT_DECODE_LIMITS, options: DecodeOptions = {}): Promise<DecodedImage> {
  if (bytes.length === 0) throw new ResnetServeError('IMAGE_EMPTY', 'The file is empty');
  if (isBmp(bytes)) return decodeBmpImage(bytes, limits);
  refuseUnlessImage(bytes);
  const header = nativeJpegAvailable() ? readJpegHeader(bytes) : null;
  // libvips keeps one error buffer for all threads, so its sentence may be another image's: libjpeg's own comes first.
  let libjpegSays: string | undefined;
  const refused = (reason: string): void => {
    libjpegSays = reason;
  };
  const png = pngDeclaredSize(bytes);
  if (png) checkSize(png.width, png.height, limits, 'png');
  if (header) {
    checkSize(header.width, header.height, limits, 'jpeg');
    refuseScanBomb(bytes, header.width * header.height);
    const decoded = decodeNative(bytes, header, options, refused);
    if (decoded) return decoded;
  }
  if (options.nativeOnly) throw new DecodeDeclined();
  try {
    const { image, meta, upright } = await openImage(bytes, limits);
    const original = upright;
    // A JPEG our header reader left to sharp (two EXIF blocks…) may still be one libjpeg decodes.
    const nativeCan = !header && meta.format === 'jpeg' && meta.depth === 'uchar' && (meta.space === 'srgb' || meta.space === 'b-w');
    const jpeg = nativeCan ? decodeNative(bytes, { width: meta.width ?? 0, height: meta.height ?? 0, orientation: meta.orientation ?? 1 }, options, refused) : null;
    if (jpeg) return jpeg;
    const target = meta.space === 'cmyk' ? null : (options.resizeTo?.(upright) ?? null);
    if (target) image.resize(target.width, target.height, { fit: 'fill', kernel: 'linear', fastShrinkOnLoad: true });
    const space = meta.space ?? 'srgb';
    if (space === 'cmyk') {
      const { data, info } = await image.pipelineColourspace('cmyk').toColourspace('cmyk').raw().toBuffer({ resolveWithObject: true });
      return { data: cmykToRgb(data, info.width * info.height), width: info.width, height: info.height, channels: 3, original };
    }
    const gray = space === 'b-w' || space === 'grey16';
    if (meta.depth === 'ushort') {
      image.toColourspace(gray ? 'grey16' : 'rgb16').raw({ depth: 'ushort' });
    } else {
      image.toColourspace(gray ? 'b-w' : 'srgb').raw();
    }
    const { data, info } = await image.toBuffer({ resolveWithObject: true });
    const keep = gray ? 1 : 3;
    const pixels = info.width * info.height;
    if (meta.depth === 'ushort') {
      const samples = new Uint16Array(data.buffer, data.byteOffset, data.length / 2);
      return { data: selectChannels(samples, pixels, info.channels, keep, sixteenToEight), width: info.width, height: info.height, channels: keep, original };
    }
    const pixelsOut = info.channels === keep ? new Uint8Array(data.buffer, data.byteOffset, data.length) : selectChannels(data, pixels, info.channels, keep, identity);
    return { data: pixelsOut, width: info.width, height: info.height, channels: keep, original };
  } catch (err) {
    if (err instanceof ResnetServeError) throw err;
    throw decodeError(err, limits, { libjpegSays, format: sniffFormat(bytes) });
  }
}
