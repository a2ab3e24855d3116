/**
 * Localisation fixtures for heatmap tests: a photo scaled to fit 300×300 and
 * pasted at a random place on a 500×500 grey canvas, with where it lies in
 * the 224×224 crop the model sees. Test helper only.
 */
import sharp from 'sharp';
import { decodeImage } from '../image/decode.js';

/** A box in the model's 224×224 crop, `[x0, x1) × [y0, y1)`. */
export interface CropBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** `photo` (any format our pipeline reads, turned upright) pasted on grey at a place drawn from `random`; PNG bytes and its box in the crop. */
export async function pasteOnGrey(photo: Buffer, random: () => number): Promise<{ canvas: Buffer; box: CropBox }> {
  const pixels = await decodeImage(photo);
  const small = await sharp(Buffer.from(pixels.data), { raw: { width: pixels.width, height: pixels.height, channels: pixels.channels as 1 | 3 } })
    .toColourspace('srgb')
    .resize(300, 300, { fit: 'inside' })
    .removeAlpha()
    .png()
    .toBuffer({ resolveWithObject: true });
  const left = Math.floor(random() * (500 - small.info.width));
  const top = Math.floor(random() * (500 - small.info.height));
  const canvas = await sharp({ create: { width: 500, height: 500, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite([{ input: small.data, left, top }])
    .png()
    .toBuffer();
  // 500×500 → Resize(256) → CenterCrop(224): the crop starts 16 px in, at scale 256/500.
  const s = 256 / 500;
  return { canvas, box: { x0: left * s - 16, y0: top * s - 16, x1: (left + small.info.width) * s - 16, y1: (top + small.info.height) * s - 16 } };
}
