/**
 * The classification engine a server (or a bulk tagger) runs: images are
 * decoded and resampled in worker threads (piscina), so the event loop stays
 * free, and inference goes through the dynamic batcher. One service per
 * loaded model.
 */
import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { ResnetServeError, invalidArgument, refuseUnknownOptions } from '../errors.js';
import { DEFAULT_DECODE_LIMITS } from '../image/decode-limits.js';
import type { PreprocessReply, PreprocessTask } from '../image/preprocess-task.js';
import { PREPROCESS_MODES, type PreprocessMode } from '../image/preprocess-config.js';
import { MODEL_OPTION_KEYS, loadModel, type LoadedModel } from '../model/load-model.js';
import type { ExtraOutput } from '../model/model-outputs.js';
import type { ImageRun, OutputTensor, RunOutputs } from '../model/model-session.js';
import { defaultCacheDir } from '../model/weights.js';
import type { AnalyzeOutcome, ClassifyOptions, ClassifyOutcome, EmbedOutcome, ModelInfo, ModelOptions, Prediction } from '../types.js';
import { checkHeadFits, requireOutputs } from './outputs.js';
import { answerWithHead } from '../heads/answer.js';
import { Head } from '../heads/head.js';
import { mirrored } from '../heads/views.js';
import { meanOf } from '../heads/vectors.js';
import { rankLogits, resolveClassifyOptions, type ResolvedClassifyOptions } from './answer.js';
import { DEFAULT_MAX_QUEUE, InferenceBatcher, type BatcherOptions } from './batcher.js';
import { ConcurrencyGate } from './concurrency-gate.js';
import { TensorSlots } from './tensor-slots.js';
import { Admission } from './admission.js';
import { preprocessingPool, WARM_UP_JPEG } from './preprocessing-pool.js';
import { bytesToSend, checkCall, movableBuffer, suitsInferenceThread, type AnalyzeOptions, type CallOptions, type PreprocessOptions } from './service-calls.js';

/** Timings a service reports per image and per batch, for metrics. */
export interface ServiceObserver {
  stage?(stage: 'decode' | 'preprocess' | 'queue' | 'infer', ms: number): void;
  batch?(size: number): void;
  /** An image that could not be analysed (undecodable, too large, deadline…), by its error code. */
  imageFailed?(code: string): void;
  /** A photo answered with a head: its name and the answer, its first class or "unknown" (none of them). */
  headAnswered?(head: string, answer: string): void;
}

export { movableBuffer, type AnalyzeOptions, type BytesOwnership, type CallOptions, type PreprocessOptions } from './service-calls.js';

/** A preprocessed image: its tensor and facts. */
export type Preprocessed = Extract<PreprocessReply, { ok: true }> & { tensor: Float32Array };

/** Default bound on loading and warming up the model: two minutes. */
export const DEFAULT_STARTUP_TIMEOUT_MS = 120_000;

/** How to start a service. */
export interface ServiceOptions extends ModelOptions {
  /** Preprocessing worker threads. Default: half the CPUs available, at least 1. */
  workers?: number;
  batching?: BatcherOptions;
  observer?: ServiceObserver;
}

/**
 * The engine with the event loop kept free: {@link ClassificationService.start}
 * loads the model into a thread of its own and starts the preprocessing
 * workers; `classifyMany`, `embedMany` and `analyzeMany` take images as
 * bytes. What the server runs; a library user's choice over
 * `ImageClassifier` wherever the event loop must stay responsive.
 */
export class ClassificationService {
  private readonly pool: Piscina<PreprocessTask, PreprocessReply>;
  readonly batcher: InferenceBatcher;
  /** Where images in progress keep their tensors. */
  private readonly slots: TensorSlots;
  /**
   * Images decoding or next in line for a worker: two per worker, so a worker
   * never waits for its next image, while the rest wait holding only their bytes.
   */
  private readonly preprocessing: ConcurrencyGate;
  /** The largest decoded image this service accepts, in pixels (AVIF/HEIF count 3×). */
  readonly maxPixels: number;
  private readonly maxDecodeMs: number;
  /** Images admitted and not yet answered (decoding or waiting for inference), against `batching.maxQueue`. */
  private readonly admission: Admission;
  /** Set by close. */
  private closing: Promise<void> | null = null;

  /** Preprocessing mode, `fast` unless asked otherwise. */
  readonly mode: PreprocessMode;

  /** The cache folder (converted graphs, embeddings, heads). */
  readonly cacheDir: string;

