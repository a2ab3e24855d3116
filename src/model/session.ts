/**
 * An ImageNet-style classifier running in ONNX Runtime: one float32 input
 * `[N|1, 3, S, S]` (S may be left open by the graph), one output
 * `[N|1, classes]` of logits, or of probabilities where the graph ends in a
 * Softmax (read as their logarithm, so that softmax gives them back). The
 * shapes are checked when the session opens, so a wrong model fails at
 * start-up with a message that says what was expected, what the file has,
 * and what to do.
 */
import type { InferenceSession } from 'onnxruntime-node';
import ort from './ort.js';
import { availableCpus } from '../cpu-quota.js';
import { ResnetServeError } from '../errors.js';
import type { ExtraOutput } from './model-outputs.js';
import { EXTRA_OUTPUTS, checkSessionInput, gatherInput, inSharedMemory, isTensorList, type ModelSession, type OutputTensor, type RunOutputs, type SessionInput, type SessionOptions } from './model-session.js';

/** Name, element type and shape of one graph input or output. */
interface IoShape {
  name: string;
  type: string;
  shape: readonly (number | string)[];
}

function describe(io: IoShape): string {
  return `'${io.name}' ${io.type} [${io.shape.join(', ')}]`;
}

function ioShapes(metadata: readonly InferenceSession.ValueMetadata[]): IoShape[] {
  return metadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: 'non-tensor', shape: [] }));
}

const isDynamic = (d: number | string): boolean => typeof d === 'string' || d < 0;

/**
 * Most images in one ONNX Runtime run; larger batches run in turns of this
 * many. ONNX Runtime's arena keeps the activations of the largest run it has
 * seen, so run after run reuses memory already faulted in (page faults are
 * expensive on virtual machines: without the arena, ResNet-50 int8 took 15–16
 * instead of 9 ms at batch 1); in turns of 4 that memory stays at a 4-image
 * run's (ResNet-18: +1 MB int8, +24 MB fp32; ResNet-50 int8: +50 MB), where a
 * 16-image run held 120–200 MB more. Measured in docs/performance.md (Memory).
 */
export const RUN_IMAGES = 4;

/** Default intra-op threads: the CPUs this process may really use (affinity and cgroup quota). */
export function defaultThreadCount(): number {
  return availableCpus();
}

/** ONNX Runtime's session settings for `spin` (see {@link SessionOptions}). */
function spinSettings(spin: NonNullable<SessionOptions['spin']>): { extra?: Record<string, unknown> } {
  if (spin === 'never') return { extra: { session: { intra_op: { allow_spinning: '0' } } } };
  if (spin === 'during-runs') return { extra: { session: { intra_op: { allow_spinning: '1' }, force_spinning_stop: '1' } } };
  return {};
}

/**
 * ONNX Runtime's reason for refusing a model file, without the file's path
 * (the caller names the model as the user gave it) and without the C++
 * source location it sometimes starts with.
 */
function ortLoadReason(message: string): string {
  const line = message.split('\n')[0];
  const reason = line
    .replace(/^(?:\[[^\]]*\]\s*)?Load model from .*? failed:\s*/, '')
    .replace(/^\/\S+:\d+\s+[^(]*\([^)]*\)\s*/, '')
    .trim();
  return reason || line;
}

/** The input's side in pixels: its own when fixed (and as expected), the expected one when the graph leaves it open. */
function inputSizeOf(s: readonly (number | string)[], expected: number | undefined): number | undefined {
  if (s.length !== 4) return undefined;
  if (isDynamic(s[2]) && isDynamic(s[3])) return expected;
  if (typeof s[2] !== 'number' || s[2] <= 0 || s[3] !== s[2]) return undefined;
  return expected === undefined || s[2] === expected ? s[2] : undefined;
}

/** What to do about an input that was refused: another size said in a sidecar, or channels first. */
function inputHint(inputs: readonly IoShape[], s: readonly (number | string)[], expected: number | undefined, label: string): string {
  if (inputs.length !== 1 || s.length !== 4) return '';
  if (s[3] === 3 && s[1] !== 3) return '. It takes channels last (NHWC): export it channels first (NCHW), as PyTorch models are';
  if (s[1] === 3 && typeof s[2] === 'number' && s[2] > 0 && s[3] === s[2] && s[2] !== expected) {
    return `. If it was made for ${s[2]}-pixel photos, say so in a sidecar file ${label}.json: {"input_size": ${s[2]}}`;
  }
  return '';
}

