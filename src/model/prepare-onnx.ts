/**
 * A user's ONNX classifier, prepared once: its embedding and feature map are
 * found by reading the graph (`model-outputs.ts`) and added as outputs; the
 * edited graph is cached as `<cache>/onnx/<sha256>-outputs-<version>.onnx`
 * beside a note of what was found, so later starts skip the reading (the
 * reading and editing run in a child process: `build-process.ts`).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs-atomic.js';
import { buildInChild, inBuildProcess } from './build-process.js';
import { hasExternalData, probabilityOutputs, withExtraOutputs, type ExtraOutput } from './model-outputs.js';
import { readGraph } from './onnx-graph.js';

/** Bumped when the editing changes, so older cached edits are not reused. */
const EDIT_VERSION = 3;

/** The file to run, the extra outputs it has, and why an embedding is missing (when it is). */
export interface PreparedOnnx {
  onnxPath: string;
  extraOutputs: ExtraOutput[];
  missing?: string;
  /** The graph is already quantised (QLinear*, QuantizeLinear, …): it computes in int8. */
  quantized?: boolean;
  /** Outputs that are a Softmax's already (probabilities, not logits). */
  probabilityOutputs?: string[];
  /** Its weights are in files beside it: it runs only from where it is, as it is. */
  externalData?: boolean;
}

/** What is cached beside the prepared graph. */
type PreparedNote = Omit<PreparedOnnx, 'onnxPath' | 'extraOutputs'> & { outputs: ExtraOutput[] };

const QUANTIZED_OPS = /^(QuantizeLinear|DequantizeLinear|QLinear|QGemm|MatMulInteger|ConvInteger|DynamicQuantize)/;

/** Prepares `path` (SHA-256 `sha256`); never fails: a graph it cannot read or edit is run as it is. */
export async function prepareUserOnnx(path: string, sha256: string, cacheDir: string): Promise<PreparedOnnx> {
  const base = join(cacheDir, 'onnx', `${sha256}-outputs-${EDIT_VERSION}`);
  try {
    const { outputs, ...note } = JSON.parse(await readFile(`${base}.json`, 'utf8')) as PreparedNote;
    if (!outputs.length) return { ...note, onnxPath: path, extraOutputs: [] };
    if (existsSync(`${base}.onnx`)) return { ...note, onnxPath: `${base}.onnx`, extraOutputs: outputs };
  } catch {
    // Not prepared yet (or a damaged note): read the graph below.
  }
  if (!inBuildProcess()) return buildInChild('user-onnx', [path, sha256, cacheDir], path);
  let prepared: PreparedOnnx;
  try {
    const bytes = await readFile(path);
    const graph = readGraph(bytes);
    const facts = { quantized: graph.nodes.some((n) => QUANTIZED_OPS.test(n.opType)), probabilityOutputs: probabilityOutputs(graph), externalData: hasExternalData(graph) };
    const edited = withExtraOutputs(bytes, graph);
    if (edited.bytes) {
      const saved = await writeFileAtomic(`${base}.onnx`, edited.bytes).then(
        () => null,
        (err: NodeJS.ErrnoException) => `the graph with those outputs could not be saved in the cache folder ${cacheDir} (${err.code ?? err.message})`,
      );
      prepared = saved ? { ...facts, onnxPath: path, extraOutputs: [], missing: saved } : { ...facts, onnxPath: `${base}.onnx`, extraOutputs: edited.outputs };
    } else {
      prepared = { ...facts, onnxPath: path, extraOutputs: [], missing: edited.reason };
    }
  } catch (err) {
    prepared = { onnxPath: path, extraOutputs: [], missing: `its graph could not be read (${(err as Error).message})` };
  }
  const { onnxPath: _path, extraOutputs, ...facts } = prepared;
  await writeFileAtomic(`${base}.json`, JSON.stringify({ ...facts, outputs: extraOutputs } satisfies PreparedNote)).catch(() => undefined);
  return prepared;
}
