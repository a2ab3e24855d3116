/**
 * Public interfaces of resnet-serve: what callers pass in and get back.
 * Implementations live behind them (model/, image/, classify/).
 */

/** Which language(s) labels are given in. */
export type LabelLanguage = 'en' | 'zh' | 'both';

/** One ranked answer. With `lang: 'both'`, `label` is English and `label_zh` Chinese. */
export interface Prediction {
  /** Class index in the model's output (ImageNet: torchvision's order), or in a head's classes; -1 for a head's "unknown". */
  index: number;
  label: string;
  label_zh?: string;
  /**
   * Softmax probability, 0..1; for a head's "unknown" (index -1), how far
   * the photo is from every class the head learned, 1 − its typicality
   * (so "unknown" comes first, before the `topK` classes).
   */
  score: number;
}

/** Options of one classification call. */
export interface ClassifyOptions {
  /** How many classes to return (1..number of classes; with a head, more than its classes gives them all). Default 5. */
  topK?: number;
  /** Label language. Default `'en'`. */
  lang?: LabelLanguage;
  /** Answer with the user's own classes of this head instead of the model's. */
  head?: import('./heads/head.js').Head;
}

/**
 * Milliseconds spent per stage for one image. From the library and the CLI,
 * which run images in batches: the image's own decoding and preprocessing
 * and its share of its batch's inference, `total` their sum. From the
 * server: the stages of the request as they happened (`infer` includes the
 * wait in the batcher's queue), `total` from arrival to answer.
 */
export interface StageTimings {
  decode: number;
  preprocess: number;
  infer: number;
  total: number;
}

/** The answer for one image of a batch: predictions, or the error it met. */
export type ClassifyOutcome =
  | {
      ok: true;
      predictions: Prediction[];
      timings: StageTimings;
      width: number;
      height: number;
      /** With a head: the photo is none of its classes ("unknown"). */
      unknown?: boolean;
      /** With a head: how typical of its training photos the photo is, 0..1 (null when the head has no rejection). */
      typicality?: number | null;
    }
  | { ok: false; error: import('./errors.js').ResnetServeError };

/** The outputs of one image of a batch, or the error it met (the engine under classify and embed). */
export type AnalyzeOutcome =
  | { ok: true; outputs: import('./model/model-session.js').RunOutputs; timings: StageTimings; width: number; height: number; fingerprint?: Uint8Array }
  | { ok: false; error: import('./errors.js').ResnetServeError };

/** The embedding of one image of a batch (the input of the model's final layer), or the error it met. */
export type EmbedOutcome =
  | { ok: true; embedding: Float32Array; timings: StageTimings; width: number; height: number }
  | { ok: false; error: import('./errors.js').ResnetServeError };

/** Where the weights came from and what they are. */
export interface ModelInfo {
  /** Architecture or file name, e.g. `resnet18`. */
  name: string;
  /** `torchvision` (an official checkpoint), `checkpoint` (a user .pth) or `onnx` (a user ONNX file). */
  source: 'torchvision' | 'checkpoint' | 'onnx';
  /** The file the weights were read from. */
  path: string;
  /** SHA-256 of that file, hex. */
  sha256: string;
  /** The ONNX file that runs (our cached build for checkpoints). */
  onnxPath: string | null;
  numClasses: number;
  inputSize: number;
  /** ONNX Runtime intra-op threads. */
  threads: number;
  /** What the model can give: `logits`, and `embedding` / `feature_map` where its graph has them. */
  outputs: string[];
  /** `fp32`, or `int8` when quantised (`onnxPath` is then the quantised graph). */
  precision: 'fp32' | 'int8';
  /** For a model quantised to int8 here (not one given quantised): what it was calibrated on. */
  calibration?: ModelCalibration;
}

/** The photos an int8 model was calibrated on. */
export interface ModelCalibration {
  /** The folder given (absolute), or null for the built-in photos. */
  folder: string | null;
  /** 16 hex digits naming those photos' contents and the quantiser's settings: the same id, the same answers. */
  id: string;
}

/** Where calibrating an int8 model is, told after each photo. */
export interface CalibrationProgress {
  /** Photos done with, of `total`. */
  done: number;
  /** Photos calibrated on: all that look like photos, or 256 of them evenly chosen. */
  total: number;
  /** Of those done, photos that could not be decoded. */
  skipped: number;
  /** Files that look like photos (by their first bytes and size). */
  found: number;
  /** Files named like photos that are not (or cannot be read), passed by without being read whole. */
  passedBy: number;
}

/** How to find and run a model. */
export interface ModelOptions {
  /**
   * `resnet18` (default), `resnet34`, `resnet50`, `resnet101`, `resnet152`
   * (official torchvision weights, downloaded once), or a path to a `.pth`
   * state_dict or an ImageNet `.onnx` classifier.
   */
  model?: string;
  /** Our cache folder. Default: `$RESNET_SERVE_HOME`, else `$XDG_CACHE_HOME/resnet-serve`, else `~/.cache/resnet-serve`. */
  cacheDir?: string;
  /** Never download; fail with instructions instead. Default: `$RESNET_SERVE_OFFLINE` is set. */
  offline?: boolean;
  /** ONNX Runtime intra-op threads. Default: the CPUs this process may use. */
  threads?: number;
  /** Largest accepted image, in pixels (AVIF and HEIF count three times theirs). Default 50,000,000. */
  maxPixels?: number;
  /**
   * Longest one image may take to decode, in ms; libvips stops it past that
   * (IMAGE_TOO_COMPLEX). A JPEG decoded by the native addon runs to its end,
   * bounded by `maxPixels` and the scan limit. Default 10,000.
   */
  maxDecodeMs?: number;
  /**
   * `fast` (default): images at least twice the resize target are decoded at
   * reduced scale (libjpeg's scaled IDCT, or libvips' shrink-on-load); same
   * top-1 as `exact` on every reference photo, 2–4× less decoding and
   * resizing on camera-size photos. `exact`: torchvision +
   * Pillow reproduced to the float for every image.
   */
  preprocess?: 'exact' | 'fast';
  /**
   * `fp32` (default): the same numbers as PyTorch. `int8`: the model
   * quantised once (cached) with static per-channel int8 weights and uint8
   * activations; about twice as fast, top-1 agreeing with fp32 on ~98% of
   * photos.
   */
  precision?: 'fp32' | 'int8';
  /** With `int8`: a folder of photos to calibrate activation ranges on (default: the built-in set). */
  calibrate?: string;
  /** Longest a user's ONNX graph may take to open and run once (in a child process, once per graph) before it is refused as one that never finishes; converting or quantising a model is not counted. Default 2 minutes. */
  startupTimeoutMs?: number;
  /** Called while an int8 model is calibrated (once per model and calibration set). */
  onQuantizeProgress?: (progress: CalibrationProgress) => void;
  /** Called while weights download. */
  onDownloadProgress?: (received: number, total: number | null) => void;
}
