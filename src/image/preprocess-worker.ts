/**
 * A worker thread that turns image bytes into a model input tensor, so that
 * decoding and resampling (CPU-bound JavaScript) never block the server's
 * event loop. Run by piscina; the tensor is written into the caller's shared
 * slot when it gives one, else into a new array whose buffer is moved back.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Piscina } from 'piscina';
import { ResnetServeError } from '../errors.js';
import type { PreprocessConfig, PreprocessMode } from './preprocess-config.js';
import { whenSharpLoads } from './load-sharp.js';
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

whenSharpLoads((sharp) => {
  // Parallelism comes from several workers; each decodes with one libvips thread.
  sharp.concurrency(1);
  // Every image is new: libvips' operation cache would only hold memory.
  sharp.cache(false);
});

/**
 * Image bytes let go of between two young-generation collections. This thread
 * allocates little JavaScript, so V8 collected it seldom, only once tens of MB
 * of image buffers had piled up outside its heap; glibc kept the heap it grew
 * for them. Measured on the int8 server 1 s after the bench's load, three
 * alternating runs: 239–241 MB without, 202–207 MB collecting every 2 MB of
 * uploads (8 MB: 205–224), the same latency and throughput. A collection of
 * this small young generation takes well under a millisecond.
 */
const COLLECT_EVERY_BYTES = 2 * 1024 * 1024;
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as (options: { type: 'minor' }) => void;
let letGo = 0;

// Here and not later: between tasks piscina waits in Atomics.wait, so no timer or immediate would run.
function release(bytes: number): void {
  letGo += bytes;
  if (letGo < COLLECT_EVERY_BYTES) return;
  letGo = 0;
  collectGarbage({ type: 'minor' });
}

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
  } finally {
    release(task.bytes.byteLength);
  }
}
