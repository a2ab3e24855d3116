/**
 * A worker thread that turns image bytes into a model input tensor, so that
 * decoding and resampling (CPU-bound JavaScript) never block the server's
 * event loop. Run by piscina; the tensor is written into the caller's shared
 * slot when it gives one, else into a new array whose buffer is moved back.
 */
import { Piscina } from 'piscina';
import { ResnetServeError } from '../errors.js';
import { whenSharpLoads } from './load-sharp.js';
import { youngCollector } from './young-collector.js';
import { preprocessorFor, runPreprocessTask, type PreprocessReply, type PreprocessTask } from './preprocess-task.js';

export type { PreprocessReply, PreprocessTask } from './preprocess-task.js';

whenSharpLoads((sharp) => {
  // Parallelism comes from several workers; each decodes with one libvips thread.
  sharp.concurrency(1);
  // Every image is new: libvips' operation cache would only hold memory.
  sharp.cache(false);
});

// Here, after each task: between tasks piscina waits in Atomics.wait, so no timer or immediate would run.
const release = youngCollector();

/** Piscina entry point. */
export default async function preprocess(task: PreprocessTask): Promise<PreprocessReply | object> {
  try {
    const length = preprocessorFor(task).imageLength;
    const slot = task.into?.length === length ? task.into : undefined;
    const tensor = slot ?? new Float32Array(length);
    const reply = (await runPreprocessTask(task, tensor)) as PreprocessReply;
    if (slot || !reply.ok) return reply;
    // Hand the tensor's memory to the main thread instead of copying it.
    return Piscina.move({ [Piscina.transferableSymbol]: [tensor.buffer], [Piscina.valueSymbol]: { ...reply, tensor } satisfies PreprocessReply } as never);
  } catch (err) {
    // The task's own settings refused (INVALID_ARGUMENT), as plain data like any other error.
    if (err instanceof ResnetServeError) return { ok: false, code: err.code, message: err.message } satisfies PreprocessReply;
    throw err;
  } finally {
    release(task.bytes.byteLength);
  }
}
