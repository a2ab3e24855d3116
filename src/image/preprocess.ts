/**
 * torchvision's evaluation transform, end to end: decode → `Resize(256)` →
 * `CenterCrop(224)` → `ToTensor()` → `Normalize(mean, std)`, writing float32
 * NCHW straight into a (batch) tensor. Only the pixels that survive the crop
 * are resampled.
 */
import { performance } from 'node:perf_hooks';
import { invalidArgument } from '../errors.js';
import { DEFAULT_DECODE_LIMITS, type DecodeLimits } from './decode-limits.js';
import { decodeImage, type DecodeOptions } from './decode.js';
import { fingerprintOf } from './fingerprint.js';
import { centerCropBox, resizeShortSide, type CropBox, type Size } from './geometry.js';
import { normalizationTables, writeNormalizedCHW, type NormalizationTables } from './normalize.js';
import { IMAGENET_PREPROCESS, PREPROCESS_MODES, type PreprocessConfig, type PreprocessMode } from './preprocess-config.js';
import { resizeBilinearWindow, type RawImage } from './resample.js';

/** What preprocessing one image produced, besides the tensor data. */
export interface PreprocessResult {
  /** Upright size of the decoded image. */
  original: Size;
  /** Milliseconds spent decoding and resampling+normalising. */
  timings: { decode: number; preprocess: number };
  /** The whole frame's 32×32 grey fingerprint, when asked for (`fingerprint.ts`). */
  fingerprint?: Uint8Array;
}

function checkConfig(config: PreprocessConfig): void {
  const positiveInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;
  if (!positiveInt(config.cropSize)) throw invalidArgument('cropSize', 'a positive integer', config.cropSize);
  if (!positiveInt(config.resizeShortSide) || config.resizeShortSide < config.cropSize) {
    throw invalidArgument('resizeShortSide', `an integer >= cropSize (${config.cropSize})`, config.resizeShortSide);
  }
  for (const key of ['mean', 'std'] as const) {
    const v = config[key];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => Number.isFinite(x))) throw invalidArgument(key, 'an array of 3 finite numbers', v);
  }
  if (config.std.some((x) => x === 0)) throw invalidArgument('std', 'non-zero values', config.std);
}

/** A reusable preprocessor for one model's input configuration. */
export class Preprocessor {
  readonly config: PreprocessConfig;
  readonly limits: DecodeLimits;
  private readonly tables: NormalizationTables;

  constructor(
    config: PreprocessConfig = IMAGENET_PREPROCESS,
    limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
    readonly mode: PreprocessMode = 'exact',
  ) {
    checkConfig(config);
    if (!PREPROCESS_MODES.includes(mode)) throw invalidArgument('preprocess', `one of ${PREPROCESS_MODES.join(', ')}`, mode);
    if (!Number.isInteger(limits.maxPixels) || limits.maxPixels <= 0) throw invalidArgument('maxPixels', 'a positive integer', limits.maxPixels);
    this.config = config;
    this.limits = limits;
    this.tables = normalizationTables(config.mean, config.std);
  }

  /** Number of floats one image occupies in the tensor: `3 * crop * crop`. */
  get imageLength(): number {
    return 3 * this.config.cropSize * this.config.cropSize;
  }

  /**
   * Resize + centre crop + normalise decoded pixels into `out` at `offset`.
   * `original` is the size the geometry is computed from, when the pixels were
   * decoded smaller (shrink-on-load).
   */
  pixelsToTensor(image: RawImage, out: Float32Array, offset = 0, original: Size = image): void {
    const { resized, crop } = this.geometry(original);
    const cropped = resizeBilinearWindow(image, resized, crop);
    writeNormalizedCHW(cropped, this.tables, out, offset);
  }

  /** The resize size and the centre-crop box for an upright image of `size`. */
  geometry(size: Size): { resized: Size; crop: CropBox } {
    const resized = resizeShortSide(size, this.config.resizeShortSide);
    return { resized, crop: centerCropBox(resized, { width: this.config.cropSize, height: this.config.cropSize }) };
  }

  /** Fast mode: resize while decoding when the image is at least twice the target. */
  private readonly fastTarget = (upright: Size): Size | null =>
    Math.min(upright.width, upright.height) >= 2 * this.config.resizeShortSide ? resizeShortSide(upright, this.config.resizeShortSide) : null;

  /** Fast mode, when the whole frame is not needed: only the centre crop of the resized image. */
  private readonly fastWindow = (resized: Size): CropBox => centerCropBox(resized, { width: this.config.cropSize, height: this.config.cropSize });

  /** Decodes `bytes` and writes the model input into `out` at `offset` (and, when asked, the image's fingerprint, which needs the whole frame); `nativeOnly`: see {@link DecodeOptions}. */
  async imageToTensor(bytes: Buffer, out: Float32Array, offset = 0, options: { fingerprint?: boolean; nativeOnly?: boolean } = {}): Promise<PreprocessResult> {
    const t0 = performance.now();
    const nativeOnly = options.nativeOnly ? { nativeOnly: true } : {};
    const image = await decodeImage(bytes, this.limits, this.mode === 'fast' ? { resizeTo: this.fastTarget, ...(options.fingerprint ? {} : { window: this.fastWindow }), ...nativeOnly } : nativeOnly);
    const t1 = performance.now();
    if (image.window) writeNormalizedCHW(image, this.tables, out, offset);
    else this.pixelsToTensor(image, out, offset, image.original);
    const fingerprint = options.fingerprint ? fingerprintOf(image) : undefined;
    const t2 = performance.now();
    return { original: image.original, timings: { decode: t1 - t0, preprocess: t2 - t1 }, ...(fingerprint ? { fingerprint } : {}) };
  }
}
