/**
 * Finds, in a classifier's graph, the tensors behind its answer:
 * - the **embedding**, the input of the final classifier layer (the last
 *   `Gemm`/`MatMul`, or `QLinearMatMul`/`QGemm` in a quantised model, where
 *   it is dequantised);
 * - the **feature map**, the input of the global average pooling that feeds
 *   the embedding (`GlobalAveragePool`, `ReduceMean` over H and W, or
 *   `QLinearGlobalAveragePool`), for class activation maps;
 * - the final layer's **weights**, to weight that map.
 * Tracing goes backwards from the graph's outputs (the first that leads to a
 * final layer) through operators that only reshape, cast, (de)quantise or add
 * a bias. `withExtraOutputs` adds the two tensors as float32 outputs named
 * `embedding` and `feature_map`. `probabilityOutputs` names the outputs that
 * are a Softmax's already, so that nothing applies softmax to them again.
 */
import { addOutputs, initializerFloats, type GraphInfo, type NodeInfo } from './onnx-graph.js';
import type { GraphNode } from './onnx-proto.js';
import { readVarint } from './protobuf-wire.js';

/** The outputs a classifier session may offer besides its logits. */
export type ExtraOutput = 'embedding' | 'feature_map';

/** A tensor of the graph, with how to dequantise it when it is quantised. */
export interface LocatedTensor {
  tensor: string;
  dequantize?: { scale: string; zeroPoint: string };
}

/** What tracing found, and why not where it found nothing. */
export interface LocatedOutputs {
  embedding: LocatedTensor | null;
  featureMap: LocatedTensor | null;
  /** The classifier node (for its weights). */
  classifier: NodeInfo | null;
  /** The graph output traced back to it (the answer). */
  output?: string;
  /** Why the embedding could not be found (when it could not). */
  reason?: string;
}

/** Operators a trace may pass through: they reshape, cast, (de)quantise or add a constant. */
const PASS_THROUGH = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Cast', 'DequantizeLinear', 'QuantizeLinear', 'Add', 'QLinearAdd', 'Softmax', 'LogSoftmax', 'Dropout']);

function producers(graph: GraphInfo): Map<string, NodeInfo> {
  const map = new Map<string, NodeInfo>();
  for (const n of graph.nodes) for (const o of n.outputs) map.set(o, n);
  return map;
}

/** True for a tensor that does not depend on the input: an initializer or a Constant node's output (through casts). */
function isConstant(name: string, graph: GraphInfo, made: Map<string, NodeInfo>): boolean {
  for (let i = 0; i < 8; i++) {
    if (graph.initializers.has(name)) return true;
    const node = made.get(name);
    if (!node) return false;
    if (node.opType === 'Constant') return true;
    if (!['Cast', 'Identity', 'DequantizeLinear'].includes(node.opType)) return false;
    name = node.inputs[0];
  }
  return false;
}

/** The one input of a pass-through node that carries the activation (others must be constants). */
function activationInput(node: NodeInfo, graph: GraphInfo, made: Map<string, NodeInfo>): string | null {
  const candidates = node.opType === 'QLinearAdd' ? [node.inputs[0], node.inputs[3]] : node.opType === 'Reshape' ? [node.inputs[0]] : node.inputs.filter(Boolean);
  const live = candidates.filter((n) => n && !isConstant(n, graph, made));
  return live.length === 1 ? live[0] : null;
}

/** Traces the graph of a classifier; see the module header. */
export function locateOutputs(graph: GraphInfo): LocatedOutputs {
  const made = producers(graph);
  // A model may give its features before its logits: the first output that leads to a final layer is the answer.
  for (const output of graph.outputs) {
    const located = locateFrom(output, graph, made);
    if (located.classifier) return located;
  }
  return locateFrom(graph.outputs[0], graph, made);
}

function locateFrom(output: string, graph: GraphInfo, made: Map<string, NodeInfo>): LocatedOutputs {
  let name = output;
  let classifier: NodeInfo | null = null;
  for (let step = 0; step < 32 && name; step++) {
    const node = made.get(name);
    if (!node) break;
    if (node.opType === 'Gemm' || node.opType === 'MatMul' || node.opType === 'QLinearMatMul' || node.opType === 'QGemm') {
      classifier = node;
      break;
    }
    if (!PASS_THROUGH.has(node.opType)) break;
    const next = activationInput(node, graph, made);
    if (!next) break;
    name = next;
  }
  if (!classifier) {
    return { embedding: null, featureMap: null, classifier: null, reason: 'its output does not come from a final Gemm or MatMul layer' };
  }
  const quantized = classifier.opType === 'QLinearMatMul' || classifier.opType === 'QGemm';
  const input = classifier.inputs[0];
  if (isConstant(input, graph, made)) return { embedding: null, featureMap: null, classifier: null, reason: 'its final layer has no activation input' };
  const embedding: LocatedTensor = quantized ? { tensor: input, dequantize: { scale: classifier.inputs[1], zeroPoint: classifier.inputs[2] } } : { tensor: input };
  return { embedding, featureMap: locateFeatureMap(input, graph, made), classifier, output };
}

