/**
 * The int8 graph built: ONNX Runtime's basic optimisations written out,
 * calibration photos run through them one at a time with every planned
 * activation as an output (min/max ranges), then the QDQ graph written.
 * Runs in the build child process (`../build-process.ts`), which alone loads
 * ONNX Runtime and the image pipeline for it.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ResnetServeError } from '../../errors.js';
import { cacheFolderError, cacheWriteError, ensureDir, removedAtExit, removeOrphanedTemps, writeFailure, writeFileAtomic } from '../../fs-atomic.js';
import { readPhotoFile } from '../../image/read-photo.js';
import { Preprocessor } from '../../image/preprocess.js';
import { addOutputs, readGraph } from '../onnx-graph.js';
import ort from '../ort.js';
import { activationParams, RangeTracker } from './qdq-params.js';
import { planQuantization } from './qdq-plan.js';
import { writeQdqModel } from './qdq-write.js';
import { noneReadable, type QuantizeOptions, type QuantizeSettings } from './quantize.js';

/** Below this much free space on the cache folder's disk, a failed write is put down to the disk (a ResNet-50's graphs take ~300 MB). */
const LOW_DISK_BYTES = 512 * 2 ** 20;

/** What the build needs besides the photos: the settings and where the photos were found. */
export interface BuildOptions extends QuantizeOptions {
  settings: QuantizeSettings;
  label: string;
  /** The calibration folder, and how many photos it had and passed by. */
  dir: string;
  found: number;
  passedBy: number;
}

/** ONNX Runtime's basic optimisations, written to `out` (what the quantiser edits). */
async function optimizeBasic(fp32Path: string, out: string): Promise<void> {
  const session = await ort.InferenceSession.create(fp32Path, { graphOptimizationLevel: 'basic', optimizedModelFilePath: out, enableCpuMemArena: false });
  await session.release();
}

/** Ranges of `tensors` over the calibration photos, read one at a time. */
async function calibrate(model: Uint8Array, tensors: string[], files: string[], options: BuildOptions): Promise<Map<string, RangeTracker>> {
  const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'basic', enableCpuMemArena: false });
  const ranges = new Map(tensors.map((t) => [t, new RangeTracker()]));
  const preprocessor = new Preprocessor(options.preprocess, undefined, 'fast');
  const size = options.preprocess.cropSize;
  const input = new Float32Array(preprocessor.imageLength);
  let skipped = 0;
  try {
    for (const [i, file] of files.entries()) {
      try {
        // One photo in memory at a time; a file that is not an image (or too big to read) is skipped, as everywhere else.
        await preprocessor.imageToTensor(await readPhotoFile(file), input);
        const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, 3, size, size]) }, tensors);
        for (const t of tensors) {
          ranges.get(t)!.observe(result[t].data as Float32Array);
          result[t].dispose();
        }
      } catch (err) {
        if (err instanceof ResnetServeError || (err as NodeJS.ErrnoException).code !== undefined) skipped++;
        else throw err;
      }
      options.onProgress?.({ done: i + 1, total: files.length, skipped, found: options.found, passedBy: options.passedBy });
    }
  } finally {
    await session.release();
  }
  // From a larger folder only the photos chosen were tried.
  if (skipped === files.length) throw noneReadable(options.dir, options.found + options.passedBy, options.found > files.length ? files.length : undefined);
  return ranges;
}

/**
 * Quantises the fp32 graph at `fp32Path` with ranges calibrated on `files`
 * and writes it to `${base}.onnx`. Throws MODEL_INVALID for a graph that
 * cannot be quantised, IO_ERROR when the disk fills up.
 */
export async function buildQuantized(fp32Path: string, base: string, files: string[], options: BuildOptions): Promise<void> {
  const { settings, label } = options;
  // Named for this process alone: replicas sharing a cache folder may quantise the same model at once.
  const optimized = `${base}.${process.pid}-${randomBytes(4).toString('hex')}.fp32-basic.tmp.onnx`;
  // Any model's temporary graphs a killed build left (an hour old): the one rebuilt after it would not come back for them.
  await removeOrphanedTemps(dirname(base), '', '.tmp.onnx');
  await removeOrphanedTemps(dirname(base), '', '.tmp');
  // A cache folder that cannot be made or written is said as such (ONNX Runtime would only fail to write the graph).
  await ensureDir(dirname(optimized)).catch((err: NodeJS.ErrnoException) => {
    throw cacheWriteError(options.cacheDir, writeFailure(err), err);
  });
  const written = removedAtExit(optimized);
  try {
    await optimizeBasic(fp32Path, optimized);
    const bytes = await readFile(optimized);
    const graph = readGraph(bytes);
    if (graph.nodes.some((n) => /^(QuantizeLinear|DequantizeLinear|QLinear|DynamicQuantize|MatMulInteger|ConvInteger)/.test(n.opType))) {
      throw new ResnetServeError('MODEL_INVALID', `${label} is already quantised; --precision int8 needs an fp32 model`);
    }
    if (graph.opset < 13) {
      throw new ResnetServeError(
        'MODEL_INVALID',
        `--precision int8 needs a model of ONNX opset 13 or later (per-channel weights); ${label} is opset ${graph.opset}: export it again with opset_version=13, or convert it (python3: onnx.save(onnx.version_converter.convert_version(onnx.load("in.onnx"), 13), "out.onnx"))`,
      );
    }
    let plan;
    try {
      plan = planQuantization(graph, settings, options.preprocess.cropSize);
    } catch (err) {
      throw new ResnetServeError('MODEL_INVALID', `${label} cannot be quantised: ${(err as Error).message}`);
    }
    // Convolutions are what int8 speeds up here; a model that works mostly in matrix products (a transformer,
    // ConvNeXt) would stay fp32 nearly whole, and run no faster (ViT-B/16 measured slower).
    const products = graph.nodes.filter((n) => n.opType === 'MatMul' || n.opType === 'Gemm').length;
    if (products > plan.convs.length + 1) {
      throw new ResnetServeError(
        'MODEL_INVALID',
        `${label} cannot usefully be quantised to int8: int8 here quantises convolutions, and it has ${products} matrix products (MatMul, Gemm) against ${plan.convs.length} convolution${plan.convs.length === 1 ? '' : 's'}, which would stay fp32; run it in fp32`,
      );
    }
    const existing = new Set(graph.outputs);
    const probe = addOutputs(bytes, [], plan.activations.filter((t) => !existing.has(t)).map((name) => ({ name })));
    const ranges = await calibrate(probe, plan.activations, files, options);
    const params = new Map([...ranges].map(([t, r]) => [t, activationParams(r.min, r.max)]));
    await writeFileAtomic(`${base}.onnx`, writeQdqModel(bytes, graph, plan, params, settings));
  } catch (err) {
    if (err instanceof ResnetServeError) throw err;
    // The cache folder refusing the write is said as such, not put down to the model.
    const folder = cacheFolderError(err, options.cacheDir);
    if (folder) throw folder;
    // ONNX Runtime says only "Protobuf serialization failed" when the disk fills up while it writes.
    const free = await statfs(dirname(base)).then((f) => f.bavail * f.bsize, () => Infinity);
    if (free < LOW_DISK_BYTES) {
      throw new ResnetServeError('IO_ERROR', `${label} could not be quantised to int8: the cache folder's disk ran out of room (${Math.floor(free / 2 ** 20)} MB free; set RESNET_SERVE_HOME to a folder with more)`, { cause: err });
    }
    throw new ResnetServeError('MODEL_INVALID', `${label} could not be quantised to int8: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  } finally {
    await rm(optimized, { force: true });
    written();
  }
}
