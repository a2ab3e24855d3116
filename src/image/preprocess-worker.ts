/**
 * A worker thread that turns image bytes into a model input tensor, so that
 * decoding and resampling (CPU-bound JavaScript) never block the server's
 * event loop. Run by piscina; the tensor is written into the caller's shared
 * slot when it gives one, else into a new array whose buffer is moved back.
 */
import { Piscina } from 'piscina';
import sharp from './guarded-sharp.js';
import { ResnetServeError } from '../errors.js';
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

/** The result: a tensor and facts about the image, or a typed error as plain data. */
export type PreprocessReply =
  | { ok: true; tensor?: Float32Array; width: number; height: number; decode: number; preprocess: number; fingerprint?: Uint8Array }
  | { ok: false; code: ResnetServeError['code']; message: string };

// Parallelism comes from several workers; each decodes with one libvips thread.
sharp.concurrency(1);
// Every image is new: libvips' operation cache would only hold memory.
sharp.cache(false);

let cached: { key: string; preprocessor: Preprocessor } | null = null;

function preprocessorFor(task: PreprocessTask): Preprocessor {
  const key = JSON.stringify([task.config, task.maxPixels, task.maxDecodeMs, task.mode]);
  if (cached?.key !== key) cached = { key, preprocessor: new Preprocessor(task.config, { maxPixels: task.maxPixels, maxDecodeMs: task.maxDecodeMs }, task.mode) };
  return cached.preprocessor;
}

/** Piscina entry point. */
export default async function preprocess(task: PreprocessTask): Promise<PreprocessReply | object> {
  try {
    const pre = preprocessorFor(task);
    const slot = task.into?.length === pre.imageLength ? task.into : undefined;
    const tensor = slot ?? new Float32Array(pre.imageLength);
    const bytes = Buffer.from(task.bytes.buffer, task.bytes.byteOffset, task.bytes.byteLength);
    const result = await pre.imageToTensor(bytes, tensor, 0, { fingerprint: task.fingerprint });
    const facts = { ok: true as const, width: result.original.width, height: result.original.height, ...result.timings, ...(result.fingerprint ? { fingerprint: result.fingerprint } : {}) };
    if (slot) return facts satisfies PreprocessReply;
    // Hand the tensor's memory to the main thread instead of copying it.
    return Piscina.move({ [Piscina.transferableSymbol]: [tensor.buffer], [Piscina.valueSymbol]: { ...facts, tensor } satisfies PreprocessReply } as never);
  } catch (err) {
    if (err instanceof ResnetServeError) return { ok: false, code: err.code, message: err.message };
    return { ok: false, code: 'IMAGE_CORRUPT', message: `Image could not be processed: ${(err as Error)?.message ?? String(err)}` };
  }
}
