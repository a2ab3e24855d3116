/**
 * EXIF orientation applied to decoded pixels: what sharp's `autoOrient()`
 * does, for images decoded outside libvips (`jpeg-native.ts`).
 */
import type { CropBox, Size } from './geometry.js';
import type { RawImage } from './resample.js';

/**
 * For EXIF orientation 1–8, where upright pixel (x, y) comes from in the
 * stored image of size `w`×`h`, as a pixel index `base + x * stepX + y * stepY`.
 */
const SOURCE: Record<number, (w: number, h: number) => { base: number; stepX: number; stepY: number }> = {
  1: (w) => ({ base: 0, stepX: 1, stepY: w }),
  2: (w) => ({ base: w - 1, stepX: -1, stepY: w }),
  3: (w, h) => ({ base: (h - 1) * w + w - 1, stepX: -1, stepY: -w }),
  4: (w, h) => ({ base: (h - 1) * w, stepX: 1, stepY: -w }),
  5: (w) => ({ base: 0, stepX: w, stepY: 1 }),
  6: (w, h) => ({ base: (h - 1) * w, stepX: -w, stepY: 1 }),
  7: (w, h) => ({ base: (h - 1) * w + w - 1, stepX: -w, stepY: -1 }),
  8: (w) => ({ base: w - 1, stepX: w, stepY: -1 }),
};

/**
 * The upright image for a stored image with EXIF `orientation` (1–8;
 * anything else is treated as 1, as libvips does). Orientations 5–8 swap
 * width and height. Returns `image` itself for orientation 1.
 */
export function orient(image: RawImage, orientation: number): RawImage {
  const source = SOURCE[orientation];
  if (!source || orientation === 1) return image;
  const { width: w, height: h, channels: c, data } = image;
  const swap = orientation >= 5;
  const width = swap ? h : w;
  const height = swap ? w : h;
  const { base, stepX, stepY } = source(w, h);
  const out = new Uint8Array(width * height * c);
  let to = 0;
  for (let y = 0; y < height; y++) {
    let from = (base + y * stepY) * c;
    const step = stepX * c;
    if (c === 3) {
      for (let x = 0; x < width; x++, from += step, to += 3) {
        out[to] = data[from];
        out[to + 1] = data[from + 1];
        out[to + 2] = data[from + 2];
      }
    } else {
      for (let x = 0; x < width; x++, from += step, to += c) {
        for (let k = 0; k < c; k++) out[to + k] = data[from + k];
      }
    }
  }
  return { data: out, width, height, channels: c };
}

/**
 * The size of an image with EXIF `orientation` once turned upright (and,
 * since a turn only swaps the sides, of the stored image given the upright
 * one).
 */
export function turnedSize(size: Size, orientation: number): Size {
  return orientation >= 5 ? { width: size.height, height: size.width } : { width: size.width, height: size.height };
}

/**
 * Where `box`, a rectangle of the upright image of size `upright`, lies in
 * the stored image with EXIF `orientation`: so that only those stored pixels
 * need computing, and `orient` of them is `box` of the upright image.
 */
export function storedBox(box: CropBox, upright: Size, orientation: number): CropBox {
  const source = SOURCE[orientation];
  if (!source || orientation === 1) return box;
  const stored = turnedSize(upright, orientation);
  const { base, stepX, stepY } = source(stored.width, stored.height);
  const at = (x: number, y: number): [number, number] => {
    const index = base + x * stepX + y * stepY;
    return [index % stored.width, Math.floor(index / stored.width)];
  };
  const [x0, y0] = at(box.left, box.top);
  const [x1, y1] = at(box.left + box.width - 1, box.top + box.height - 1);
  return { left: Math.min(x0, x1), top: Math.min(y0, y1), width: Math.abs(x1 - x0) + 1, height: Math.abs(y1 - y0) + 1 };
}
