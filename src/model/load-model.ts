/**
 * Finds, verifies and opens the model a user asked for:
 * - an official torchvision ResNet by name (`resnet18` by default): PyTorch's
 *   hub cache, then ours, then a verified download into ours;
 * - a `.pth` state_dict: read without Python, turned into an ONNX graph once
 *   and cached as `<cache>/onnx/<sha256>.onnx`;
 * - an `.onnx` classifier, with an optional sidecar JSON (`model.onnx.json` or
 *   `model.json`) giving input size, resize, mean/std and labels.
 */
import { existsSync } from 'node:fs';
import { open, readFile, readdir, rm } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { ResnetServeError, invalidArgument } from '../errors.js';
import { cacheFolderError, cacheWriteError, readFailure } from '../fs-atomic.js';
import { cachedSha256 } from './file-hash.js';
import { IMAGENET_PREPROCESS, type PreprocessConfig } from '../image/preprocess-config.js';
import { checkLabelSet, imagenetLabels, readLabelFile, type LabelSet } from '../labels/labels.js';
import type { ModelCalibration, ModelInfo, ModelOptions } from '../types.js';
import type { ModelSession, SessionOptions } from './model-session.js';
import { ThreadedSession } from './session-thread.js';
import { probeModel } from './probe.js';
import { checkpointToOnnx } from './checkpoint-graph.js';
import { preoptimizedFor } from './preoptimize.js';
import {
  OFFICIAL_CHECKPOINTS,
  defaultCacheDir,
  downloadVerified,
  findCachedCheckpoint,
  hashPrefixOf,
  offlineInstructions,
  weightsBaseUrl,
} from './weights.js';

/** A model ready to classify: session, its preprocessing, labels and provenance. */
export interface LoadedModel {
  session: ModelSession;
  preprocess: PreprocessConfig;
  labels: LabelSet;
  info: ModelInfo;
  /** Why the model has no embedding output, when it has none. */
  missingOutputs?: string;
}

/** What a sidecar JSON may say about an ONNX model or checkpoint. */
interface Sidecar {
  name?: string;
  preprocess: PreprocessConfig;
  labels?: LabelSet;
}

const SIDECAR_KEYS = ['name', 'input_size', 'resize_size', 'mean', 'std', 'labels', 'labels_zh'];

function readJsonField<T>(json: Record<string, unknown>, key: string, check: (v: unknown) => boolean, expected: string, file: string): T | undefined {
  if (!(key in json)) return undefined;
  if (!check(json[key])) throw new ResnetServeError('MODEL_INVALID', invalidArgument(`"${key}" in ${file}`, expected, json[key]).message);
  return json[key] as T;
}

function readLabels(value: unknown, dir: string, sidecar: string, key: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return value as string[];
  const path = resolve(dir, value);
  try {
    return readLabelFile(path);
  } catch (err) {
    throw new ResnetServeError('MODEL_INVALID', `Sidecar ${sidecar} names ${JSON.stringify(value)} as its ${key}, but ${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

async function readSidecar(modelPath: string): Promise<Sidecar> {
  const candidates = [`${modelPath}.json`, join(dirname(modelPath), `${basename(modelPath, extname(modelPath))}.json`)];
  const file = candidates.find((p) => existsSync(p));
  if (!file) return { preprocess: IMAGENET_PREPROCESS };
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ResnetServeError('MODEL_INVALID', `Sidecar ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new ResnetServeError('MODEL_INVALID', `Sidecar ${file} must be a JSON object, such as {"labels": "labels.txt"}`);
  // `model.onnx.json` is ours alone: a key we do not read is a typo. `model.json` may be shared with other tools
  // (TensorFlow.js names its models so): we read our keys and pass the others by.
  const unknown = Object.keys(json).filter((key) => !SIDECAR_KEYS.includes(key));
  if (file === candidates[0] && unknown.length) throw new ResnetServeError('MODEL_INVALID', `Sidecar ${file} has ${unknown.map((k) => JSON.stringify(k)).join(', ')}, which it cannot have; its keys are ${SIDECAR_KEYS.join(', ')}`);
  const posInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;
  const triple = (v: unknown): boolean => Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x));
  const names = (v: unknown): boolean => typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
  const inputSize = readJsonField<number>(json, 'input_size', posInt, 'a positive integer', file) ?? IMAGENET_PREPROCESS.cropSize;
  const resizeSize = readJsonField<number>(json, 'resize_size', posInt, 'a positive integer', file) ?? Math.round((inputSize * 256) / 224);
  const en = readLabels(readJsonField(json, 'labels', names, 'an array of names or a file path', file), dirname(file), file, 'labels');
  const zh = readLabels(readJsonField(json, 'labels_zh', names, 'an array of names or a file path', file), dirname(file), file, 'labels_zh');
  return {
    name: readJsonField<string>(json, 'name', (v) => typeof v === 'string' && v.length > 0, 'a non-empty string', file),
    preprocess: {
      cropSize: inputSize,
      resizeShortSide: resizeSize,
      mean: readJsonField<number[]>(json, 'mean', triple, 'an array of 3 numbers', file) ?? IMAGENET_PREPROCESS.mean,
      std: positiveStd(readJsonField<number[]>(json, 'std', triple, 'an array of 3 numbers', file), file) ?? IMAGENET_PREPROCESS.std,
    },
    labels: en ? { en, zh } : undefined,
  };
}

