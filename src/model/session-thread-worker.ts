/** The worker side of `session-thread.ts`: owns one ClassifierSession and runs what the main thread sends. */
import { parentPort, workerData } from 'node:worker_threads';
import { ResnetServeError } from '../errors.js';
import { ClassifierSession, type SessionOptions } from './session.js';

/** Messages to the worker. */
export type SessionRequest = { type: 'run'; id: number; data: Float32Array; batch: number } | { type: 'release'; id: number };

/** Messages from the worker. */
export type SessionReply =
  | { type: 'opened'; id: -1; inputName: string; outputName: string; inputSize: number; numClasses: number; maxBatch: number; threads: number }
  | { type: 'logits'; id: number; logits: Float32Array }
  | { type: 'released'; id: number }
  | { type: 'error'; id: number; code: string; message: string };

const port = parentPort;
if (!port) throw new Error('session-thread-worker runs only as a worker thread');

const errorReply = (id: number, err: unknown): SessionReply => {
  const typed = err instanceof ResnetServeError ? err : new ResnetServeError('INFERENCE_FAILED', (err as Error)?.message ?? String(err));
  return { type: 'error', id, code: typed.code, message: typed.message };
};

const { model, options } = workerData as { model: string; options: SessionOptions };
let session: ClassifierSession;
try {
  session = await ClassifierSession.open(model, options);
  const { inputName, outputName, inputSize, numClasses, maxBatch, threads } = session;
  port.postMessage({ type: 'opened', id: -1, inputName, outputName, inputSize, numClasses, maxBatch, threads } satisfies SessionReply);
} catch (err) {
  port.postMessage(errorReply(-1, err));
  process.exit(0);
}

port.on('message', async (request: SessionRequest) => {
  try {
    if (request.type === 'release') {
      await session.release();
      port.postMessage({ type: 'released', id: request.id } satisfies SessionReply);
      return;
    }
    const logits = await session.run(request.data, request.batch);
    port.postMessage({ type: 'logits', id: request.id, logits } satisfies SessionReply, [logits.buffer as ArrayBuffer]);
  } catch (err) {
    port.postMessage(errorReply(request.id, err));
  }
});