function locateFeatureMap(start: string, graph: GraphInfo, made: Map<string, NodeInfo>): LocatedTensor | null {
  let name = start;
  for (let step = 0; step < 16; step++) {
    const node = made.get(name);
    if (!node) return null;
    if (node.opType === 'GlobalAveragePool') return { tensor: node.inputs[0] };
    if (node.opType === 'ReduceMean') {
      // An attribute up to opset 17, the second input since opset 18.
      const axes = node.ints.axes ?? (node.inputs[1] ? (int64Values(node.inputs[1], graph) ?? []) : []);
      const spatial = axes.length === 2 && axes.every((a) => [2, 3, -1, -2].includes(a)) && new Set(axes.map((a) => (a < 0 ? a + 4 : a))).size === 2;
      return spatial ? { tensor: node.inputs[0] } : null;
    }
    if (node.opType === 'QLinearGlobalAveragePool') {
      if (node.int.channels_last) return null;
      return { tensor: node.inputs[0], dequantize: { scale: node.inputs[1], zeroPoint: node.inputs[2] } };
    }
    if (!['Identity', 'Reshape', 'Flatten', 'Squeeze', 'DequantizeLinear', 'QuantizeLinear', 'Cast'].includes(node.opType)) return null;
    const next = activationInput(node, graph, made);
    if (!next) return null;
    name = next;
  }
  return null;
}

/** The ONNX data type float32, for `Cast`'s `to`. */
const FLOAT32 = 1;

function exposeNode(located: LocatedTensor, output: ExtraOutput): GraphNode {
  if (located.dequantize) return { op: 'DequantizeLinear', inputs: [located.tensor, located.dequantize.scale, located.dequantize.zeroPoint], outputs: [output] };
  // A Cast rather than an Identity: the outputs are declared float32, and a float16 model's tensors are not (float32 to float32 costs nothing).
  return { op: 'Cast', inputs: [located.tensor], outputs: [output], attributes: { to: FLOAT32 } };
}