/** A sidecar's std, each number above 0 (normalising divides by it); the one that is not is named. */
function positiveStd(std: number[] | undefined, file: string): number[] | undefined {
  const bad = std?.findIndex((x) => !(x > 0)) ?? -1;
  if (std && bad >= 0) throw new ResnetServeError('MODEL_INVALID', `"std" in ${file} has ${std[bad]} at position ${bad + 1}: each of its 3 numbers must be above 0 (each channel is divided by it)`);
  return std;
}

function chooseLabels(sidecar: Sidecar, numClasses: number, source: string): LabelSet {
  if (sidecar.labels) {
    checkLabelSet(sidecar.labels, numClasses, `the labels in the sidecar of ${source}`);
    return sidecar.labels;
  }
  const labels = imagenetLabels();
  if (numClasses !== labels.en.length) {
    throw new ResnetServeError('MODEL_INVALID', `${source} has ${numClasses} classes, not ImageNet's 1000; give their names in a sidecar JSON ("labels": [...]) next to it`);
  }
  return labels;
}

/** The first bytes of a model file (to tell a zip checkpoint from ONNX) and its SHA-256. */
async function inspectModelFile(path: string, cacheDir: string): Promise<{ head: Buffer; sha256: string }> {
  try {
    const handle = await open(path, 'r');
    const head = Buffer.alloc(4);
    try {
      await handle.read(head, 0, 4, 0);
    } finally {
      await handle.close();
    }
    return { head, sha256: await cachedSha256(path, cacheDir) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ResnetServeError('MODEL_NOT_FOUND', `No model file at ${path}`);
    if (code === 'EISDIR') throw new ResnetServeError('INVALID_ARGUMENT', `${path} is a folder: a model is a .pth or .onnx file, or a name (${Object.keys(OFFICIAL_CHECKPOINTS).join(', ')})`);
    throw new ResnetServeError('IO_ERROR', `Cannot read model file ${path}: ${readFailure(err as NodeJS.ErrnoException)}`);
  }
}

/** Returns the path of an official checkpoint, downloading it if needed. */
async function officialCheckpoint(name: string, options: ModelOptions, cacheDir: string): Promise<string> {
  const fileName = OFFICIAL_CHECKPOINTS[name];
  const cached = findCachedCheckpoint(fileName, cacheDir);
  if (cached) return cached;
  const url = `${weightsBaseUrl()}/${fileName}`;
  // As the CLI reads on/off variables: RESNET_SERVE_OFFLINE=0 or false is not offline.
  const offline = options.offline ?? /^(1|true|yes|on)$/i.test((process.env.RESNET_SERVE_OFFLINE ?? '').trim());
  const dest = join(cacheDir, 'checkpoints', fileName);
  if (offline) throw new ResnetServeError('MODEL_NOT_FOUND', offlineInstructions(fileName, url, cacheDir, process.env, false));
  try {
    await downloadVerified(url, dest, hashPrefixOf(fileName) as string, options.onDownloadProgress);
  } catch (err) {
    if (err instanceof ResnetServeError && err.code === 'MODEL_NOT_FOUND') {
      throw new ResnetServeError('MODEL_NOT_FOUND', `${err.message}\n${offlineInstructions(fileName, url, cacheDir)}`, { cause: err });
    }
    if (err instanceof ResnetServeError) throw err;
    throw cacheWriteError(cacheDir, (err as Error).message, err);
  }
  return dest;
}

/**
 * A cached copy of official weights must be what its name says: torchvision
 * names each file after the first hex digits of its SHA-256.
 */
function checkOfficialHash(name: string, path: string, sha256: string): void {
  const fileName = OFFICIAL_CHECKPOINTS[name];
  const prefix = hashPrefixOf(fileName) as string;
  if (sha256.startsWith(prefix)) return;
  throw new ResnetServeError(
    'MODEL_CHECKSUM',
    `${path} is not torchvision's ${fileName}: its SHA-256 is ${sha256}, which does not begin with ${prefix}. ` +
      `Delete it and run again to download the official file, or pass it with --model if it is your own checkpoint.`,
  );
}

/** Where a model runs: in this thread or its own. */
export interface ModelPlacement {
  /** Open the session in a worker thread of its own (a server). */
  thread?: boolean;
  /**
   * Longest a user's ONNX graph may take to open and run once, in a child
   * process before it is loaded here (once per graph): a graph that never
   * finishes is refused instead of hanging start-up. Graphs we build
   * (checkpoints, int8) are not probed.
   */
  probeTimeoutMs?: number;
}

/** The keys of {@link ModelOptions}, for refusing a misspelt one (a record, so the compiler keeps it complete). */
export const MODEL_OPTION_KEYS = Object.keys({
  model: true,
  cacheDir: true,
  offline: true,
  threads: true,
  maxPixels: true,
  maxDecodeMs: true,
  preprocess: true,
  precision: true,
  calibrate: true,
  startupTimeoutMs: true,
  onQuantizeProgress: true,
  onDownloadProgress: true,
} satisfies Record<keyof ModelOptions, true>);

/**
 * Loads the model named by `options.model` (default: torchvision's
 * ResNet-18) and opens it in ONNX Runtime, in this thread or (with
 * `placement.thread`) in a worker thread of its own.
 */
export async function loadModel(options: ModelOptions = {}, placement: ModelPlacement = {}): Promise<LoadedModel> {
  const spec = options.model ?? 'resnet18';
  if (typeof spec !== 'string' || spec.length === 0) throw invalidArgument('model', 'a model name or a file path', spec);
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) throw invalidArgument('threads', 'a positive integer', options.threads);
  const precision = options.precision ?? 'fp32';
  if (precision !== 'fp32' && precision !== 'int8') throw invalidArgument('precision', 'fp32 or int8', precision);
  if (options.calibrate !== undefined && (typeof options.calibrate !== 'string' || precision !== 'int8')) throw invalidArgument('calibrate', 'a folder of photos, with precision int8', options.calibrate);
  if (options.cacheDir !== undefined && (typeof options.cacheDir !== 'string' || options.cacheDir === '')) throw invalidArgument('cacheDir', 'a folder path', options.cacheDir);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const official = Object.hasOwn(OFFICIAL_CHECKPOINTS, spec);
  const path = official ? await officialCheckpoint(spec, options, cacheDir) : resolve(spec);
  const { head, sha256 } = await inspectModelFile(path, cacheDir).catch((err: unknown) => {
    // `--model resnet19`: a mistyped name rather than a path.
    if (err instanceof ResnetServeError && err.code === 'MODEL_NOT_FOUND' && !/[\\/.]/.test(spec)) {
      throw new ResnetServeError('MODEL_NOT_FOUND', `${err.message}; the models known by name are ${Object.keys(OFFICIAL_CHECKPOINTS).join(', ')} (or give a .pth or .onnx file)`);
    }
    throw err;
  });
  if (official) checkOfficialHash(spec, path, sha256);
  const file = { path, head, sha256, official, precision, cacheDir };
  try {
    try {
      return await openModel(file, options, placement);
    } catch (err) {
      // A graph we cached that cannot be read (a disk filled up, a copy cut short): made again once, instead of failing every run.
      if (!namesCachedGraph(err, cacheDir)) throw err;
      await removeCachedGraphs(cacheDir, sha256);
      return await openModel(file, options, placement);
    }
  } catch (err) {
    throw cacheFolderError(err, cacheDir) ?? err;
  }
}

