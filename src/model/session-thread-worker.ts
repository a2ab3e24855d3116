/** The worker side of `session-thread.ts`: owns one ClassifierSession and runs what the main thread sends. */
import { parentPort, workerData } from 'node:worker_threads';
import { ResnetServeError } from '../errors.js';
import type { ExtraOutput } from './model-outputs.js';
import type { RunOutputs, SessionInput, SessionOptions } from './model-session.js';
import { ClassifierSession } from './session.js';

/** Messages to the worker. */
export type SessionRequest = { type: 'run'; id: number; data: SessionInput; batch: number; extra: ExtraOutput[] } | { type: 'release'; id: number };

/** Messages from the worker. */
export type SessionReply =
  | { type: 'opened'; id: -1; inputName: string; outputName: string; inputSize: number; numClasses: number; maxBatch: number; threads: number; extraOutputs: ExtraOutput[] }
  | { type: 'outputs'; id: number; outputs: RunOutputs }
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
  port.postMessage({ type: 'opened', id: -1, inputName, outputName, inputSize, numClasses, maxBatch, threads, extraOutputs: [...session.extraOutputs] } satisfies SessionReply);
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
    const outputs = await session.run(request.data, request.batch, request.extra);
    const buffers = Object.values(outputs).map((o) => o.data.buffer as ArrayBuffer);
    port.postMessage({ type: 'outputs', id: request.id, outputs } satisfies SessionReply, buffers);
  } catch (err) {
    port.postMessage(errorReply(request.id, err));
  }
});
