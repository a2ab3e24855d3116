/**
 * ONNX Runtime optimises a graph each time a session opens (constant
 * folding, Conv+BatchNorm+Relu fusion, NCHWc layouts, QDQ fusion into
 * QLinearConv) and, while doing so, holds the original and the optimised
 * weights at once: opening the fp32 ResNet-18 left ~100 MB more resident
 * than opening the same graph already optimised (docs/performance.md, Memory). So the
 * optimised graph is written once into the cache and later sessions open
 * it with optimisations off.
 *
 * Its weights are written to a file of their own beside it, which ONNX
 * Runtime maps into memory when a session opens instead of parsing and
 * copying them out of the graph: the fp32 ResNet-18 opens in about 35 ms
 * instead of 140–300, and the pages are the page cache's, shared by every
 * process that opens the model (docs/performance.md, Start-up). The weights
 * file's name is unique to the build that wrote it and recorded in the
 * graph, so a build never rewrites a file another process has mapped; the
 * graph is renamed into place last, so it never names weights not yet
 * written whole.
 *
 * The optimised graph may use kernels and layouts of this CPU, so the file
 * is named after ONNX Runtime's version and the CPU's model and flags: a
 * cache moved to another machine is optimised again, never misused. Written
 * by a child process (`build-process.ts`), whose memory goes when it exits.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { ORT_VERSION } from './ort-version.js';
import { removedAtExit, removeOrphanedTemps } from '../fs-atomic.js';
import { buildInChild, inBuildProcess } from './build-process.js';

let flagsLineCache: string | undefined;

/** The flags line of `cpuinfo` as written (default: this machine's `/proc/cpuinfo`, read once; empty where it cannot be read). */
function flagsLine(cpuinfo?: string): string {
  const line = (text: string): string => text.match(/^flags\s*:(.*)$/m)?.[1].trim() ?? '';
  if (cpuinfo !== undefined) return line(cpuinfo);
  if (flagsLineCache === undefined) {
    try {
      flagsLineCache = line(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      // Not Linux: the model name and architecture still separate machines well enough.
      flagsLineCache = '';
    }
  }
  return flagsLineCache;
}

/** The CPU's feature flags from `cpuinfo` (default: this machine's; none where it cannot be read). */
export function cpuFlags(cpuinfo?: string): string[] {
  return flagsLine(cpuinfo).split(/\s+/).filter(Boolean);
}

/** The optimised graph's layout: 2, its weights in a file beside it (1, the weights inside, is never read again). */
const OPTIMIZED_FORMAT = 2;

/** Weights of at least this many bytes go to the weights file; smaller ones (biases of a few channels) stay in the graph. */
const MAPPED_MIN_BYTES = 1024;

/** Weights of the graph being made that are older than this are no build's: a build writes them in seconds. */
const WEIGHTS_OF_A_LIVE_BUILD_MS = 10 * 60 * 1000;

let cpuKeyCache: string | undefined;

/** A short name for this CPU and ONNX Runtime build. */
function cpuKey(): string {
  cpuKeyCache ??= createHash('sha256').update(`${ORT_VERSION}|${process.arch}|${cpus()[0]?.model ?? ''}|${flagsLine()}`).digest('hex').slice(0, 12);
  return cpuKeyCache;
}

/**
 * The path of `onnxPath` optimised for this machine (made now when missing),
 * `stem` naming it in `<cacheDir>/onnx`; null when ONNX Runtime cannot write
 * it or open what it wrote (the caller then opens the original with
 * optimisations on).
 */
export async function preoptimizedModel(onnxPath: string, cacheDir: string, stem = basename(onnxPath, '.onnx')): Promise<string | null> {
  const out = join(cacheDir, 'onnx', `${stem}-opt${OPTIMIZED_FORMAT}-${cpuKey()}.onnx`);
  if (existsSync(out)) return out;
  if (!inBuildProcess()) return buildInChild<string | null>('optimise', [onnxPath, cacheDir, stem], onnxPath).catch(() => null);
  const dir = dirname(out);
  const partial = `${out}.${process.pid}.tmp.onnx`;
  const weightsName = `${basename(out, '.onnx')}.${randomBytes(4).toString('hex')}.weights`;
  const weights = join(dir, weightsName);
  // What a build that never finished left: its graph; and weights no graph names now (this graph is being made
  // because it is missing or damaged), but for a build of the same graph running beside this one (minutes at most).
  await removeOrphanedTemps(dir, '', '.tmp.onnx');
  await removeOrphanedTemps(dir, basename(out, '.onnx'), '.weights', WEIGHTS_OF_A_LIVE_BUILD_MS);
  const written = [removedAtExit(partial), removedAtExit(weights)];
  const fail = async (): Promise<null> => {
    await Promise.all([rm(partial, { force: true }), rm(weights, { force: true })]);
    return null;
  };
  try {
    const { default: ort } = await import('./ort.js');
    const session = await ort.InferenceSession.create(onnxPath, {
      graphOptimizationLevel: 'all',
      optimizedModelFilePath: partial,
      enableCpuMemArena: false,
      logSeverityLevel: 3,
      extra: { session: { optimized_model_external_initializers_file_name: weightsName, optimized_model_external_initializers_min_size_in_bytes: String(MAPPED_MIN_BYTES) } },
    });
    await session.release();
    // Opened once as sessions will open it: a folder where its weights cannot be mapped gives no optimised graph, not a model that never opens.
    await (await ort.InferenceSession.create(partial, { graphOptimizationLevel: 'disabled', enableCpuMemArena: false, logSeverityLevel: 3 })).release();
    // Another process finished the same build first: its graph and weights stand, these go.
    if (existsSync(out)) {
      await fail();
      return out;
    }
    await rename(partial, out);
    // The same graph in the layout before, its weights inside: never read again.
    await rm(join(dir, `${stem}-opt-${cpuKey()}.onnx`), { force: true });
    return out;
  } catch {
    return fail();
  } finally {
    for (const done of written) done();
  }
}

/** The optimised graph of a model as sessions open it: named after the model's SHA-256 (null as above). */
export function preoptimizedFor(onnxPath: string, sha256: string, cacheDir: string): Promise<string | null> {
  const stem = basename(onnxPath, '.onnx');
  return preoptimizedModel(onnxPath, cacheDir, stem.startsWith(sha256) ? stem : sha256);
}