  private constructor(readonly model: LoadedModel, options: ServiceOptions, pool: Piscina<PreprocessTask, PreprocessReply>) {
    this.cacheDir = options.cacheDir ?? defaultCacheDir();
    this.pool = pool;
    this.maxPixels = options.maxPixels ?? DEFAULT_DECODE_LIMITS.maxPixels;
    this.maxDecodeMs = options.maxDecodeMs ?? (DEFAULT_DECODE_LIMITS.maxDecodeMs as number);
    if (!Number.isInteger(this.maxDecodeMs) || this.maxDecodeMs < 1) throw invalidArgument('maxDecodeMs', 'a positive integer', this.maxDecodeMs);
    this.mode = options.preprocess ?? 'fast';
    if (!PREPROCESS_MODES.includes(this.mode)) throw invalidArgument('preprocess', `one of ${PREPROCESS_MODES.join(', ')}`, this.mode);
    this.observer = options.observer;
    this.admission = new Admission(options.batching?.maxQueue ?? DEFAULT_MAX_QUEUE);
    const size = model.session.inputSize;
    this.slots = new TensorSlots(3 * size * size, this.admission.max);
    this.preprocessing = new ConcurrencyGate(2 * pool.maxThreads);
    this.batcher = new InferenceBatcher(model.session, options.batching, (size, ms) => {
      this.observer?.batch?.(size);
      this.observer?.stage?.('infer', ms);
    });
  }

  /** Receives stage timings and batch sizes (the server's metrics attach here). */
  observer?: ServiceObserver;

  /**
   * Loads the model, starts the workers and warms both up. A user's ONNX
   * graph must open and run once within `startupTimeoutMs` (checked in a
   * child process, once per graph), so one that never finishes cannot hang
   * start-up.
   */
  static async start(options: ServiceOptions = {}): Promise<ClassificationService> {
    refuseUnknownOptions(options, [...MODEL_OPTION_KEYS, 'workers', 'batching', 'observer'], 'ClassificationService.start');
    const limit = options.startupTimeoutMs ?? DEFAULT_STARTUP_TIMEOUT_MS;
    if (!Number.isInteger(limit) || limit < 1) throw invalidArgument('startupTimeoutMs', 'a positive integer', limit);
    // The workers start (and load libvips) while the model loads in its own thread.
    const pool = preprocessingPool(options.workers);
    let model: LoadedModel;
    try {
      model = await loadModel(options, { thread: true, probeTimeoutMs: limit });
    } catch (err) {
      await pool.destroy();
      throw err;
    }
    let service: ClassificationService;
    try {
      service = new ClassificationService(model, options, pool);
    } catch (err) {
      await Promise.all([model.session.release(), pool.destroy()]);
      throw err;
    }
    // No time limit here: a user's graph was run once in a child process within the limit (load-model.ts, probe.ts), and
    // a session cannot be given up while ONNX Runtime is in a call (ending its thread then aborts the process).
    try {
      await service.warmUp();
    } catch (err) {
      await Promise.all([model.session.release(), service.pool.destroy()]);
      throw err;
    }
    return service;
  }

  get info(): ModelInfo {
    return this.model.info;
  }

  /** Threads preprocessing in parallel. */
  get workers(): number {
    return this.pool.maxThreads;
  }

  /**
   * Runs the model once, with a photo decoded in its thread where it decodes
   * lone photos, and every preprocessing worker once (decoder, resampler), so
   * the first photo is not slow.
   */
  private async warmUp(): Promise<void> {
    const size = this.model.session.inputSize;
    // Small enough for any pixel limit; a preprocessing failure here never stops the start.
    const photo = (): Buffer => Buffer.from(WARM_UP_JPEG, 'base64');
    const warmWorker = (): Promise<unknown> => this.preprocess(photo()).catch(() => undefined);
    const { session } = this.model;
    const warmModel = async (): Promise<unknown> => {
      const run = session.decodesJpeg && session.runImage ? await session.runImage(this.taskFor(photo(), false)) : null;
      return run?.kind === 'outputs' ? run : session.run(new Float32Array(3 * size * size), 1);
    };
    await Promise.all([warmModel(), ...Array.from({ length: this.pool.maxThreads }, warmWorker)]);
  }

  /** Reads a head file (a path or a `file:` URL) trained on this service's model, for `classifyMany(images, { head })`; NOT_READY once closed. */
  async loadHead(path: string | URL): Promise<Head> {
    const endCall = this.admission.enterCall();
    try {
      return await Head.load(path, this.info);
    } finally {
      endCall();
    }
  }

