/**
 * Dynamic batching: images waiting for inference are gathered into one
 * ONNX Runtime call. While a batch runs, new arrivals queue; when it ends, up
 * to `maxBatch` of them run together. With `maxWaitMicros` 0 (the default) a
 * lone request never waits, so latency at concurrency 1 is unchanged, and
 * batches grow by themselves under load. The queue is bounded: past
 * `maxQueue` waiting images, `QUEUE_FULL` is thrown at once.
 */
import { performance } from 'node:perf_hooks';
import { ResnetServeError, invalidArgument } from '../errors.js';
import type { ExtraOutput } from '../model/model-outputs.js';
import type { PreprocessTask } from '../image/preprocess-task.js';
import { outputsOf, type ImageRun, type ModelSession, type RunOutputs } from '../model/model-session.js';

/**
 * Default bound on images in progress: on 2 cores (~30 images/s) a full queue
 * is about 2 s of work, so a request that is admitted is answered promptly and
 * the server recovers within seconds once an overload ends.
 */
export const DEFAULT_MAX_QUEUE = 64;

/** Batching settings. */
export interface BatcherOptions {
  /** Most images in one inference call. Default 16. */
  maxBatch?: number;
  /** How long a partial batch may wait for company, in microseconds. Default 0. */
  maxWaitMicros?: number;
  /** Most images waiting; beyond it requests are refused with QUEUE_FULL. Default 64. */
  maxQueue?: number;
}

/** The outputs of one image (logits, and the extra outputs it asked for) and how long it waited and ran. */
export interface InferResult {
  outputs: RunOutputs;
  queueMs: number;
  inferMs: number;
  batchSize: number;
}

interface Pending {
  tensor: Float32Array;
  extra: readonly ExtraOutput[];
  enqueued: number;
  signal?: AbortSignal;
  resolve: (r: InferResult) => void;
  reject: (e: unknown) => void;
}

/** Called after each batch with its size and duration. */
export type BatchObserver = (size: number, inferMs: number) => void;

/** The largest batch the batcher takes. */
export const MAX_BATCH = 256;

/**
 * Joins images that arrive close together into one ONNX Runtime run: up to
 * `maxBatch` images, waiting at most `maxWaitMicros` for a partial batch,
 * with at most `maxQueue` waiting (QUEUE_FULL beyond). One run at a time.
 */
export class InferenceBatcher {
  readonly maxBatch: number;
  readonly maxWaitMicros: number;
  readonly maxQueue: number;
  private readonly queue: Pending[] = [];
  /** Images in the run ONNX Runtime is doing now (0: the model is idle). */
  private inModel = 0;
  private starting = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped: unknown = null;
  private readonly perImage: number;

  constructor(private readonly session: ModelSession, options: BatcherOptions = {}, private readonly observe?: BatchObserver) {
    const positive = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1;
    const maxBatch = options.maxBatch ?? 16;
    // One batch's tensor is held at once: 256 images of 224 px are 154 MB; more is a mistake, not a setting.
    if (!positive(maxBatch) || maxBatch > MAX_BATCH) throw invalidArgument('maxBatch', `an integer from 1 to ${MAX_BATCH}`, maxBatch);
    const maxWait = options.maxWaitMicros ?? 0;
    if (!Number.isInteger(maxWait) || maxWait < 0) throw invalidArgument('maxWaitMicros', 'an integer >= 0', maxWait);
    const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    if (!positive(maxQueue)) throw invalidArgument('maxQueue', 'an integer >= 1', maxQueue);
    this.maxBatch = Math.min(maxBatch, session.maxBatch);
    this.maxWaitMicros = maxWait;
    this.maxQueue = maxQueue;
    this.perImage = 3 * session.inputSize * session.inputSize;
  }

  /** Images waiting for inference now. */
  get queued(): number {
    return this.queue.length;
  }

  /** Images in the model now: the size of the batch running, 0 when none is. */
  get imagesInModel(): number {
    return this.inModel;
  }

  private get running(): boolean {
    return this.inModel > 0;
  }

