/**
 * A model session in a worker thread of its own. ONNX Runtime's Node binding
 * runs inference synchronously on the calling thread, so in the server a
 * batch of 16 images would hold the event loop for a quarter of a second and
 * health checks would wait. Here the session lives in a worker; the main
 * thread sends each batch and awaits its logits. A batch in shared memory
 * (the server's tensor slots) crosses to the worker without a copy, so the
 * main thread allocates no tensor per image (each is 0.6 MB, and such
 * buffers made V8 run full collections); any other batch is copied once and
 * the copy moved.
 */
import { Worker } from 'node:worker_threads';
import './ort-env.js';
import { ResnetServeError, type ErrorCode } from '../errors.js';
import type { ExtraOutput } from './model-outputs.js';
import type { PreprocessTask } from '../image/preprocess-task.js';
import { checkSessionInput, gatherInput, inSharedMemory, type ImageRun, type ModelSession, type RunOutputs, type SessionInput, type SessionOptions } from './model-session.js';
import type { SessionReply, SessionRequest } from './session-thread-worker.js';

const WORKER = new URL('./session-thread-worker.js', import.meta.url);

interface Pending {
  resolve: (reply: SessionReply) => void;
  reject: (err: unknown) => void;
}

/** A session whose ONNX Runtime calls run in a worker thread. */
export class ThreadedSession implements ModelSession {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: ResnetServeError | null = null;

  private constructor(
    private readonly worker: Worker,
    readonly inputName: string,
    readonly outputName: string,
    readonly inputSize: number,
    readonly numClasses: number,
    readonly maxBatch: number,
    readonly threads: number,
    readonly extraOutputs: readonly ExtraOutput[],
    readonly decodesJpeg: boolean,
  ) {
    // The thread keeps the process alive only while a call is waiting for it.
    worker.unref();
    worker.on('message', (reply: SessionReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      waiting?.resolve(reply);
    });
    const fail = (why: string): void => {
      this.failure = new ResnetServeError('INFERENCE_FAILED', `The inference thread stopped: ${why}`);
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
  }

  /**
   * Opens `model` (a path) in a new worker thread, with the same checks as
   * {@link ClassifierSession.open}. No time limit: a thread cannot be ended
   * while ONNX Runtime is in a call (its binding aborts the process when the
   * call returns), so graphs that might never finish are run once in a child
   * process first (`probe.ts`).
   */
  static async open(model: string, options: SessionOptions = {}): Promise<ThreadedSession> {
    const worker = new Worker(WORKER, { workerData: { model, options } });
    let onMessage: (reply: SessionReply) => void = () => undefined;
    let onError: (err: Error) => void = () => undefined;
    let onExit: (code: number) => void = () => undefined;
    const opened = await new Promise<SessionReply>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) => reject(new ResnetServeError('MODEL_INVALID', `The inference thread exited while opening the model (code ${code})`));
      worker.once('message', onMessage).once('error', onError).once('exit', onExit);
    }).finally(() => {
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    });
    if (opened.type === 'error') {
      await worker.terminate();
      throw new ResnetServeError(opened.code as ErrorCode, opened.message);
    }
    if (opened.type !== 'opened') throw new ResnetServeError('MODEL_INVALID', 'The inference thread answered out of order');
    const { inputName, outputName, inputSize, numClasses, maxBatch, threads, extraOutputs, decodesJpeg } = opened;
    return new ThreadedSession(worker, inputName, outputName, inputSize, numClasses, maxBatch, threads, extraOutputs, decodesJpeg);
  }

  private call(request: SessionRequest, transfer: ArrayBuffer[] = []): Promise<SessionReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage(request, transfer);
    });
  }

  async run(data: SessionInput, batch: number, extra: readonly ExtraOutput[] = []): Promise<RunOutputs> {
    const missing = extra.filter((name) => !this.extraOutputs.includes(name));
    if (missing.length) throw new ResnetServeError('OUTPUT_UNAVAILABLE', `This model has no ${missing.join(' or ')} output`);
    const perImage = 3 * this.inputSize * this.inputSize;
    checkSessionInput(data, batch, perImage);
    const length = batch * perImage;
    // Shared memory crosses as it is, read by the worker while the caller keeps it unchanged (until this resolves);
    // anything else is copied into a buffer of its own, which is then moved.
    const shared = inSharedMemory(data);
    const sent = shared ? data : gatherInput(data, length, new Float32Array(length));
    const transfer = shared ? [] : [(sent as Float32Array).buffer as ArrayBuffer];
    const reply = await this.call({ type: 'run', id: this.nextId++, data: sent, batch, extra: [...extra] }, transfer);
    if (reply.type === 'outputs') return reply.outputs;
    if (reply.type === 'error') throw new ResnetServeError(reply.code as ErrorCode, reply.message);
    throw new ResnetServeError('INFERENCE_FAILED', 'The inference thread answered out of order');
  }

  /**
   * Decodes one image in this session's thread, then runs it: for a lone
   * request, the photo goes from the event loop to this thread and its
   * answer back, where through a preprocessing worker it would take two more
   * trips between threads (each a sleeping thread to wake: 0.2–0.4 ms on a
   * virtual machine). Only a photo JPEG that libjpeg-turbo decodes is taken
   * (`declined` otherwise, with the bytes, for a preprocessing worker to do
   * it); its own errors come back as `refused`, and inference failures are
   * thrown. `transfer`: the bytes' buffer, to move it instead of copying.
   */
  async runImage(task: PreprocessTask, extra: readonly ExtraOutput[] = [], transfer: ArrayBuffer[] = []): Promise<ImageRun> {
    const missing = extra.filter((name) => !this.extraOutputs.includes(name));
    if (missing.length) throw new ResnetServeError('OUTPUT_UNAVAILABLE', `This model has no ${missing.join(' or ')} output`);
    if (!this.decodesJpeg) return { kind: 'declined', bytes: task.bytes };
    const reply = await this.call({ type: 'image', id: this.nextId++, task, extra: [...extra] }, transfer);
    if (reply.type === 'outputs' && reply.image && reply.inferMs !== undefined) return { kind: 'outputs', outputs: reply.outputs, image: reply.image, inferMs: reply.inferMs };
    if (reply.type === 'image-refused') return { kind: 'refused', code: reply.code as ErrorCode, message: reply.message };
    if (reply.type === 'declined') return { kind: 'declined', bytes: reply.bytes };
    if (reply.type === 'error') throw new ResnetServeError(reply.code as ErrorCode, reply.message);
    throw new ResnetServeError('INFERENCE_FAILED', 'The inference thread answered out of order');
  }

  async release(): Promise<void> {
    if (!this.failure) await this.call({ type: 'release', id: this.nextId++ }).catch(() => undefined);
    this.failure ??= new ResnetServeError('NOT_READY', 'The model was released');
    await this.worker.terminate();
  }
}
