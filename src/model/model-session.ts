/**
 * What a model session is to the rest of the program, wherever it runs (in
 * this thread, `session.ts`, or in a worker thread, `session-thread.ts`): its
 * interface, options and outputs. Kept apart from ONNX Runtime so that code
 * that only hands tensors to a session (the server's event loop, the
 * batcher) never loads the native runtime.
 */
import type { ErrorCode } from '../errors.js';
import type { PreprocessFacts, PreprocessTask } from '../image/preprocess-task.js';
import type { ExtraOutput } from './model-outputs.js';

/** The outputs a graph may have besides the logits, in the order sessions list them. */
export const EXTRA_OUTPUTS: readonly ExtraOutput[] = ['embedding', 'feature_map'];

/** What a session can give per image: the logits always, the embedding and feature map where the graph has them. */
export type OutputName = 'logits' | ExtraOutput;

/** One output of a batch: values, and dims with the batch first. */
export interface OutputTensor {
  data: Float32Array;
  dims: readonly number[];
}

/** The outputs of one run: the logits, and the others asked for. */
export type RunOutputs = { logits: OutputTensor } & Partial<Record<ExtraOutput, OutputTensor>>;

/** Image `index`'s share of a batch's outputs (copies, dims with a batch of 1). */
export function outputsOf(outputs: RunOutputs, batch: number, index: number): RunOutputs {
  const one = (t: OutputTensor): OutputTensor => {
    const per = t.data.length / batch;
    return { data: t.data.slice(index * per, (index + 1) * per), dims: [1, ...t.dims.slice(1)] };
  };
  const out: RunOutputs = { logits: one(outputs.logits) };
  for (const name of EXTRA_OUTPUTS) {
    const t = outputs[name];
    if (t) out[name] = one(t);
  }
  return out;
}

/**
 * A batch for a session: one array of `batch` images laid out NCHW, or one
 * tensor per image (the batcher's queued images, gathered by the session
 * into its input without an intermediate copy). Either may live in shared
 * memory.
 */
export type SessionInput = Float32Array | readonly Float32Array[];

/** Whether the batch is given as one tensor per image (else as one array). */
export function isTensorList(data: SessionInput): data is readonly Float32Array[] {
  return Array.isArray(data);
}

/** Throws a RangeError unless `data` holds `batch` images of `perImage` values. */
export function checkSessionInput(data: SessionInput, batch: number, perImage: number): void {
  const fits = isTensorList(data) ? data.length === batch && data.every((t) => t.length === perImage) : data.length >= batch * perImage;
  if (!fits) throw new RangeError(`the input holds fewer than ${batch} images of ${perImage} values`);
}

/** Whether every image of the batch lives in a SharedArrayBuffer. */
export function inSharedMemory(data: SessionInput): boolean {
  return (isTensorList(data) ? data : [data]).every((t) => t.buffer instanceof SharedArrayBuffer);
}

/** Copies the batch, one array or one tensor per image, into `into` (`length` values); returns `into`. */
export function gatherInput(data: SessionInput, length: number, into: Float32Array): Float32Array {
  if (!isTensorList(data)) {
    into.set(data.subarray(0, length));
    return into;
  }
  let offset = 0;
  for (const image of data) {
    into.set(image, offset);
    offset += image.length;
  }
  return into;
}

/** What a model session offers, in this thread or in a worker thread (see `session-thread.ts`). */
export interface ModelSession {
  readonly inputName: string;
  readonly outputName: string;
  readonly inputSize: number;
  readonly numClasses: number;
  /** Largest batch the graph accepts (1 when the batch dimension is fixed to 1). */
  readonly maxBatch: number;
  readonly threads: number;
  /** The extra outputs the graph has (`embedding`, `feature_map`). */
  readonly extraOutputs: readonly ExtraOutput[];
  /**
   * Runs `batch` images, laid out NCHW in `data` or given one tensor each;
   * resolves with the logits (`batch * numClasses`) and the extra outputs
   * asked for, in one run.
   */
  run(data: SessionInput, batch: number, extra?: readonly ExtraOutput[]): Promise<RunOutputs>;
  /** Whether {@link runImage} can decode photo JPEGs in the session's own thread. */
  readonly decodesJpeg?: boolean;
  /** Decodes one image in the session's own thread and runs it (see `ThreadedSession.runImage`). */
  runImage?(task: PreprocessTask, extra?: readonly ExtraOutput[], transfer?: ArrayBuffer[]): Promise<ImageRun>;
  /** Frees the native session. */
  release(): Promise<void>;
}

/**
 * A photo decoded and run where the session runs: its outputs, with what is
 * known of the image and how long inference took; or the image's own error;
 * or `declined` when it needs a decoder that thread does not load, with the
 * image's bytes (moved back when they were moved there).
 */
export type ImageRun =
  | { kind: 'outputs'; outputs: RunOutputs; image: PreprocessFacts; inferMs: number }
  | { kind: 'refused'; code: ErrorCode; message: string }
  | { kind: 'declined'; bytes: Uint8Array };

/** Options for opening a session. */
export interface SessionOptions {
  threads?: number;
  inputSize?: number;
  /** How the model is named in error messages. */
  label?: string;
  /** The graph was optimised for this machine already (`preoptimize.ts`): open it as it is. */
  preoptimized?: boolean;
  /**
   * When ONNX Runtime's idle threads spin before they sleep: `always` (its default: between runs too), `during-runs`
   * (while a run lasts, asleep between runs), `never`. Spinning shortens the hand-off between layers but takes cores
   * from the decoding that runs beside inference in the server: for int8, whose layers are short, `never` measured
   * better there at both ends (two threads on an AVX2 CPU: 30–34 against 33–37 ms at concurrency 1, 42–48 against
   * 37–44 images/s at 16); for fp32 `never` cost 10% at concurrency 1. Where nothing decodes during a run (the CLI's
   * and the library's sessions), int8 spins during runs (docs/performance.md, Threads).
   */
  spin?: 'always' | 'during-runs' | 'never';
  /** How many classes the labels have: of several outputs `[N, K]`, the one with this K holds the answer. */
  classes?: number;
  /** Outputs that are probabilities already (a Softmax's): read as such, never put through softmax again. */
  probabilityOutputs?: readonly string[];
}