  /**
   * Queues one image tensor; resolves with its logits and the `extra`
   * outputs asked for. An aborted signal drops it before inference.
   */
  infer(tensor: Float32Array, signal?: AbortSignal, extra: readonly ExtraOutput[] = []): Promise<InferResult> {
    if (tensor.length !== this.perImage) throw new RangeError(`tensor has ${tensor.length} values, expected ${this.perImage}`);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.stopped) return Promise.reject(this.stopped);
    if (this.queue.length >= this.maxQueue) {
      return Promise.reject(new ResnetServeError('QUEUE_FULL', `The server is busy (${this.queue.length} images waiting); retry shortly`));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ tensor, extra, enqueued: performance.now(), signal, resolve, reject });
      this.schedule();
    });
  }

  /**
   * When nothing runs or waits and the session can decode photo JPEGs in its
   * own thread, runs this one image there (decoded and inferred in one
   * hand-off; see `ThreadedSession.runImage`) as a batch of one, and
   * resolves with the result (`declined`, with the bytes, for an image the
   * caller must preprocess as usual); null when it cannot run it now. Images
   * queued meanwhile wait for it as for any batch.
   */
  async runImageIfIdle(task: PreprocessTask, extra: readonly ExtraOutput[] = [], transfer: ArrayBuffer[] = []): Promise<ImageRun | null> {
    if (!this.takesImageNow || !this.session.runImage) return null;
    this.inModel = 1;
    try {
      const run = await this.session.runImage(task, extra, transfer);
      if (run.kind === 'outputs') this.observe?.(1, run.inferMs);
      return run;
    } finally {
      this.inModel = 0;
      if (this.queue.length) this.schedule();
    }
  }

  /** Whether {@link runImageIfIdle} would run an image now (the session decodes, and nothing runs or waits). */
  get takesImageNow(): boolean {
    return this.session.decodesJpeg === true && !this.running && !this.starting && !this.timer && this.queue.length === 0 && !this.stopped;
  }

  private schedule(): void {
    // A partial batch's wait ends as soon as the batch is full.
    if (this.timer && this.queue.length >= this.maxBatch) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.running || this.timer || this.starting) return;
    if (this.maxWaitMicros > 0 && this.queue.length < this.maxBatch) {
      this.timer = setTimeout(() => {
        this.timer = null;
        void this.runBatch();
      }, this.maxWaitMicros / 1000);
      return;
    }
    // Started once the current task has queued what it has: an image and its mirror, queued together, run together.
    this.starting = true;
    queueMicrotask(() => {
      this.starting = false;
      void this.runBatch();
    });
  }

  private async runBatch(): Promise<void> {
    const batch: Pending[] = [];
    while (batch.length < this.maxBatch && this.queue.length) {
      const next = this.queue.shift() as Pending;
      if (next.signal?.aborted) next.reject(next.signal.reason);
      else batch.push(next);
    }
    if (batch.length === 0) return;
    this.inModel = batch.length;
    const started = performance.now();
    try {
      // The session gathers the images into its own input (tensor slots reach a threaded one without a copy).
      const input = batch.length === 1 ? batch[0].tensor : batch.map((p) => p.tensor);
      // One run gives every output anyone in the batch asked for.
      const extra = [...new Set(batch.flatMap((p) => p.extra))];
      const outputs = await this.session.run(input, batch.length, extra);
      const inferMs = performance.now() - started;
      this.observe?.(batch.length, inferMs);
      batch.forEach((p, i) => p.resolve({ outputs: outputsOf(outputs, batch.length, i), queueMs: started - p.enqueued, inferMs, batchSize: batch.length }));
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      this.inModel = 0;
      if (this.queue.length) this.schedule();
    }
  }

  /** Resolves once no batch is running (the session may then be released): true if one was. */
  async idle(): Promise<boolean> {
    const was = this.running;
    while (this.running) await new Promise((resolve) => setTimeout(resolve, 5));
    return was;
  }

  /** Rejects everything still waiting, and every image queued later, with `reason` (used at shutdown). */
  drain(reason: unknown): void {
    this.stopped = reason;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const p of this.queue.splice(0)) p.reject(reason);
  }
}