/**
 * The output holding the answer: float32 `[N, K]`; of several, the one whose K
 * is the number of labels, else the first that is not an output we add.
 */
function answerOutput(outputs: readonly IoShape[], batch: number | string | undefined, classes: number | undefined): IoShape | undefined {
  const fits = outputs.filter((o) => o.type === 'float32' && o.shape.length === 2 && typeof o.shape[1] === 'number' && o.shape[1] > 0 && (isDynamic(o.shape[0]) || o.shape[0] === batch));
  if (fits.length <= 1) return fits[0];
  return fits.find((o) => o.shape[1] === classes) ?? fits.find((o) => !(EXTRA_OUTPUTS as readonly string[]).includes(o.name)) ?? fits[0];
}

/** Probabilities, in place, as their logarithms: softmax of the result gives them back (to float precision). */
function asLogProbabilities(data: Float32Array): void {
  for (let i = 0; i < data.length; i++) data[i] = Math.log(Math.max(data[i], 1e-30));
}

/** A checked classifier session, run in the calling thread. */
export class ClassifierSession implements ModelSession {
  private constructor(
    private readonly session: InferenceSession,
    readonly inputName: string,
    readonly outputName: string,
    readonly inputSize: number,
    readonly numClasses: number,
    /** Largest batch the graph accepts (1 when the batch dimension is fixed to 1). */
    readonly maxBatch: number,
    readonly threads: number,
    readonly extraOutputs: readonly ExtraOutput[],
    /** The answer output holds probabilities (the graph ends in a Softmax), not logits. */
    private readonly probabilities = false,
  ) {}

  /** Where a gathered batch or input in shared memory is copied before a run (grown to the largest batch seen, then reused). */
  private staging = new Float32Array(0);
  private stagingInUse = false;

  /**
   * Runs `use` on the batch as one array that ONNX Runtime's binding takes:
   * one tensor per image is gathered, and an array over a SharedArrayBuffer
   * is copied (the binding refuses those, "Invalid argument"); both go into
   * the staging array unless another run holds it.
   */
  private async withRunnable<T>(data: SessionInput, length: number, use: (input: Float32Array) => Promise<T>): Promise<T> {
    if (!isTensorList(data) && !inSharedMemory(data)) return use(data);
    if (this.stagingInUse) return use(gatherInput(data, length, new Float32Array(length)));
    if (this.staging.length < length) this.staging = new Float32Array(length);
    const input = gatherInput(data, length, this.staging.subarray(0, length));
    this.stagingInUse = true;
    try {
      return await use(input);
    } finally {
      this.stagingInUse = false;
    }
  }