/** An int64 initializer's values (raw little-endian bytes, as exporters write them), or null. */
function int64Values(name: string, graph: GraphInfo): number[] | null {
  const init = graph.initializers.get(name);
  if (!init || init.dataType !== 7 || init.storage !== 9) return null;
  const view = new DataView(init.bytes.buffer, init.bytes.byteOffset, init.bytes.byteLength);
  return Array.from({ length: init.bytes.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
}

/** Operators between a Softmax and a graph output that leave its values probabilities. */
const KEEPS_VALUES = new Set(['Identity', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Cast', 'Dropout']);

/** The graph's outputs that are probabilities already: a Softmax's output, reached through reshapes and casts. */
export function probabilityOutputs(graph: GraphInfo): string[] {
  const made = producers(graph);
  return graph.outputs.filter((output) => {
    let name = output;
    for (let step = 0; step < 8; step++) {
      const node = made.get(name);
      if (!node) return false;
      if (node.opType === 'Softmax') return true;
      if (!KEEPS_VALUES.has(node.opType)) return false;
      name = node.inputs[0];
    }
    return false;
  });
}

/**
 * The model with `embedding` (and `feature_map` where found) added as
 * outputs, or null when no embedding can be found (with the reason).
 */
export function withExtraOutputs(model: Uint8Array, graph: GraphInfo): { bytes: Uint8Array; outputs: ExtraOutput[] } | { bytes: null; reason: string } {
  if (hasExternalData(graph)) return { bytes: null, reason: EXTERNAL_DATA_REASON };
  const located = locateOutputs(graph);
  const answer = located.output ?? graph.outputs[0];
  if (answer === 'embedding' || answer === 'feature_map') {
    return { bytes: null, reason: `its output is named ${answer}, the name resnet-serve gives the output it adds: export it with another output name (torch.onnx.export(..., output_names=["logits"]))` };
  }
  if (!located.embedding) return { bytes: null, reason: located.reason ?? 'no embedding found' };
  // An output the model names so itself (its own embedding) is kept as it is; only what is missing is added.
  const own = (name: ExtraOutput): boolean => graph.outputs.includes(name);
  const added: [LocatedTensor, ExtraOutput][] = [];
  if (!own('embedding')) added.push([located.embedding, 'embedding']);
  if (located.featureMap && !own('feature_map')) added.push([located.featureMap, 'feature_map']);
  const outputs = (['embedding', 'feature_map'] as const).filter((name) => own(name) || added.some(([, n]) => n === name));
  const dims = (name: ExtraOutput): string[] => (name === 'embedding' ? ['N', 'D'] : ['N', 'C', 'H', 'W']);
  return { bytes: addOutputs(model, added.map(([t, name]) => exposeNode(t, name)), added.map(([, name]) => ({ name, dims: dims(name) }))), outputs };
}

/** Whether the graph keeps weights in files beside it (`.onnx.data`). */
export function hasExternalData(graph: GraphInfo): boolean {
  return [...graph.initializers.values()].some((i) => i.storage === -1);
}

/** Why a model with external weights gets no embedding, heatmaps or int8, and what to do. */
export const EXTERNAL_DATA_REASON =
  'its weights are in a separate file (external data, such as model.onnx.data); save them inside the .onnx to get embeddings, heatmaps, heads and int8 (onnx.save_model(model, path) without save_as_external_data, or torch.onnx.export(..., external_data=False); models under 2 GB)';

/** A constant tensor's float values, following Cast/Identity/DequantizeLinear back to its initializer(s). */
function constantFloats(name: string, graph: GraphInfo, made: Map<string, NodeInfo>): Float32Array | null {
  const init = graph.initializers.get(name);
  if (init) return initializerFloats(init);
  const node = made.get(name);
  if (!node) return null;
  if (node.opType === 'Cast' || node.opType === 'Identity') return constantFloats(node.inputs[0], graph, made);
  return null;
}

/** An 8-bit integer initializer's values (raw bytes, or the int32_data varints ONNX also allows). */
function intValues(name: string, graph: GraphInfo): { values: Float32Array; dims: number[] } | null {
  const init = graph.initializers.get(name);
  if (!init || (init.dataType !== 2 && init.dataType !== 3)) return null;
  const { bytes, dataType, dims, storage } = init;
  if (storage === 5) {
    const values: number[] = [];
    for (let pos = 0; pos < bytes.length; ) {
      const [v, next] = readVarint(bytes, pos);
      values.push(v);
      pos = next;
    }
    return { values: Float32Array.from(values), dims };
  }
  if (storage !== 9) return null;
  if (dataType === 2) return { values: Float32Array.from(bytes), dims };
  return { values: Float32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)), dims };
}

/**
 * The final layer's weights as `[classes][dim]` (row c weights class c), read
 * from the classifier node's constant input, dequantised where needed; null
 * when they are not plain constants.
 */
export function classifierWeights(graph: GraphInfo, classifier: NodeInfo): { weights: Float32Array; classes: number; dim: number } | null {
  const made = producers(graph);
  if (classifier.opType === 'QLinearMatMul') {
    const b = intValues(classifier.inputs[3], graph);
    const scale = constantFloats(classifier.inputs[4], graph, made);
    const zero = intValues(classifier.inputs[5], graph);
    if (!b || !scale || !zero || b.dims.length !== 2) return null;
    const [dim, classes] = b.dims;
    const weights = new Float32Array(classes * dim);
    for (let k = 0; k < dim; k++) {
      for (let c = 0; c < classes; c++) {
        const s = scale.length === 1 ? scale[0] : scale[c];
        const z = zero.values.length === 1 ? zero.values[0] : zero.values[c];
        weights[c * dim + k] = (b.values[k * classes + c] - z) * s;
      }
    }
    return { weights, classes, dim };
  }
  if (classifier.opType !== 'Gemm' && classifier.opType !== 'MatMul') return null;
  const name = classifier.inputs[1];
  const values = constantFloats(name, graph, made);
  const dims = graph.initializers.get(name)?.dims ?? initializerDimsThroughCasts(name, graph, made);
  if (!values || !dims || dims.length !== 2) return null;
  const transposed = classifier.opType === 'Gemm' && classifier.int.transB === 1;
  const [rows, cols] = dims;
  const classes = transposed ? rows : cols;
  const dim = transposed ? cols : rows;
  if (transposed) return { weights: values, classes, dim };
  const weights = new Float32Array(classes * dim);
  for (let k = 0; k < dim; k++) for (let c = 0; c < classes; c++) weights[c * dim + k] = values[k * classes + c];
  return { weights, classes, dim };
}

function initializerDimsThroughCasts(name: string, graph: GraphInfo, made: Map<string, NodeInfo>): number[] | null {
  for (let i = 0; i < 8; i++) {
    const init = graph.initializers.get(name);
    if (init) return init.dims;
    const node = made.get(name);
    if (!node || !['Cast', 'Identity'].includes(node.opType)) return null;
    name = node.inputs[0];
  }
  return null;
}
