/**
 * Image classification as one task: preprocess (decode, resize, crop,
 * normalise) → model (ONNX Runtime, the whole batch as one tensor) →
 * postprocess (softmax, top-k, labels).
 */
import { performance } from 'node:perf_hooks';
import { ResnetServeError, invalidArgument, refuseUnknownOptions } from '../errors.js';
import { fileUrlPath, readFailure } from '../fs-atomic.js';
import { DEFAULT_DECODE_LIMITS } from '../image/decode-limits.js';
import { PREPROCESS_MODES, type PreprocessMode } from '../image/preprocess-config.js';
import { Preprocessor } from '../image/preprocess.js';
import { MODEL_OPTION_KEYS, loadModel, type LoadedModel } from '../model/load-model.js';
import type { ExtraOutput } from '../model/model-outputs.js';
import { outputsOf, type OutputTensor, type RunOutputs } from '../model/model-session.js';
import type { AnalyzeOutcome, ClassifyOptions, ClassifyOutcome, EmbedOutcome, ModelInfo, ModelOptions, Prediction } from '../types.js';
import { checkHeadFits, requireOutputs } from './outputs.js';
import { answerWithHead, unknownFirst } from '../heads/answer.js';
import { Head } from '../heads/head.js';
import type { Explanation } from './explain.js';
import { displayPath, fsPath } from '../library/paths.js';
import { readPhotoFile } from '../image/read-photo.js';
import { mirrorInto } from '../heads/views.js';
import { meanOf } from '../heads/vectors.js';
import { rankLogits, resolveClassifyOptions, type ResolvedClassifyOptions } from './answer.js';

/** An image to classify: its bytes, a file path (a string is always a path) or a `URL` object with `file:`. */
export type ImageInput = Buffer | Uint8Array | string | URL;

async function toBytes(input: ImageInput): Promise<Buffer> {
  if (Buffer.isBuffer(input)) return input;
  if (input instanceof Uint8Array) return Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const expected = 'a Buffer, a Uint8Array, a file path or a file: URL';
  if (input instanceof URL) return toBytes(fileUrlPath(input, 'image', expected));
  if (typeof input !== 'string' || input === '') throw invalidArgument('image', expected, input);
  try {
    return await readPhotoFile(fsPath(input));
  } catch (err) {
    if (err instanceof ResnetServeError) throw err;
    throw new ResnetServeError('IO_ERROR', `Cannot read ${displayPath(input)}: ${readFailure(err as NodeJS.ErrnoException)}`, { cause: err });
  }
}

/** An explanation with its pictures: PNGs of the map over the 224×224 crop the model saw and over the photo. */
export interface ImageExplanation extends Explanation {
  overlays: { crop: Buffer; photo: Buffer };
}

