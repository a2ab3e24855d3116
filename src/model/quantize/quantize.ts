/**
 * `--precision int8`: static quantisation of any fp32 ImageNet classifier
 * into ONNX's QDQ format, run by ONNX Runtime's own integer kernels.
 *
 * Written here rather than taken from ONNX Runtime's Python quantiser
 * because the project runs on Node alone (no Python at install or run
 * time); the graph edits it needs are few (see `qdq-plan.ts`).
 *
 * Steps: ONNX Runtime writes the graph after its basic optimisations
 * (BatchNorm folded, float16 casts folded); calibration images run through
 * it with every planned activation as an extra output, giving each one's
 * range; the QDQ graph is written and cached as
 * `<cache>/onnx/<model sha>-int8-<key>.onnx`, `key` covering the calibration
 * photos, the settings and this code's version.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, rm, stat, statfs } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { ResnetServeError } from '../../errors.js';
import { ensureDir, removeOrphanedTemps, writeFileAtomic } from '../../fs-atomic.js';
import { IMAGE_EXTENSIONS } from '../../image/formats.js';
import { photoFileHead, readPhotoFile, refuseUnlessPhotoFile } from '../../image/read-photo.js';
import type { CalibrationProgress } from '../../types.js';
import type { PreprocessConfig } from '../../image/preprocess-config.js';
import { Preprocessor } from '../../image/preprocess.js';
import { cachedSha256s } from '../file-hash.js';
import { addOutputs, readGraph } from '../onnx-graph.js';
import ort from '../ort.js';
import { activationParams, RangeTracker } from './qdq-params.js';
import { planQuantization, type PlanOptions } from './qdq-plan.js';
import { writeQdqModel } from './qdq-write.js';
import { plural } from '../../plural.js';

/** Bumped when the quantised graph changes, so older cached ones are not reused. */
const QUANTIZE_VERSION = 1;

/**
 * Most photos calibrated on; a larger folder gives this many, evenly spread
 * over its sorted list. Min/max ranges settle within a few dozen photos (the
 * built-in set has 24); 3,000 photos took 137 s, for nothing.
 */
export const MAX_CALIBRATION_PHOTOS = 256;

/** Below this much free space on the cache folder's disk, a failed write is put down to the disk (a ResNet-50's graphs take ~300 MB). */
const LOW_DISK_BYTES = 512 * 2 ** 20;

/** The calibration photos shipped with the project (CC0 / public domain; see `data/calibration/README.md`). */
export const BUILTIN_CALIBRATION = new URL('../../../data/calibration/', import.meta.url).pathname;

/** How to quantise. */
export interface QuantizeSettings extends PlanOptions {
  /** 7-bit weights, for u8×s8 kernels on CPUs without VNNI. */
  reduceRange: boolean;
}

/** What we chose on an AVX2 CPU without VNNI, measured on a real ResNet-50 (README, Performance). */
export const DEFAULT_QUANTIZE_SETTINGS: QuantizeSettings = { keepFirstConv: false, reduceRange: true };

/** What quantising needs to know. */
export interface QuantizeOptions {
  /** The SHA-256 of the fp32 graph's source (names the cached result). */
  modelSha256: string;
  cacheDir: string;
  preprocess: PreprocessConfig;
  /** A folder of calibration photos (default: the built-in set). */
  calibrationDir?: string;
  settings?: QuantizeSettings;
  /** How the model is named in messages (default: the fp32 graph's path). */
  label?: string;
  /** Told about each calibration photo as it is done with. */
  onProgress?: (progress: CalibrationProgress) => void;
}

/**
 * Whether the file at `path` (a link is followed) is a photo this process may
 * read, by its first bytes and size: broken links, unreadable files and
 * files that are not photos are passed by without being read whole.
 */
const looksLikePhoto = async (path: string): Promise<boolean> => {
  try {
    if (!(await stat(path)).isFile()) return false;
    const { head, size } = await photoFileHead(path);
    refuseUnlessPhotoFile(head, size);
    return size > 0;
  } catch {
    return false;
  }
};

/** The photos in `dir` and its subfolders, sorted, and how many files (and unreadable subfolders) named like photos were passed by. */
async function calibrationFiles(dir: string): Promise<{ files: string[]; passedBy: number }> {
  const files: string[] = [];
  let passedBy = 0;
  const walk = async (d: string): Promise<void> => {
    for (const entry of await readdir(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      // A subfolder this process cannot read is passed by (and counted), as an unreadable photo is.
      if (entry.isDirectory()) await walk(path).catch(() => passedBy++);
      else if (IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
        if (await looksLikePhoto(path)) files.push(path);
        else passedBy++;
      }
    }
  };
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a folder');
    await walk(dir);
  } catch (err) {
    throw new ResnetServeError('INVALID_ARGUMENT', `calibrate: ${dir} cannot be read as a folder of photos (${(err as Error).message})`);
  }
  if (!files.length) throw new ResnetServeError('INVALID_ARGUMENT', `calibrate: ${dir} has no photos this process can read (.jpg, .png, .webp, .tif, …)`);
  return { files: files.sort(), passedBy };
}

