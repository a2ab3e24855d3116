/** What files are by name (the extensions folder walks take as photos) and by their first bytes (videos, which are not photos). */

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