  /** Validates classify options as the HTTP API names them (`top_k`, `lang`); with a head, `top_k` is bounded by its classes. */
  resolveOptions(options: ClassifyOptions = {}): ResolvedClassifyOptions {
    return resolveClassifyOptions(options, this.model.session.numClasses, { topK: 'top_k', lang: 'lang' });
  }

  /** Ranked predictions from one image's logits. */
  rank(logits: Float32Array, options: ResolvedClassifyOptions): Prediction[] {
    return rankLogits(logits, 0, this.model.session.numClasses, this.model.labels, options);
  }

  /**
   * Decodes and preprocesses one image in a worker thread. When `signal`
   * aborts (deadline, client gone, shutdown) while the image is decoding, the
   * worker is terminated and replaced, so abandoned work does not hold it.
   * With `into` (a tensor slot) the tensor is written there; with `handOver`,
   * the bytes' memory moves to the worker when it can ({@link BytesOwnership});
   * with `fingerprint`, the image's fingerprint comes back too.
   */
  async preprocess(bytes: Uint8Array, signal?: AbortSignal, options: PreprocessOptions = {}): Promise<Preprocessed> {
    const { fingerprint = false, into, handOver = false } = options;
    const movable = handOver ? movableBuffer(bytes) : null;
    const task = { ...this.taskFor(bytes, fingerprint), into };
    const reply = await this.pool.run(task, { signal, ...(movable ? { transferList: [movable] } : {}) });
    if (!reply.ok) throw new ResnetServeError(reply.code, reply.message);
    this.observer?.stage?.('decode', reply.decode);
    this.observer?.stage?.('preprocess', reply.preprocess);
    const tensor = reply.tensor ?? into;
    if (!tensor) throw new ResnetServeError('INTERNAL', 'The preprocessing worker returned no tensor');
    return { ...reply, tensor };
  }

  /** {@link InferenceBatcher.runImageIfIdle} for `bytes`, moved there when handed over (a view is copied). */
  private runInInferenceThread(bytes: Uint8Array, extra: readonly ExtraOutput[], options: AnalyzeOptions): Promise<ImageRun | null> {
    const sent = bytesToSend(bytes, options.handOver ?? false);
    return this.batcher.runImageIfIdle(this.taskFor(sent.bytes, options.fingerprint ?? false), extra, sent.transfer);
  }

  /** How this service's images are prepared, for `bytes`. */
  private taskFor(bytes: Uint8Array, fingerprint: boolean): PreprocessTask {
    return { bytes, config: this.model.preprocess, maxPixels: this.maxPixels, maxDecodeMs: this.maxDecodeMs, mode: this.mode, fingerprint };
  }

  /**
   * Waits for a place among the images being preprocessed, then
   * {@link preprocess} into a tensor slot and `use` the tensor; the slot
   * returns to the pool once `use` settles.
   */
  private async withPreprocessed<T>(bytes: Uint8Array, signal: AbortSignal | undefined, options: AnalyzeOptions, use: (pre: Preprocessed) => Promise<T>): Promise<T> {
    const leave = await this.preprocessing.enter(signal);
    const slot = this.slots.acquire();
    let pre: Preprocessed;
    try {
      pre = await this.preprocess(bytes, signal, { ...options, into: slot ?? undefined });
    } catch (err) {
      // A worker stopped mid-image may still be writing the slot: never hand it out again.
      if (slot && err instanceof ResnetServeError && !signal?.aborted) this.slots.release(slot);
      else if (slot) this.slots.discard(slot);
      throw err;
    } finally {
      leave();
    }
    try {
      return await use(pre);
    } finally {
      if (slot) this.slots.release(slot);
    }
  }

  /** Threads for work other than images (fitting a head), made on first use; see {@link offload}. */
  private background: Piscina | null = null;

  /**
   * Runs other CPU-heavy work (fitting a head: seconds for a hundred classes)
   * off the event loop in a thread of its own, never in the preprocessing
   * workers, so images keep being answered meanwhile; one such job at a time,
   * the others queued. `filename` is a worker module whose default export
   * takes `task`. When `signal` aborts, a job still running is stopped (its
   * thread ended) and the call rejects with the signal's reason.
   */
  async offload<Task, Reply>(filename: URL, task: Task, signal?: AbortSignal): Promise<Reply> {
    this.background ??= new Piscina({ minThreads: 0, maxThreads: 1, idleTimeout: 10_000 });
    try {
      return (await this.background.run(task, { filename: filename.href, signal })) as Reply;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw err;
    }
  }