/** Turns any failure into the typed error of one image. */
function asTyped(err: unknown): ResnetServeError {
  if (err instanceof ResnetServeError) return err;
  return new ResnetServeError('IMAGE_CORRUPT', `Image could not be processed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/**
 * Most images decoded and run as one batch: a longer list is taken this many
 * at a time, so memory stays that of one batch however many images come.
 */
export const IMAGES_PER_RUN = 16;

/**
 * Classifies images with one loaded model, in the calling thread: ONNX
 * Runtime's run holds the event loop while it lasts (about 5–30 ms per image
 * here). An app whose event loop must stay free (a server, an Electron main
 * process) uses `ClassificationService`, which runs the model and the
 * decoding in worker threads.
 */
export class ImageClassifier {
  /** The model's preprocessing (decode limits, fast or exact mode). */
  readonly preprocessor: Preprocessor;
  private running = 0;
  private drained: (() => void) | null = null;
  private closed: Promise<void> | null = null;

  /** A classifier over a model already loaded (see {@link loadModel}); {@link ImageClassifier.create} loads one. */
  constructor(readonly model: LoadedModel, options: { maxPixels?: number; maxDecodeMs?: number; preprocess?: PreprocessMode } = {}) {
    const limits = { ...DEFAULT_DECODE_LIMITS, ...(options.maxPixels === undefined ? {} : { maxPixels: options.maxPixels }), ...(options.maxDecodeMs === undefined ? {} : { maxDecodeMs: options.maxDecodeMs }) };
    this.preprocessor = new Preprocessor(model.preprocess, limits, options.preprocess ?? 'fast');
  }

  /** Loads a model (see {@link loadModel}) and returns a classifier for it. */
  static async create(options: ModelOptions = {}): Promise<ImageClassifier> {
    refuseUnknownOptions(options, MODEL_OPTION_KEYS, 'ImageClassifier.create');
    if (options.maxPixels !== undefined && (!Number.isInteger(options.maxPixels) || options.maxPixels <= 0)) {
      throw invalidArgument('maxPixels', 'a positive integer', options.maxPixels);
    }
    if (options.preprocess !== undefined && !PREPROCESS_MODES.includes(options.preprocess)) {
      throw invalidArgument('preprocess', `one of ${PREPROCESS_MODES.join(', ')}`, options.preprocess);
    }
    return new ImageClassifier(await loadModel(options, { probeTimeoutMs: options.startupTimeoutMs }), options);
  }

  /** What the model is: name, SHA-256, precision, classes, outputs. */
  get info(): ModelInfo {
    return this.model.info;
  }

  /** Ranked, labelled predictions from one row of logits. */
  postprocess(logits: Float32Array, row: number, options: ResolvedClassifyOptions): Prediction[] {
    const n = this.model.session.numClasses;
    return rankLogits(logits, row * n, n, this.model.labels, options);
  }

  /**
   * Classifies one image; throws its typed error if it cannot be read. With a
   * head that finds the photo none of its classes, `{ index: -1, label:
   * 'unknown' }` comes first (`classifyBatch` gives `unknown` and
   * `typicality` as fields).
   */
  async classify(image: ImageInput, options: ClassifyOptions = {}): Promise<Prediction[]> {
    const [outcome] = await this.classifyBatch([image], options);
    if (!outcome.ok) throw outcome.error;
    return unknownFirst(outcome);
  }

  /**
   * Classifies several images, decoding them concurrently and running the
   * decodable ones as one batch. A bad image gets its error in place; the
   * others are still classified.
   */
  async classifyBatch(images: readonly ImageInput[], options: ClassifyOptions = {}): Promise<ClassifyOutcome[]> {
    const resolved = resolveClassifyOptions(options, this.model.session.numClasses);
    const head = options.head;
    if (head) checkHeadFits(head, this.model);
    const analyzed = head ? await this.analyzeBatch(images, ['embedding'], { mirror: true }) : await this.analyzeBatch(images);
    return analyzed.map((a): ClassifyOutcome => {
      if (!a.ok) return a;
      const common = { timings: a.timings, width: a.width, height: a.height };
      if (head) return { ok: true, ...answerWithHead(head, a.outputs, resolved.topK), ...common };
      return { ok: true, predictions: this.postprocess(a.outputs.logits.data, 0, resolved), ...common };
    });
  }

  /** Reads a head file (a path or a `file:` URL) trained on this classifier's model (refused, saying so, when it was trained on another); NOT_READY once closed. */
  async loadHead(path: string | URL): Promise<Head> {
    return this.tracked(() => Head.load(path, this.info));
  }

  /**
   * Where the model looked: one image's class activation map for
   * `options.class` (an index or a label; default the top answer), its
   * predictions (`topK`, default 5) and PNG overlays of the map on the crop
   * the model saw and on the photo. With `options.head`, the same for the
   * head's classes (`class` one of its classes), with its `unknown` verdict.
   * OUTPUT_UNAVAILABLE for a model without a global average pooling before
   * its final layer.
   */
  async explain(image: ImageInput, options: { class?: number | string; topK?: number; head?: Head } = {}): Promise<ImageExplanation> {
    refuseUnknownOptions(options, ['class', 'topK', 'head'], 'explain');
    return this.tracked(async () => {
      // Loaded on the first explanation: the graph reader and the renderer are not needed to classify.
      const [{ explainPlan }, { renderOverlays }] = await Promise.all([import('./explain.js'), import('../image/heatmap.js')]);
      const { topK } = resolveClassifyOptions({ topK: options.topK, head: options.head }, this.model.session.numClasses);
      const plan = await explainPlan(this.model, { head: options.head, class: options.class, topK });
      const bytes = await toBytes(image);
      const [outcome] = await this.analyzeAll([bytes], plan.extra, { mirror: plan.mirror });
      if (!outcome.ok) throw outcome.error;
      const explanation = plan.explain(outcome.outputs);
      const overlays = await renderOverlays(bytes, explanation.map, this.model.preprocess);
      return { ...explanation, overlays };
    });
  }

  /** The embedding (the input of the model's final layer) of one image; throws its typed error. */
  async embed(image: ImageInput): Promise<Float32Array> {
    const [outcome] = await this.embedBatch([image]);
    if (!outcome.ok) throw outcome.error;
    return outcome.embedding;
  }

  /** Embeddings of several images, in one batch; errors in place. OUTPUT_UNAVAILABLE when the model has none. */
  async embedBatch(images: readonly ImageInput[]): Promise<EmbedOutcome[]> {
    const analyzed = await this.analyzeBatch(images, ['embedding']);
    return analyzed.map((a): EmbedOutcome => (a.ok ? { ok: true, embedding: (a.outputs.embedding as OutputTensor).data, timings: a.timings, width: a.width, height: a.height } : a));
  }

  /**
   * The engine under classify and embed: decode and preprocess each image,
   * run the decodable ones as one batch for the logits and the `extra`
   * outputs asked for, and give each image its share (or its error). With
   * `mirror`, each image's mirror image runs in the same batch and its
   * `embedding` is the mean of the two (a head's embedding, `heads/views.ts`);
   * with `fingerprint`, each image's fingerprint comes too (near duplicates).
   * More than {@link IMAGES_PER_RUN} images are taken that many at a time.
   * NOT_READY once the classifier is closed.
   */
  async analyzeBatch(images: readonly ImageInput[], extra: readonly ExtraOutput[] = [], options: { mirror?: boolean; fingerprint?: boolean } = {}): Promise<AnalyzeOutcome[]> {
    checkImageList(images);
    requireOutputs(this.model, extra);
    return this.tracked(() => this.analyzeAll(images, extra, options));
  }

  /** {@link analyzeBatch} within a call already tracked: {@link IMAGES_PER_RUN} images at a time. */
  private async analyzeAll(images: readonly ImageInput[], extra: readonly ExtraOutput[], options: { mirror?: boolean; fingerprint?: boolean }): Promise<AnalyzeOutcome[]> {
    const outcomes: AnalyzeOutcome[] = [];
    for (let i = 0; i < images.length; i += IMAGES_PER_RUN) outcomes.push(...(await this.runBatch(images.slice(i, i + IMAGES_PER_RUN), extra, options)));
    return outcomes;
  }

  /** Runs `work` as a call in progress, which {@link close} waits for; NOT_READY once the classifier is closed. */
  private async tracked<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) throw new ResnetServeError('NOT_READY', 'This classifier is closed: create another to go on');
    this.running++;
    try {
      return await work();
    } finally {
      if (--this.running === 0) this.drained?.();
    }
  }

  /** One run of {@link analyzeBatch}: at most {@link IMAGES_PER_RUN} images. */
  private async runBatch(images: readonly ImageInput[], extra: readonly ExtraOutput[], options: { mirror?: boolean; fingerprint?: boolean }): Promise<AnalyzeOutcome[]> {
    const per = this.preprocessor.imageLength;
    const tensor = new Float32Array(images.length * per * (options.mirror ? 2 : 1));
    const prepared = await Promise.all(
      images.map(async (image, i) => {
        try {
          return await this.preprocessor.imageToTensor(await toBytes(image), tensor, i * per, { fingerprint: options.fingerprint });
        } catch (err) {
          return asTyped(err);
        }
      }),
    );
    const good = prepared.map((p, i) => (p instanceof ResnetServeError ? -1 : i)).filter((i) => i >= 0);
    // Compact the decodable images to the front so the batch is contiguous.
    good.forEach((from, to) => {
      if (from !== to) tensor.copyWithin(to * per, from * per, (from + 1) * per);
    });
    const size = this.model.session.inputSize;
    if (options.mirror) good.forEach((_, row) => mirrorInto(tensor, row * per, tensor, (good.length + row) * per, size));
    const batch = good.length * (options.mirror ? 2 : 1);
    const t0 = performance.now();
    const outputs = good.length ? await this.model.session.run(tensor, batch, extra) : null;
    // Each image is given its share of the batch's inference, and its own decoding and preprocessing.
    const infer = (performance.now() - t0) / Math.max(1, good.length);
    const rowOf = new Map(good.map((imageIndex, row) => [imageIndex, row]));
    return prepared.map((p, i): AnalyzeOutcome => {
      if (p instanceof ResnetServeError) return { ok: false, error: p };
      const timings = { decode: p.timings.decode, preprocess: p.timings.preprocess, infer, total: p.timings.decode + p.timings.preprocess + infer };
      const row = rowOf.get(i) as number;
      const mine = outputsOf(outputs as RunOutputs, batch, row);
      if (options.mirror && mine.embedding) {
        const other = outputsOf(outputs as RunOutputs, batch, good.length + row).embedding as OutputTensor;
        mine.embedding = { data: meanOf(mine.embedding.data, other.data), dims: mine.embedding.dims };
      }
      return { ok: true, outputs: mine, timings, width: p.original.width, height: p.original.height, ...(p.fingerprint ? { fingerprint: p.fingerprint } : {}) };
    });
  }

  /** Frees the model once the calls in progress have finished; later calls are refused with NOT_READY. Closing twice is closing once. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      if (this.running > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      await this.model.session.release();
    })();
    return this.closed;
  }
}

/** INVALID_ARGUMENT unless `images` is an array (of images, each checked when it is read). */
function checkImageList(images: unknown): void {
  if (!Array.isArray(images)) throw invalidArgument('images', 'an array of images', images);
}