/** At most `max` of `files`, evenly spread (all of them when they are fewer). */
export function evenlySpread<T>(files: readonly T[], max: number): T[] {
  if (files.length <= max) return [...files];
  return Array.from({ length: max }, (_, i) => files[Math.floor((i * files.length) / max)]);
}

const photos = (n: number): string => plural(n, 'photo');

/** ONNX Runtime's basic optimisations, written to `out` (what the quantiser edits). */
async function optimizeBasic(fp32Path: string, out: string): Promise<void> {
  const session = await ort.InferenceSession.create(fp32Path, { graphOptimizationLevel: 'basic', optimizedModelFilePath: out, enableCpuMemArena: false });
  await session.release();
}

/** Ranges of `tensors` over the calibration photos, read one at a time. */
async function calibrate(model: Uint8Array, tensors: string[], files: string[], options: QuantizeOptions & { dir: string; found: number; passedBy: number }): Promise<Map<string, RangeTracker>> {
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
  if (skipped === files.length) throw new ResnetServeError('INVALID_ARGUMENT', `calibrate: none of the ${photos(files.length)} in ${options.dir} could be read as an image`);
  return ranges;
}

/**
 * The int8 version of the fp32 model at `fp32Path`: from the cache when it
 * was made before with the same photos and settings, else made now.
 * Throws MODEL_INVALID for a graph that cannot be quantised.
 */
export async function quantizedModel(fp32Path: string, options: QuantizeOptions): Promise<string> {
  const settings = options.settings ?? DEFAULT_QUANTIZE_SETTINGS;
  const label = options.label ?? fp32Path;
  const dir = options.calibrationDir ?? BUILTIN_CALIBRATION;
  const { files: found, passedBy } = await calibrationFiles(dir);
  const files = evenlySpread(found, MAX_CALIBRATION_PHOTOS);
  // The photos' hashes are remembered by size and time (file-hash.ts): a cached model is found without reading them.
  const key = createHash('sha256');
  key.update(JSON.stringify({ version: QUANTIZE_VERSION, settings, size: options.preprocess }));
  for (const hash of await cachedSha256s(files, options.cacheDir)) key.update(hash);
  const base = join(options.cacheDir, 'onnx', `${options.modelSha256}-int8-${key.digest('hex').slice(0, 16)}`);
  if (existsSync(`${base}.onnx`)) return `${base}.onnx`;

  // Named for this process alone: replicas sharing a cache folder may quantise the same model at once.
  const optimized = `${base}.${process.pid}-${randomBytes(4).toString('hex')}.fp32-basic.tmp.onnx`;
  await removeOrphanedTemps(dirname(base), basename(base), '.fp32-basic.tmp.onnx');
  try {
    await ensureDir(dirname(optimized));
    await optimizeBasic(fp32Path, optimized);
    const bytes = await readFile(optimized);
    const graph = readGraph(bytes);
    if (graph.nodes.some((n) => /^(QuantizeLinear|DequantizeLinear|QLinear|DynamicQuantize|MatMulInteger|ConvInteger)/.test(n.opType))) {
      throw new ResnetServeError('MODEL_INVALID', `${label} is already quantised; --precision int8 needs an fp32 model`);
    }
    if (graph.opset < 13) throw new ResnetServeError('MODEL_INVALID', `--precision int8 needs a model of ONNX opset 13 or later (per-channel weights); ${label} is opset ${graph.opset}: export it again with opset_version=13`);
    let plan;
    try {
      plan = planQuantization(graph, settings);
    } catch (err) {
      throw new ResnetServeError('MODEL_INVALID', `${label} cannot be quantised: ${(err as Error).message}`);
    }
    const existing = new Set(graph.outputs);
    const probe = addOutputs(bytes, [], plan.activations.filter((t) => !existing.has(t)).map((name) => ({ name })));
    const ranges = await calibrate(probe, plan.activations, files, { ...options, dir, found: found.length, passedBy });
    const params = new Map([...ranges].map(([t, r]) => [t, activationParams(r.min, r.max)]));
    await writeFileAtomic(`${base}.onnx`, writeQdqModel(bytes, graph, plan, params, settings));
  } catch (err) {
    if (err instanceof ResnetServeError) throw err;
    // ONNX Runtime says only "Protobuf serialization failed" when the disk fills up while it writes.
    const free = await statfs(dirname(base)).then((f) => f.bavail * f.bsize, () => Infinity);
    if (free < LOW_DISK_BYTES) {
      throw new ResnetServeError('IO_ERROR', `${label} could not be quantised to int8: the cache folder's disk ran out of room (${Math.floor(free / 2 ** 20)} MB free; set RESNET_SERVE_HOME to a folder with more)`, { cause: err });
    }
    throw new ResnetServeError('MODEL_INVALID', `${label} could not be quantised to int8: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  } finally {
    await rm(optimized, { force: true });
  }
  return `${base}.onnx`;
}