  /** Runs one preprocessed image through the batcher: its logits, and the `extra` outputs asked for. */
  async infer(tensor: Float32Array, signal?: AbortSignal, extra: readonly ExtraOutput[] = [], observe = true): Promise<RunOutputs> {
    const r = await this.batcher.infer(tensor, signal, extra);
    if (observe) this.observer?.stage?.('queue', r.queueMs);
    return r.outputs;
  }

  /** Images being decoded or waiting for inference now. */
  get inFlight(): number {
    return this.admission.inProgress;
  }

  /** Images in the model now (the batch ONNX Runtime is running); 0 when it is idle. */
  get inModel(): number {
    return this.batcher.imagesInModel;
  }

  /** Most images in progress at once (`batching.maxQueue`); beyond it, QUEUE_FULL at once. */
  get maxAdmitted(): number {
    return this.admission.max;
  }

  /** Throws QUEUE_FULL at once when `n` more images would not fit (checked before an upload is read); see {@link Admission.ensureCapacity}. */
  ensureCapacity(n = 1, mirrored = false): void {
    this.admission.ensureCapacity(n, mirrored);
  }

  /** Reserves room for `n` images or refuses at once (QUEUE_FULL; NOT_READY once closed): for work that does not go through {@link analyzeMany}. Returns the release function. */
  admit(n: number, mirrored = false): () => void {
    return this.admission.admit(n, mirrored);
  }

  /**
   * Classifies each image independently (one bad image does not fail the
   * others); images of one call and of concurrent calls share batches.
   * Options by their library names (`topK`, `lang`, `head`); with
   * `call.whenFull: 'refuse'`, QUEUE_FULL when the service already has
   * `maxQueue` images in progress, else the call waits for room.
   */
  async classifyMany(images: readonly Uint8Array[], options: ClassifyOptions = {}, signal?: AbortSignal, call: CallOptions = {}): Promise<ClassifyOutcome[]> {
    const resolved = resolveClassifyOptions(options, this.model.session.numClasses);
    const head = options.head;
    if (head) checkHeadFits(head, this.model);
    const analyzed = head ? await this.analyzeMany(images, ['embedding'], signal, { mirror: true, ...call }) : await this.analyzeMany(images, [], signal, call);
    return analyzed.map((a): ClassifyOutcome => {
      if (!a.ok) return a;
      const common = { timings: a.timings, width: a.width, height: a.height };
      if (head) {
        const answer = answerWithHead(head, a.outputs, resolved.topK);
        this.observer?.headAnswered?.(head.name, answer.unknown ? 'unknown' : (answer.predictions[0]?.label ?? 'unknown'));
        return { ok: true, ...answer, ...common };
      }
      return { ok: true, predictions: this.rank(a.outputs.logits.data, resolved), ...common };
    });
  }

  /** Embeddings of each image (errors in place); OUTPUT_UNAVAILABLE when the model has none. */
  async embedMany(images: readonly Uint8Array[], signal?: AbortSignal, call: CallOptions = {}): Promise<EmbedOutcome[]> {
    const analyzed = await this.analyzeMany(images, ['embedding'], signal, call);
    return analyzed.map((a): EmbedOutcome => (a.ok ? { ok: true, embedding: (a.outputs.embedding as OutputTensor).data, timings: a.timings, width: a.width, height: a.height } : a));
  }

  /**
   * The engine under classify and embed: admission, then per image decoding
   * in a worker and inference through the batcher, for the logits and the
   * `extra` outputs asked for (with `mirror`, a head's embedding: the mean of
   * the image's and its mirror image's; with `fingerprint`, the image's
   * fingerprint for finding near duplicates; with `handOver`, see
   * {@link BytesOwnership}). A list longer than the service holds at once
   * (`batching.maxQueue`, 64) is taken that many at a time; when the service
   * is full, `whenFull` says whether to wait or refuse ({@link CallOptions}).
   * A call begun before {@link close} is answered whole.
   */
  async analyzeMany(images: readonly Uint8Array[], extra: readonly ExtraOutput[] = [], signal?: AbortSignal, options: AnalyzeOptions = {}): Promise<AnalyzeOutcome[]> {
    const whenFull = checkCall(images, signal, options);
    requireOutputs(this.model, extra);
    // A mirror image is one more tensor in the queue.
    const per = options.mirror ? 2 : 1;
    const most = Math.max(1, Math.floor(this.maxAdmitted / per));
    // A call once begun is answered whole, even if the service is closed meanwhile (close waits for it).
    const endCall = this.admission.enterCall();
    try {
      const outcomes: AnalyzeOutcome[] = [];
      for (let i = 0; i < images.length; i += most) {
        const chunk = images.slice(i, i + most);
        const n = chunk.length * per;
        const release = whenFull === 'refuse' ? this.admission.admit(n, per === 2, true) : await this.admission.whenRoom(n, signal);
        try {
          outcomes.push(...(await Promise.all(chunk.map((bytes) => this.analyzeOne(bytes, extra, signal, options)))));
        } finally {
          release();
        }
      }
      return outcomes;
    } finally {
      endCall();
    }
  }

