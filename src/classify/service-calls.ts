/**
 * What a call to the engine ({@link ClassificationService}) takes besides its
 * images, and the checks made before any work: whose memory the bytes are,
 * whether to wait for room or refuse when the service is full, what each
 * image needs (mirror image, fingerprint), and which photos the inference
 * thread may decode itself.
 */
import { invalidArgument, refuseUnknownOptions } from '../errors.js';
import { readJpegHeader } from '../image/jpeg-header.js';

/**
 * Whose memory the image bytes are once they go to a worker. `handOver`:
 * the caller will not read them again (an HTTP upload), so a buffer that owns
 * all of its memory moves to the worker instead of being copied (1080p JPEG:
 * one 276 KB copy less per image, and measurably less heap left behind under
 * load; docs/performance.md, Memory). The caller's array is then empty.
 */
export interface BytesOwnership {
  handOver?: boolean;
}

/** The buffer to move with `bytes`, when it may move: an ArrayBuffer (not shared, not Node's small-buffer pool) that `bytes` covers whole. */
export function movableBuffer(bytes: Uint8Array): ArrayBuffer | null {
  const buffer = bytes.buffer;
  return buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength && bytes.byteLength > 0 ? buffer : null;
}

/**
 * `bytes` as sent to another thread: moved when handed over and movable,
 * else its own bytes alone (a view into a larger buffer is copied first, as
 * sending a view would copy the whole buffer).
 */
export function bytesToSend(bytes: Uint8Array, handOver: boolean): { bytes: Uint8Array; transfer: ArrayBuffer[] } {
  const movable = handOver ? movableBuffer(bytes) : null;
  if (movable) return { bytes, transfer: [movable] };
  return { bytes: bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice(), transfer: [] };
}

/**
 * Largest photo the inference thread decodes itself: 12 MP and 4 MB (a
 * 4000×3000 phone photo, decoded at 1/8 scale in about 15 ms, in which no
 * other inference runs). A larger one goes to a preprocessing worker, where a
 * request's deadline can stop it and other requests' inference goes on.
 */
const MAX_PIXELS_DECODED_BY_INFERENCE_THREAD = 12_000_000;
const MAX_BYTES_DECODED_BY_INFERENCE_THREAD = 4 * 1024 * 1024;

/**
 * A baseline photo JPEG by its header (the kind libjpeg-turbo decodes alone,
 * in one scan) of at most {@link MAX_PIXELS_DECODED_BY_INFERENCE_THREAD},
 * `maxPixels` pixels and {@link MAX_BYTES_DECODED_BY_INFERENCE_THREAD} bytes.
 * A progressive one is left to a worker: each of its scans is decoded in full
 * even at reduced scale (a 24 MP one takes 0.25–0.8 s).
 */
export function suitsInferenceThread(bytes: Uint8Array, maxPixels: number): boolean {
  if (bytes.byteLength > MAX_BYTES_DECODED_BY_INFERENCE_THREAD) return false;
  const header = readJpegHeader(bytes);
  return header !== null && !header.progressive && header.width * header.height <= Math.min(maxPixels, MAX_PIXELS_DECODED_BY_INFERENCE_THREAD);
}

/** How a call treats a service that has as many images in progress as it takes (`batching.maxQueue`). */
export interface CallOptions extends BytesOwnership {
  /**
   * `wait` (the default): for room, first come first served, so a library's
   * calls of any size and number all get their answers; `refuse`: QUEUE_FULL
   * at once (what the server answers with 503 and Retry-After).
   */
  whenFull?: 'wait' | 'refuse';
}

const WHEN_FULL = ['wait', 'refuse'] as const;

/** How `ClassificationService.preprocess` treats one image. */
export interface PreprocessOptions extends BytesOwnership {
  /** Also compute the image's fingerprint (near duplicates). */
  fingerprint?: boolean;
  /** Write the tensor into this slot instead of a new array. */
  into?: Float32Array;
}

/** How `ClassificationService.analyzeMany` treats each image. */
export interface AnalyzeOptions extends Omit<PreprocessOptions, 'into'>, CallOptions {
  /** Also run the mirror image; the embedding is the mean of both (heads). */
  mirror?: boolean;
}

/**
 * Checks a call's arguments before any work: `images` an array of images as
 * bytes (naming the first that is not), `signal` an AbortSignal, `options`
 * known keys. Returns what to do when the service is full.
 */
export function checkCall(images: unknown, signal: unknown, options: AnalyzeOptions): 'wait' | 'refuse' {
  if (!Array.isArray(images)) throw invalidArgument('images', 'an array of images as bytes (Buffers or Uint8Arrays)', images);
  const bad = images.findIndex((image) => !(image instanceof Uint8Array));
  if (bad >= 0) throw invalidArgument(`images[${bad}]`, 'an image as bytes, a Buffer or a Uint8Array (ImageClassifier reads files; here, read them first)', images[bad]);
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw invalidArgument('signal', 'an AbortSignal', signal);
  refuseUnknownOptions(options, ['mirror', 'fingerprint', 'handOver', 'whenFull'], 'analyzeMany');
  const whenFull = options.whenFull ?? 'wait';
  if (!WHEN_FULL.includes(whenFull)) throw invalidArgument('whenFull', `one of ${WHEN_FULL.join(', ')}`, whenFull);
  return whenFull;
}
