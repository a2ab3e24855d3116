/**
 * Drawing a class activation map: the map upsampled over the 224×224 crop the
 * model saw, coloured with a colour-blind-safe scale (cividis: dark blue →
 * grey → yellow, readable with every common colour-vision deficiency and in
 * greyscale) and laid over the crop, and over the whole photo through the
 * crop's place in it.
 */
import { normalizeMap, upsampleMap, type ActivationMap } from '../classify/cam.js';
import { centerCropBox, resizeShortSide } from './geometry.js';
import type { PreprocessConfig } from './preprocess-config.js';
import { loadSharp } from './load-sharp.js';

/** Cividis at 0, ¼, ½, ¾ and 1 (Nuñez, Anderton & Renslow, 2018), interpolated linearly between. */
const CIVIDIS: readonly [number, number, number][] = [
  [0, 34, 78],
  [63, 77, 107],
  [124, 123, 120],
  [189, 175, 111],
  [253, 234, 69],
];

/** The colour of `t` (0..1) on the scale. */
export function heatColour(t: number): [number, number, number] {
  const x = Math.min(Math.max(t, 0), 1) * (CIVIDIS.length - 1);
  const i = Math.min(Math.floor(x), CIVIDIS.length - 2);
  const f = x - i;
  const [a, b] = [CIVIDIS[i], CIVIDIS[i + 1]];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f)) as [number, number, number];
}

/** An RGBA heat layer of `size × size`: the map's colour, more opaque where the map is strong. */
function heatLayer(map: ActivationMap, size: number): Buffer {
  const values = normalizeMap(upsampleMap(map, size));
  const out = Buffer.alloc(size * size * 4);
  for (let i = 0; i < values.length; i++) {
    const [r, g, b] = heatColour(values[i]);
    out[i * 4] = r;
    out[i * 4 + 1] = g;
    out[i * 4 + 2] = b;
    out[i * 4 + 3] = Math.round(90 + 130 * values[i]);
  }
  return out;
}

/**
 * PNG overlays of `map` on the crop the model saw and on the whole photo
 * (longest side at most `photoSide`); with a null map, the plain crop and
 * photo (a preview for browsers that cannot show the format).
 */
export async function renderOverlays(bytes: Buffer, map: ActivationMap | null, config: PreprocessConfig, photoSide = 800): Promise<{ crop: Buffer; photo: Buffer }> {
  const [sharp, { drawableImage }] = await Promise.all([loadSharp(), import('./decode.js')]);
  const upright = (await drawableImage(bytes)).autoOrient();
  // The upright size from the header alone (EXIF orientations 5–8 swap the sides; metadata is the input's).
  const meta = await upright.metadata();
  const swap = (meta.orientation ?? 1) >= 5;
  const height0 = meta.pageHeight ?? meta.height ?? 1;
  const info = swap ? { width: height0, height: meta.width ?? 1 } : { width: meta.width ?? 1, height: height0 };
  const resized = resizeShortSide({ width: info.width, height: info.height }, config.resizeShortSide);
  const box = centerCropBox(resized, { width: config.cropSize, height: config.cropSize });
  const size = config.cropSize;
  const cropped = upright.clone().resize(resized.width, resized.height, { fit: 'fill' }).extract({ left: box.left, top: box.top, width: size, height: size }).removeAlpha();
  if (!map) return { crop: await cropped.png().toBuffer(), photo: await upright.clone().resize(photoSide, photoSide, { fit: 'inside', withoutEnlargement: true }).removeAlpha().png().toBuffer() };
  const layer = (s: number): Buffer => heatLayer(map, s);
  const crop = await cropped.composite([{ input: layer(size), raw: { width: size, height: size, channels: 4 } }]).png().toBuffer();
  // The crop's place in a photo scaled so its longest side is at most photoSide.
  const scale = Math.min(1, photoSide / Math.max(info.width, info.height));
  const photoW = Math.max(1, Math.round(info.width * scale));
  const photoH = Math.max(1, Math.round(info.height * scale));
  const k = (photoW / resized.width + photoH / resized.height) / 2;
  const side = Math.max(1, Math.min(Math.round(size * k), photoW, photoH));
  const left = Math.min(Math.max(0, Math.round(box.left * k)), photoW - side);
  const top = Math.min(Math.max(0, Math.round(box.top * k)), photoH - side);
  const heat = await sharp(layer(size), { raw: { width: size, height: size, channels: 4 } }).resize(side, side).png().toBuffer();
  const photo = await upright
    .clone()
    .resize(photoW, photoH, { fit: 'fill' })
    .removeAlpha()
    .composite([{ input: heat, left, top }])
    .png()
    .toBuffer();
  return { crop, photo };
}
