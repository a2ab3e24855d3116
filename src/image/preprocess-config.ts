/**
 * What a model asks of preprocessing (torchvision's `Resize` and `CenterCrop`
 * sizes, the normalisation) and the two modes, apart from the pipeline
 * itself (`preprocess.ts`) so that code which only names them does not load
 * the decoder.
 */
import { IMAGENET_MEAN, IMAGENET_STD } from './normalize.js';

/** How a model wants its input prepared. */
export interface PreprocessConfig {
  /** Short side after `Resize` (torchvision: 256). */
  resizeShortSide: number;
  /** Side of the square `CenterCrop` (torchvision: 224); the model's input size. */
  cropSize: number;
  /** Per-channel mean, RGB. */
  mean: readonly number[];
  /** Per-channel standard deviation, RGB. */
  std: readonly number[];
}

/** torchvision's ImageNet evaluation transform for ResNet-18. */
export const IMAGENET_PREPROCESS: PreprocessConfig = {
  resizeShortSide: 256,
  cropSize: 224,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
};

/**
 * `exact` reproduces torchvision + Pillow to the float. `fast` differs only
 * for images whose short side is at least twice the resize target (512 px
 * for ResNet): those are decoded at reduced scale instead of decoding every
 * pixel (`decode.ts`: a JPEG at libjpeg's 1/2, 1/4 or 1/8 then Pillow's
 * filter, other formats resized by libvips while decoding). Smaller images
 * are identical in both modes.
 */
export type PreprocessMode = 'exact' | 'fast';

/** The modes, for validation. */
export const PREPROCESS_MODES: readonly PreprocessMode[] = ['exact', 'fast'];