/** Whether `err` is about a file in the graph cache (`<cache>/onnx/`), as ONNX Runtime names the file it could not load (in `cause`, when our message names the user's model instead). */
function namesCachedGraph(err: unknown, cacheDir: string): boolean {
  const named = (e: unknown): boolean => e instanceof Error && e.message.includes(graphCacheOf(cacheDir));
  return err instanceof ResnetServeError && (named(err) || named(err.cause));
}

/** The folder of cached graphs, with its trailing separator: paths in it start with this. */
function graphCacheOf(cacheDir: string): string {
  return join(cacheDir, 'onnx') + '/';
}

/** Every graph and note cached for the model file of `sha256` (converted, prepared, int8, optimised): all can be made again. */
async function removeCachedGraphs(cacheDir: string, sha256: string): Promise<void> {
  const dir = join(cacheDir, 'onnx');
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(names.filter((n) => n.startsWith(`${sha256}-`)).map((n) => rm(join(dir, n), { force: true })));
}

/** loadModel's second half: the graph built or prepared, probed, quantised, optimised, then opened. */
async function openModel(
  file: { path: string; head: Buffer; sha256: string; official: boolean; precision: 'fp32' | 'int8'; cacheDir: string },
  options: ModelOptions,
  placement: ModelPlacement,
): Promise<LoadedModel> {
  const { path, head, sha256, official, precision, cacheDir } = file;
  const isZip = head.readUInt32LE(0) === 0x04034b50;
  const sidecar = official ? { preprocess: IMAGENET_PREPROCESS } : await readSidecar(path);

  let onnxPath: string;
  let name: string;
  let source: ModelInfo['source'];
  let missingOutputs: string | undefined;
  let quantizedSource = false;
  let probabilityOutputs: string[] = [];
  let externalData = false;
  let calibration: ModelCalibration | undefined;
  if (isZip) {
    const built = await checkpointToOnnx(path, sha256, cacheDir, path);
    onnxPath = built.onnxPath;
    name = sidecar.name ?? built.name;
    source = official ? 'torchvision' : 'checkpoint';
  } else if (extname(path).toLowerCase() === '.onnx' || head[0] === 0x08) {
    const { prepareUserOnnx } = await import('./prepare-onnx.js');
    const prepared = await prepareUserOnnx(path, sha256, cacheDir);
    onnxPath = prepared.onnxPath;
    missingOutputs = prepared.missing;
    quantizedSource = prepared.quantized === true;
    probabilityOutputs = prepared.probabilityOutputs ?? [];
    externalData = prepared.externalData === true;
    name = sidecar.name ?? basename(path, extname(path));
    source = 'onnx';
  } else {
    throw new ResnetServeError('MODEL_INVALID', `${path} is neither a PyTorch checkpoint (.pth, zip format) nor an ONNX model`);
  }
  // A user's own ONNX graph runs once in a child process first: one that never finishes or crashes ONNX Runtime is refused here.
  if (source === 'onnx') await probeModel(onnxPath, sha256, cacheDir, { inputSize: sidecar.preprocess.cropSize, timeoutMs: placement.probeTimeoutMs, label: path });
  // A model quantised already computes in int8: asked for int8, it runs as it is (only calibrating it again cannot be done).
  if (quantizedSource && options.calibrate !== undefined) {
    throw new ResnetServeError('INVALID_ARGUMENT', `calibrate: ${path} is already quantised, so it cannot be calibrated again (calibrating needs an fp32 model; without a calibration folder it runs in int8 as it is)`);
  }
  if (precision === 'int8' && !quantizedSource && externalData) {
    throw new ResnetServeError('MODEL_INVALID', `${path} cannot be quantised to int8: ${missingOutputs}`);
  }
  if (precision === 'int8' && !quantizedSource) {
    const { quantizedModel } = await import('./quantize/quantize.js');
    const quantized = await quantizedModel(onnxPath, {
      modelSha256: basename(onnxPath, '.onnx').startsWith(sha256) ? basename(onnxPath, '.onnx') : sha256,
      cacheDir,
      preprocess: sidecar.preprocess,
      calibrationDir: options.calibrate,
      label: path,
      onProgress: options.onQuantizeProgress,
    });
    onnxPath = quantized.path;
    calibration = { folder: options.calibrate === undefined ? null : resolve(options.calibrate), id: quantized.calibrationId };
  }
  // A server runs the session in a thread of its own (ONNX Runtime's Node binding blocks the calling thread).
  // A graph whose weights are in files beside it runs from where it is: a copy in the cache would not find them.
  const optimized = externalData ? null : await preoptimizedFor(onnxPath, sha256, cacheDir);
  const int8 = quantizedSource || precision === 'int8';
  const sessionOptions: SessionOptions = {
    threads: options.threads,
    inputSize: sidecar.preprocess.cropSize,
    label: path,
    preoptimized: optimized !== null,
    spin: !int8 ? 'always' : placement.thread ? 'never' : 'during-runs',
    classes: sidecar.labels?.en.length ?? imagenetLabels().en.length,
    probabilityOutputs,
  };
  const runPath = optimized ?? onnxPath;
  const session: ModelSession = await (placement.thread
    ? ThreadedSession.open(runPath, sessionOptions)
    : (await import('./session.js')).ClassifierSession.open(runPath, sessionOptions)
  ).catch((err: unknown) => {
    // Our optimised copy opened when it was made: if it no longer does (its weights file cut short or gone), it is a damaged cache entry.
    throw optimized && err instanceof ResnetServeError ? new ResnetServeError(err.code, err.message, { cause: new Error(`${optimized} could not be opened`) }) : err;
  });
  try {
    // What we built and cached is run once: a file of it damaged in place (same size, other bytes) gives scores that are not numbers.
    if (runPath.startsWith(graphCacheOf(cacheDir))) await checkFiniteScores(session, runPath, path);
    const labels = chooseLabels(sidecar, session.numClasses, path);
    return {
      session,
      preprocess: sidecar.preprocess,
      labels,
      info: { name, source, path, sha256, onnxPath, numClasses: session.numClasses, inputSize: session.inputSize, threads: session.threads, outputs: ['logits', ...session.extraOutputs], precision: int8 ? 'int8' : 'fp32', ...(calibration && { calibration }) },
      missingOutputs: session.extraOutputs.includes('embedding') ? undefined : (missingOutputs ?? 'its graph has no embedding output'),
    };
  } catch (err) {
    await session.release();
    throw err;
  }
}

/**
 * Runs `session` once on a fixed pattern and throws MODEL_INVALID (its cause
 * naming `runPath`, so a cached graph is made again once) when a score is
 * NaN or infinite: weights damaged in the cache, or in the model itself.
 */
async function checkFiniteScores(session: ModelSession, runPath: string, label: string): Promise<void> {
  const size = session.inputSize;
  const input = new Float32Array(3 * size * size);
  for (let i = 0; i < input.length; i++) input[i] = ((i * 7919) % 401) / 100 - 2;
  const { logits } = await session.run(input, 1);
  if (logits.data.every(Number.isFinite)) return;
  throw new ResnetServeError('MODEL_INVALID', `${label} gives scores that are not numbers (NaN or infinite) on a test image: its weights are damaged`, { cause: new Error(`${runPath} gives scores that are not numbers`) });
}
