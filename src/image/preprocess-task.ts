/**
 * One image turned into a model input tensor, as a plain-data task and reply
 * that cross between threads: the preprocessing workers run it for every
 * image, and the inference thread for a lone photo JPEG while it is idle
 * (`session-thread-worker.ts`), so both give the same input and the same
 * errors for the same bytes.
 */
import { ResnetServeError } from '../errors.js';
import { DecodeDeclined } from './decode.js';
import type { PreprocessConfig, PreprocessMode } from './preprocess-config.js';
import { Preprocessor } from './preprocess.js';

/** One job: the image and how to prepare it. */
export interface PreprocessTask {
  bytes: Uint8Array;
  config: PreprocessConfig;
  maxPixels: number;
  maxDecodeMs: number;
  mode: PreprocessMode;
  /** Also compute the image's fingerprint. */
  fingerprint?: boolean;
  /** Write the tensor here (a slot in shared memory) instead of into a new array. */
  into?: Float32Array;
}

/** What is known of an image once its tensor is written: its size, the time each step took, its fingerprint if asked. */
export interface PreprocessFacts {
  ok: true;
  width: number;
  height: number;
  decode: number;
  preprocess: number;
  fingerprint?: Uint8Array;
}

/** The result: a tensor and facts about the image, or a typed error as plain data. */
export type PreprocessReply = (PreprocessFacts & { tensor?: Float32Array }) | { ok: false; code: ResnetServeError['code']; message: string };

let cached: { key: string; preprocessor: Preprocessor } | null = null;

/** The preprocessor for a task's settings (the last one is kept: a thread serves one model). */
export function preprocessorFor(task: Omit<PreprocessTask, 'bytes'>): Preprocessor {
  const key = JSON.stringify([task.config, task.maxPixels, task.maxDecodeMs, task.mode]);
  if (cached?.key !== key) cached = { key, preprocessor: new Preprocessor(task.config, { maxPixels: task.maxPixels, maxDecodeMs: task.maxDecodeMs }, task.mode) };
  return cached.preprocessor;
}

/**
 * Decodes the task's image into `tensor` and returns what is known of it, or
 * its typed error as plain data. With `nativeOnly`, only a photo JPEG that
 * libjpeg-turbo decodes is taken (no libvips in this thread): anything else
 * resolves to null, for the caller to send it where libvips may load.
 */
export async function runPreprocessTask(task: PreprocessTask, tensor: Float32Array, nativeOnly = false): Promise<PreprocessFacts | Extract<PreprocessReply, { ok: false }> | null> {
  try {
    const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
    const result = await preprocessorFor(task).imageToTensor(bytes, tensor, 0, { fingerprint: task.fingerprint, nativeOnly });
    return { ok: true, width: result.original.width, height: result.original.height, ...result.timings, ...(result.fingerprint ? { fingerprint: result.fingerprint } : {}) };
  } catch (err) {
    if (err instanceof DecodeDeclined) return null;
    if (err instanceof ResnetServeError) return { ok: false, code: err.code, message: err.message };
    return { ok: false, code: 'IMAGE_CORRUPT', message: `Image could not be processed: ${(err as Error)?.message ?? String(err)}` };
  }
}
