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
 * photos, the settings and this code's version. Here: the photos found and
 * the cache looked up; the build (`quantize-build.ts`) runs in a child
 * process (`../build-process.ts`).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ResnetServeError } from '../../errors.js';
import { IMAGE_EXTENSIONS } from '../../image/formats.js';
import { photoFileHead, refuseUnlessPhotoFile } from '../../image/read-photo.js';
import type { CalibrationProgress } from '../../types.js';
import type { PreprocessConfig } from '../../image/preprocess-config.js';
import { cachedSha256s } from '../file-hash.js';
import { readFailure } from '../../fs-atomic.js';
import type { PlanOptions } from './qdq-plan.js';
import { buildInChild } from '../build-process.js';
import { cpuFlags } from '../preoptimize.js';

/** Bumped when the quantised graph changes, so older cached ones are not reused. */
const QUANTIZE_VERSION = 2;

/**
 * Most photos calibrated on; a larger folder gives this many, evenly spread
 * over its sorted list. Min/max ranges settle within a few dozen photos (the
 * built-in set has 24); 3,000 photos took 137 s, for nothing.
 */
export const MAX_CALIBRATION_PHOTOS = 256;

/** The calibration photos shipped with the project (CC0 / public domain; see `data/calibration/README.md`). */
export const BUILTIN_CALIBRATION = new URL('../../../data/calibration/', import.meta.url).pathname;

/** How to quantise. */
export interface QuantizeSettings extends PlanOptions {
  /** 7-bit weights, for u8×s8 kernels on CPUs without VNNI. */
  reduceRange: boolean;
}

/**
 * Whether the CPU has an int8 dot-product instruction (x86's AVX-512 VNNI or
 * AVX-VNNI), from the flags of `cpuinfo` (default: this machine's; see
 * `cpuFlags`).
 */
export function cpuHasVnni(cpuinfo?: string): boolean {
  const flags = cpuFlags(cpuinfo);
  return flags.includes('avx512_vnni') || flags.includes('avx_vnni');
}

/**
 * What we chose, measured on a real ResNet-50 and on ResNet-18
 * (docs/performance.md, fp32 and int8): 7-bit weights everywhere, the first
 * convolution quantised too, and run over the image's 2×2 blocks only where
 * the CPU has VNNI (twice as fast there; without VNNI ONNX Runtime's kernel
 * for so few channels per position is slower than its fallback). The
 * answers are the same bit for bit either way.
 */
export function defaultQuantizeSettings(vnni = cpuHasVnni()): QuantizeSettings {
  return { keepFirstConv: false, reduceRange: true, spaceToDepth: vnni };
}

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
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    await walk(dir);
  } catch (err) {
    throw new ResnetServeError('INVALID_ARGUMENT', `calibrate: ${dir} cannot be read as a folder of photos: ${readFailure(err as NodeJS.ErrnoException, 'folder')}`);
  }
  if (!files.length && passedBy) throw noneReadable(dir, passedBy);
  if (!files.length) throw new ResnetServeError('INVALID_ARGUMENT', `calibrate: ${dir} has no photos (.jpg, .png, .webp, .tif, …)`);
  return { files: files.sort(), passedBy };
}

/**
 * The error for a calibration folder where no photo can be read: its `named`
 * files named as photos, or `chosen` photos picked from that many.
 */
export function noneReadable(dir: string, named: number, chosen = named): ResnetServeError {
  const which = chosen < named ? `none of the ${chosen} photos chosen from the ${named} named as photos` : named === 1 ? 'the one file named as a photo' : `none of the ${named} files named as photos`;
  return new ResnetServeError('INVALID_ARGUMENT', `calibrate: ${which} in ${dir} ${named === 1 ? 'is not' : 'is'} an image this process can read`);
}

/** At most `max` of `files`, evenly spread (all of them when they are fewer). */
export function evenlySpread<T>(files: readonly T[], max: number): T[] {
  if (files.length <= max) return [...files];
  return Array.from({ length: max }, (_, i) => files[Math.floor((i * files.length) / max)]);
}

/** An int8 graph and what names its calibration. */
export interface QuantizedModel {
  path: string;
  /** 16 hex digits naming the calibration photos' contents and the quantiser's settings that change its answers: two graphs of one model with the same id give the same answers. */
  calibrationId: string;
}

/**
 * The int8 version of the fp32 model at `fp32Path`: from the cache when it
 * was made before with the same photos and settings, else made now.
 * Throws MODEL_INVALID for a graph that cannot be quantised.
 */
export async function quantizedModel(fp32Path: string, options: QuantizeOptions): Promise<QuantizedModel> {
  const settings = options.settings ?? defaultQuantizeSettings();
  const label = options.label ?? fp32Path;
  const dir = options.calibrationDir ?? BUILTIN_CALIBRATION;
  const { files: found, passedBy } = await calibrationFiles(dir);
  const files = evenlySpread(found, MAX_CALIBRATION_PHOTOS);
  // The photos' hashes are remembered by size and time (file-hash.ts): a cached model is found without reading them.
  const hashes = await cachedSha256s(files, options.cacheDir);
  const digest = (of: object): string => {
    const hash = createHash('sha256').update(JSON.stringify({ version: QUANTIZE_VERSION, settings: of, size: options.preprocess }));
    for (const h of hashes) hash.update(h);
    return hash.digest('hex').slice(0, 16);
  };
  // The graph is cached by every setting; the answers' id leaves out the first convolution's layout, whose answers are the same bit for bit (a library tagged on a CPU with VNNI is not classified again on one without).
  const { spaceToDepth, ...answering } = settings;
  const calibrationId = digest(answering);
  const base = join(options.cacheDir, 'onnx', `${options.modelSha256}-int8-${digest(settings)}`);
  if (existsSync(`${base}.onnx`)) return { path: `${base}.onnx`, calibrationId };
  // Built in a child process, on the photos found here (a large folder is not walked twice).
  const { onProgress, ...sent } = options;
  await buildInChild('int8', [fp32Path, base, files, { ...sent, settings, label, dir, found: found.length, passedBy }], label, onProgress);
  return { path: `${base}.onnx`, calibrationId };
}