  /**
   * One admitted image: decoded in a worker, then through the batcher (with
   * its mirror image for a head); its error in place. A lone photo JPEG,
   * when nothing else is in the model, is decoded by the inference thread
   * itself ({@link InferenceBatcher.runImageIfIdle}): the same input and
   * answer, two hand-offs between threads fewer.
   */
  private async analyzeOne(bytes: Uint8Array, extra: readonly ExtraOutput[], signal: AbortSignal | undefined, options: AnalyzeOptions): Promise<AnalyzeOutcome> {
    const start = performance.now();
    try {
      const alone = options.mirror || signal?.aborted || !this.batcher.takesImageNow || !suitsInferenceThread(bytes, this.maxPixels) ? null : await this.runInInferenceThread(bytes, extra, options);
      if (signal?.aborted) throw signal.reason;
      if (alone?.kind === 'refused') throw new ResnetServeError(alone.code, alone.message);
      // Declined (a damaged JPEG: libvips words its error), the image goes to a worker, its bytes back from the thread.
      if (alone?.kind === 'declined') bytes = alone.bytes;
      else if (alone) {
        const { image, outputs, inferMs } = alone;
        for (const stage of ['decode', 'preprocess'] as const) this.observer?.stage?.(stage, image[stage]);
        this.observer?.stage?.('queue', 0);
        const timings = { decode: image.decode, preprocess: image.preprocess, infer: inferMs, total: performance.now() - start };
        return { ok: true, outputs, width: image.width, height: image.height, timings, ...(image.fingerprint ? { fingerprint: image.fingerprint } : {}) };
      }
      return await this.withPreprocessed(bytes, signal, options, async (pre): Promise<AnalyzeOutcome> => {
        const t0 = performance.now();
        const size = this.model.session.inputSize;
        // With `mirror`, the image's mirror image goes through the same batcher, in the same batch (both are queued in
        // this task), and the embedding is their mean; the image's wait is the one counted.
        const [outputs, other] = await Promise.all([
          this.infer(pre.tensor, signal, extra),
          options.mirror ? this.infer(mirrored(pre.tensor, size), signal, ['embedding'], false) : null,
        ]);
        if (other && outputs.embedding && other.embedding) outputs.embedding = { data: meanOf(outputs.embedding.data, other.embedding.data), dims: outputs.embedding.dims };
        const infer = performance.now() - t0;
        const timings = { decode: pre.decode, preprocess: pre.preprocess, infer, total: performance.now() - start };
        return { ok: true, outputs, width: pre.width, height: pre.height, timings, ...(pre.fingerprint ? { fingerprint: pre.fingerprint } : {}) };
      });
    } catch (err) {
      if (!(err instanceof ResnetServeError)) throw err;
      this.observer?.imageFailed?.(err.code);
      return { ok: false, error: err };
    }
  }

  /**
   * Starts no batch any more (images waiting or sent later get NOT_READY) and
   * resolves once the batch in the model, if any, has returned: ONNX Runtime
   * cannot stop a run, and ending the process while one runs in the model's
   * thread aborts it (SIGABRT) when the run returns. For a shutdown that
   * cannot wait for {@link close}. True if a batch was in the model.
   */
  stopBatches(): Promise<boolean> {
    this.batcher.drain(new ResnetServeError('NOT_READY', 'The server is shutting down'));
    return this.batcher.idle();
  }

  /**
   * Refuses new calls and images (NOT_READY), waits for the calls begun
   * before it to get all their answers, then stops the workers and frees the
   * model. Closing twice is closing once.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.admission.close();
      this.batcher.drain(new ResnetServeError('NOT_READY', 'The server is shutting down'));
      await Promise.all([this.pool.destroy(), this.background?.destroy()]);
      await this.batcher.idle();
      await this.model.session.release();
    })();
    return this.closing;
  }
}
