/**
 * A PyTorch checkpoint as an ONNX graph, built once and cached as
 * `<cache>/onnx/<sha256>-g<version>.onnx` beside a note of its architecture.
 * The build (reading the weights, writing the graph) runs in a child process
 * (`build-process.ts`).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ResnetServeError } from '../errors.js';
import { cacheWriteError, writeFileAtomic } from '../fs-atomic.js';
import { buildInChild, inBuildProcess } from './build-process.js';

/** Bumped when the graph we build changes (2: embedding and feature map outputs), so older cached builds are not reused. */
const GRAPH_VERSION = 2;

/** Builds (or reuses from the cache) the ONNX graph of a checkpoint. */
export async function checkpointToOnnx(path: string, sha256: string, cacheDir: string, label: string): Promise<{ onnxPath: string; name: string; numClasses: number }> {
  const onnxPath = join(cacheDir, 'onnx', `${sha256}-g${GRAPH_VERSION}.onnx`);
  const metaPath = join(cacheDir, 'onnx', `${sha256}-g${GRAPH_VERSION}.json`);
  if (existsSync(onnxPath) && existsSync(metaPath)) {
    try {
      const meta = JSON.parse(await readFile(metaPath, 'utf8'));
      if (typeof meta.name === 'string' && Number.isInteger(meta.numClasses)) return { onnxPath, name: meta.name, numClasses: meta.numClasses };
    } catch {
      // A damaged cache entry is rebuilt below.
    }
  }
  if (!inBuildProcess()) return buildInChild('checkpoint', [path, sha256, cacheDir, label], label);
  // Reading checkpoints and writing graphs (protobufjs among them) is loaded only when a graph is built, not at every start.
  const [{ readCheckpoint }, { buildResnetGraph, checkResnetShapes }, { encodeOnnxModel }] = await Promise.all([import('./pth.js'), import('./resnet-graph.js'), import('./onnx-proto.js')]);
  let built;
  try {
    built = buildResnetGraph(await readCheckpoint(await readFile(path), { checkShapes: checkResnetShapes }));
  } catch (err) {
    if (err instanceof ResnetServeError) throw new ResnetServeError(err.code, `${label}: ${err.message}`, { cause: err });
    throw err;
  }
  try {
    await writeFileAtomic(onnxPath, encodeOnnxModel(built.spec));
    await writeFileAtomic(metaPath, JSON.stringify({ name: built.architecture.name, numClasses: built.architecture.numClasses, blocks: built.architecture.blocks }));
  } catch (err) {
    throw cacheWriteError(cacheDir, (err as Error).message, err);
  }
  return { onnxPath, name: built.architecture.name, numClasses: built.architecture.numClasses };
}