  /**
   * Opens an ONNX model (path or bytes) and checks that it takes
   * `[N, 3, inputSize, inputSize]` float32 and returns `[N, classes]` as its
   * first output; outputs named `embedding` and `feature_map` are offered too.
   */
  static async open(model: string | Uint8Array, options: SessionOptions = {}): Promise<ClassifierSession> {
    const threads = options.threads ?? defaultThreadCount();
    const label = options.label ?? (typeof model === 'string' ? model : 'the ONNX model');
    let session: InferenceSession;
    try {
      session = await ort.InferenceSession.create(model as string, {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: options.preoptimized ? 'disabled' : 'all',
        // The arena reuses each run's activations; runs of at most RUN_IMAGES keep what it holds small.
        enableCpuMemArena: true,
        // ONNX Runtime's warnings (one line per initializer listed among the inputs, in older exports) are not the user's to act on.
        logSeverityLevel: 3,
        ...spinSettings(options.spin ?? 'always'),
      });
    } catch (err) {
      throw new ResnetServeError('MODEL_INVALID', `${label} is not a valid ONNX model: ${ortLoadReason((err as Error).message)}`, { cause: err });
    }
    const inputs = ioShapes(session.inputMetadata);
    const outputs = ioShapes(session.outputMetadata);
    const input = inputs[0];
    const s = input?.shape ?? [];
    const size = inputSizeOf(s, options.inputSize);
    const refuse = async (message: string): Promise<never> => {
      await session.release();
      throw new ResnetServeError('MODEL_INVALID', message);
    };
    if (!(inputs.length === 1 && input.type === 'float32' && s.length === 4 && s[1] === 3 && size !== undefined)) {
      const want = `one float32 input [N, 3, ${options.inputSize ?? 'S'}, ${options.inputSize ?? 'S'}]`;
      await refuse(`${label} must take ${want}; it takes ${inputs.map(describe).join(', ') || 'no inputs'}${inputHint(inputs, s, options.inputSize, label)}`);
    }
    if (!isDynamic(s[0]) && s[0] !== 1) {
      await refuse(`${label} takes batches of exactly ${s[0]} images, and photos come one or a few at a time: export it with a batch of 1 or a dynamic batch axis (torch.onnx.export(..., dynamic_axes={"${input.name}": {0: "batch"}}))`);
    }
    const output = answerOutput(outputs, s[0], options.classes);
    if (!output) await refuse(`${label} must return float32 [N, classes] logits; it returns ${outputs.map(describe).join(', ') || 'nothing'}`);
    const answer = output as IoShape;
    // The answer output itself is never also offered as an extra one (a model whose output is named "embedding").
    const extra = EXTRA_OUTPUTS.filter((name) => name !== answer.name && outputs.some((x) => x.name === name && x.type === 'float32'));
    const maxBatch = isDynamic(s[0]) ? Number.MAX_SAFE_INTEGER : 1;
    const probabilities = options.probabilityOutputs?.includes(answer.name) ?? false;
    return new ClassifierSession(session, input.name, answer.name, size as number, answer.shape[1] as number, maxBatch, threads, extra, probabilities);
  }

  /**
   * Runs `batch` images laid out NCHW in `data`: the logits
   * (`batch * numClasses` floats) and the extra outputs asked for, from the
   * same run. Batches above `maxBatch` or {@link RUN_IMAGES} are split. `data` may be one tensor
   * per image, and may live in a SharedArrayBuffer (the server's tensor slots).
   */
  async run(data: SessionInput, batch: number, extra: readonly ExtraOutput[] = []): Promise<RunOutputs> {
    const per = 3 * this.inputSize * this.inputSize;
    checkSessionInput(data, batch, per);
    return this.withRunnable(data, batch * per, (input) => this.runChecked(input, batch, per, extra));
  }

  private async runChecked(data: Float32Array, batch: number, per: number, extra: readonly ExtraOutput[]): Promise<RunOutputs> {
    const missing = extra.filter((name) => !this.extraOutputs.includes(name));
    if (missing.length) throw new ResnetServeError('OUTPUT_UNAVAILABLE', `This model has no ${missing.join(' or ')} output`);
    const names = [this.outputName, ...extra];
    const parts: Record<string, { chunks: Float32Array[]; dims: readonly number[] }> = {};
    const perRun = Math.min(this.maxBatch, RUN_IMAGES);
    for (let start = 0; start < batch; start += perRun) {
      const n = Math.min(perRun, batch - start);
      const tensor = new ort.Tensor('float32', data.subarray(start * per, (start + n) * per), [n, 3, this.inputSize, this.inputSize]);
      let result: InferenceSession.ReturnType;
      try {
        result = await this.session.run({ [this.inputName]: tensor }, names);
      } catch (err) {
        throw new ResnetServeError('INFERENCE_FAILED', `Inference failed: ${(err as Error).message.trim().replace(/\s*\n\s*/g, ' ')}`, { cause: err });
      }
      for (const name of names) {
        const t = result[name];
        const entry = (parts[name] ??= { chunks: [], dims: t.dims });
        entry.chunks.push(new Float32Array(t.data as Float32Array));
        t.dispose();
      }
    }
    const join = (name: string): OutputTensor => {
      const { chunks, dims } = parts[name];
      if (chunks.length === 1) return { data: chunks[0], dims: [batch, ...dims.slice(1)] };
      const data = new Float32Array(chunks.reduce((sum, c) => sum + c.length, 0));
      let offset = 0;
      for (const c of chunks) {
        data.set(c, offset);
        offset += c.length;
      }
      return { data, dims: [batch, ...dims.slice(1)] };
    };
    const out: RunOutputs = { logits: join(this.outputName) };
    if (this.probabilities) asLogProbabilities(out.logits.data);
    for (const name of extra) out[name] = join(name);
    return out;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}
