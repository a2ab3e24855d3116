/** What files are by name (the extensions folder walks take as photos) and by their first bytes (image formats, and videos, which are not photos). */
import { ResnetServeError } from '../errors.js';
import { isBmp } from './bmp.js';

/** The environment variable that, set to `1`, limits libvips to the loaders we accept in every thread and child that loads sharp through `guarded-sharp.ts` (our executable sets it). */
export const RESTRICT_LOADERS_ENV = 'RESNET_SERVE_RESTRICT_LOADERS';

/** File extensions that folder walks treat as images (the CLI's folders, `--calibrate` photos); a file named directly is tried whatever its name. */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.jpe', '.png', '.webp', '.gif', '.tif', '.tiff', '.bmp', '.avif', '.heic', '.heif']);

/** ISO BMFF brands of video files (MP4, MOV, 3GP, M4V…); HEIF/AVIF brands are images (`decode.ts`). */
const VIDEO_BRANDS = /^(isom|iso[2-9]|mp41|mp42|mp71|avc1|M4V |M4VH|M4VP|qt {2}|3gp\d|3g2\w|3ge\d|f4v |dash|MSNV|XAVC|NDAS|mmp4|MQT )$/;
/** First boxes of QuickTime files without an `ftyp` box. */
const QUICKTIME_BOXES = new Set(['moov', 'mdat', 'wide', 'free', 'skip', 'pnot']);

const ascii = (b: Uint8Array, from: number, to: number): string => String.fromCharCode(...b.subarray(from, to));

/** Whether a file's first bytes (32 are enough) are those of a video: MP4, MOV, 3GP, AVI, Matroska/WebM, MPEG, FLV. */
export function isVideo(head: Uint8Array): boolean {
  if (head.length >= 12 && ascii(head, 4, 8) === 'ftyp' && VIDEO_BRANDS.test(ascii(head, 8, 12))) return true;
  if (head.length >= 8 && QUICKTIME_BOXES.has(ascii(head, 4, 8))) return true;
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && /^(AVI |AVIX|AMV )$/.test(ascii(head, 8, 12))) return true;
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) return true; // Matroska, WebM
  if (head.length >= 4 && head[0] === 0 && head[1] === 0 && head[2] === 1 && (head[3] === 0xba || head[3] === 0xb3)) return true; // MPEG program stream
  return head.length >= 3 && ascii(head, 0, 3) === 'FLV';
}

/** HEIF brands (ISO BMFF `ftyp`): AVIF, HEIC and the generic image brands. */
const HEIF_BRANDS = new Set(['avif', 'avis', 'heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'hevm', 'hevs', 'mif1', 'msf1']);

/** An ISO BMFF file starts with an `ftyp` box of a sane size naming a HEIF brand (not just "ftyp" at offset 4). */
function isHeif(b: Uint8Array): boolean {
  const size = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  return ascii(b, 4, 8) === 'ftyp' && size >= 16 && size <= 4096 && size % 4 === 0 && HEIF_BRANDS.has(ascii(b, 8, 12));
}

/** Formats recognised by their first bytes; anything else (SVG, PDF, HTML, text…) is refused before any decoder sees it. */
const MAGIC: [string, (b: Uint8Array) => boolean][] = [
  // The start-of-image marker alone: what follows it may be damaged (a frame half overwritten), and is then said so.
  ['jpeg', (b) => b[0] === 0xff && b[1] === 0xd8],
  ['png', (b) => b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47],
  ['gif', (b) => b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x38],
  ['webp', (b) => ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP'],
  ['tiff', (b) => (b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)],
  ['heif', isHeif],
  ['jxl', (b) => (b[0] === 0xff && b[1] === 0x0a) || (ascii(b, 4, 8) === 'JXL ' && b[0] === 0 && b[3] === 0x0c)],
  ['jp2', (b) => ascii(b, 4, 8) === 'jP  ' && b[0] === 0 && b[3] === 0x0c],
];

/** The format the first bytes announce, or null. */
export function sniffFormat(bytes: Uint8Array): string | null {
  if (bytes.length < 12) return bytes.length >= 3 && MAGIC[0][1](bytes) ? 'jpeg' : null;
  return MAGIC.find(([, test]) => test(bytes))?.[0] ?? null;
}

/** Whether the first bytes are those of an image format we know (BMP included), decodable here or not. */
export function looksLikeImage(head: Uint8Array): boolean {
  return sniffFormat(head) !== null || isBmp(head);
}

/** Formats people send that this build recognises but cannot decode, with what to do instead. */
export const UNDECODABLE: Record<string, string> = {
  jxl: 'JPEG XL images are not supported by this build; convert them to JPEG or PNG',
  jp2: 'JPEG 2000 images are not supported by this build; convert them to JPEG or PNG',
  hevc: 'HEIC photos (HEVC-compressed, as iPhones save them) are not supported by this build; export them as JPEG (on an iPhone: Settings › Camera › Formats › Most Compatible)',
};

/** What a file in no image format we know is told. */
export const UNSUPPORTED = 'Not an image in a supported format (JPEG, PNG, WebP, GIF, TIFF, BMP, AVIF)';

/**
 * Signatures whose prefixes, in a file that short, are the start of that
 * image cut short: from 2 bytes for those starting with a byte text never
 * has (JPEG, PNG), from 3 for those that read as letters (GIF, TIFF).
 */
const SIGNATURES: [string, number, number[]][] = [
  ['JPEG', 2, [0xff, 0xd8, 0xff]],
  ['PNG', 2, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]],
  ['GIF', 3, [0x47, 0x49, 0x46, 0x38]],
  ['TIFF', 3, [0x49, 0x49, 0x2a, 0]],
  ['TIFF', 3, [0x4d, 0x4d, 0, 0x2a]],
];

/** The format whose signature a file too short to be recognised (under 12 bytes) begins, or null. */
export function truncatedSignature(bytes: Uint8Array): string | null {
  if (bytes.length >= 12) return null;
  const found = SIGNATURES.find(([, least, signature]) => bytes.length >= least && bytes.every((b, i) => i >= signature.length || signature[i] === b));
  return found ? found[0] : null;
}

/**
 * Throws IMAGE_UNSUPPORTED, saying why, unless the first bytes in `head`
 * (the whole file, or its first few dozen bytes) are those of an image
 * format we decode; IMAGE_CORRUPT for a file of a few bytes that begins
 * like one (an upload cut short).
 */
export function refuseUnlessImage(head: Uint8Array): void {
  if (isBmp(head)) return;
  const format = sniffFormat(head);
  const cut = format ? null : truncatedSignature(head);
  if (cut) throw new ResnetServeError('IMAGE_CORRUPT', `The file is only ${head.length} bytes: the start of a ${cut} image, cut short`);
  if (!format) throw new ResnetServeError('IMAGE_UNSUPPORTED', isVideo(head) ? 'A video, not a photo: resnet-serve classifies still images (take a frame out first, e.g. ffmpeg -i clip.mp4 -frames:v 1 frame.jpg)' : UNSUPPORTED);
  if (UNDECODABLE[format]) throw new ResnetServeError('IMAGE_UNSUPPORTED', UNDECODABLE[format]);
}
