/**
 * Pure geometry of torchvision's `Resize(size)` and `CenterCrop(size)` on a PIL
 * image, with torchvision 0.14's integer rounding reproduced exactly.
 */

/** Width and height in pixels. */
export interface Size {
  width: number;
  height: number;
}

/** A rectangle of a resized image: left/top offset plus size. */
export interface CropBox extends Size {
  left: number;
  top: number;
}

/**
 * Python's `round()`: nearest integer, halves to even (banker's rounding).
 * torchvision's centre crop offset uses it.
 */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/**
 * Output size of torchvision's `Resize(shortSide)`: the short side becomes
 * `shortSide`, the long side `int(shortSide * long / short)` (truncated).
 */
export function resizeShortSide(input: Size, shortSide: number): Size {
  const { width: w, height: h } = input;
  if (w <= h) {
    return { width: shortSide, height: Math.trunc((shortSide * h) / w) };
  }
  return { width: Math.trunc((shortSide * w) / h), height: shortSide };
}

/**
 * Box of torchvision's `CenterCrop(crop)` inside an image of size `input`:
 * `top = round((H - crop) / 2)`, `left = round((W - crop) / 2)`. Images smaller
 * than the crop (impossible after `Resize(256)` for a 224 crop) are refused.
 */
export function centerCropBox(input: Size, crop: Size): CropBox {
  if (crop.width > input.width || crop.height > input.height) {
    throw new RangeError(`crop ${crop.width}x${crop.height} is larger than the image ${input.width}x${input.height}`);
  }
  return {
    left: roundHalfEven((input.width - crop.width) / 2),
    top: roundHalfEven((input.height - crop.height) / 2),
    width: crop.width,
    height: crop.height,
  };
}
