/**
 * ONNX Runtime optimises a graph each time a session opens (constant
 * folding, Conv+BatchNorm+Relu fusion, NCHWc layouts, QDQ fusion into
 * QLinearConv) and, while doing so, holds the original and the optimised
 * weights at once: opening the fp32 ResNet-18 left ~100 MB more resident
 * than opening the same graph already optimised (docs/performance.md, Memory). So the
 * optimised graph is written once into the cache and later sessions open
 * it with optimisations off.
 *
 * The optimised graph may use kernels and layouts of this CPU, so the file
 * is named after ONNX Runtime's version and the CPU's model and flags: a
 * cache moved to another machine is optimised again, never misused. Written
 * by a child process (`build-process.ts`), whose memory goes when it exits.
 */
import { createHash } from 'node:crypto';
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

let cpuKeyCache: string | undefined;

/** A short name for this CPU and ONNX Runtime build. */
function cpuKey(): string {
  cpuKeyCache ??= createHash('sha256').update(`${ORT_VERSION}|${process.arch}|${cpus()[0]?.model ?? ''}|${flagsLine()}`).digest('hex').slice(0, 12);
  return cpuKeyCache;
}

/**
 * The path of `onnxPath` optimised for this machine (made now when missing),
 * `stem` naming it in `<cacheDir>/onnx`; null when ONNX Runtime cannot write
 * it (the caller then opens the original with optimisations on).
 */
export async function preoptimizedModel(onnxPath: string, cacheDir: string, stem = basename(onnxPath, '.onnx')): Promise<string | null> {
  const out = join(cacheDir, 'onnx', `${stem}-opt-${cpuKey()}.onnx`);
  if (existsSync(out)) return out;
  if (!inBuildProcess()) return buildInChild<string | null>('optimise', [onnxPath, cacheDir, stem], onnxPath).catch(() => null);
  const partial = `${out}.${process.pid}.tmp.onnx`;
  await removeOrphanedTemps(dirname(out), '', '.tmp.onnx');
  const written = removedAtExit(partial);
  try {
    const { default: ort } = await import('./ort.js');
    const session = await ort.InferenceSession.create(onnxPath, { graphOptimizationLevel: 'all', optimizedModelFilePath: partial, enableCpuMemArena: false, logSeverityLevel: 3 });
    await session.release();
    await rename(partial, out);
    return out;
  } catch {
    await rm(partial, { force: true });
    return null;
  } finally {
    written();
  }
}

/** The optimised graph of a model as sessions open it: named after the model's SHA-256 (null as above). */
export function preoptimizedFor(onnxPath: string, sha256: string, cacheDir: string): Promise<string | null> {
  const stem = basename(onnxPath, '.onnx');
  return preoptimizedModel(onnxPath, cacheDir, stem.startsWith(sha256) ? stem : sha256);
}
