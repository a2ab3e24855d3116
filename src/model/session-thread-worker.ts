/**
 * The worker side of `session-thread.ts`: owns one ClassifierSession and runs
 * what the main thread sends: batches of tensors, or one photo JPEG to decode
 * here first (while this thread is idle, that saves a lone request two
 * hand-offs between threads; see `ThreadedSession.runImage`).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ResnetServeError } from '../errors.js';
import { nativeJpegAvailable } from '../image/jpeg-native.js';
import { preprocessorFor, runPreprocessTask, type PreprocessFacts, type PreprocessTask } from '../image/preprocess-task.js';
import { youngCollector } from '../image/young-collector.js';
import type { ExtraOutput } from './model-outputs.js';
import type { RunOutputs, SessionInput, SessionOptions } from './model-session.js';
import { ClassifierSession } from './session.js';

/** Messages to the worker. */
export type SessionRequest =
  | { type: 'run'; id: number; data: SessionInput; batch: number; extra: ExtraOutput[] }
  | { type: 'image'; id: number; task: PreprocessTask; extra: ExtraOutput[] }
  | { type: 'release'; id: number };

/** Messages from the worker. */
export type SessionReply =
  | { type: 'opened'; id: -1; inputName: string; outputName: string; inputSize: number; numClasses: number; maxBatch: number; threads: number; extraOutputs: ExtraOutput[]; decodesJpeg: boolean }
  | { type: 'outputs'; id: number; outputs: RunOutputs; image?: PreprocessFacts; inferMs?: number }
  | { type: 'image-refused'; id: number; code: string; message: string }
  | { type: 'declined'; id: number; bytes: Uint8Array }
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
  const decodesJpeg = nativeJpegAvailable();
  port.postMessage({ type: 'opened', id: -1, inputName, outputName, inputSize, numClasses, maxBatch, threads, extraOutputs: [...session.extraOutputs], decodesJpeg } satisfies SessionReply);
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
    if (request.type === 'image') {
      const reply = await decodeAndRun(request.id, request.task, request.extra);
      // Declined, the bytes go back (moved, unless shared memory, which is shared anyway).
      const back = reply.type === 'declined' && reply.bytes.buffer instanceof ArrayBuffer ? [reply.bytes.buffer] : [];
      port.postMessage(reply, reply.type === 'outputs' ? transferables(reply.outputs) : back);
      return;
    }
    const outputs = await session.run(request.data, request.batch, request.extra);
    port.postMessage({ type: 'outputs', id: request.id, outputs } satisfies SessionReply, transferables(outputs));
  } catch (err) {
    port.postMessage(errorReply(request.id, err));
  }
});

function transferables(outputs: RunOutputs): ArrayBuffer[] {
  return Object.values(outputs).map((o) => o.data.buffer as ArrayBuffer);
}

/** The one image's own input, reused (this thread decodes one image at a time). */
let imageInput: Float32Array | null = null;
// As in the preprocessing workers: the uploads and pixels this thread lets go of are collected as it goes.
const release = youngCollector();

async function decodeAndRun(id: number, task: PreprocessTask, extra: ExtraOutput[]): Promise<SessionReply> {
  const length = preprocessorFor(task).imageLength;
  if (length !== 3 * session.inputSize * session.inputSize) throw new ResnetServeError('INTERNAL', `The preprocessing gives ${length} values per image; the model takes ${3 * session.inputSize * session.inputSize}`);
  if (imageInput?.length !== length) imageInput = new Float32Array(length);
  const image = await runPreprocessTask(task, imageInput, true).finally(() => release(task.bytes.byteLength));
  if (image === null) return { type: 'declined', id, bytes: task.bytes };
  if (!image.ok) return { type: 'image-refused', id, code: image.code, message: image.message };
  const started = performance.now();
  const outputs = await session.run(imageInput, 1, extra);
  return { type: 'outputs', id, outputs, image, inferMs: performance.now() - started };
}
