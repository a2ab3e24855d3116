/**
 * Writes the QDQ model: the fp32 graph's bytes with int8 weights in place of
 * the planned convolutions' float ones, QuantizeLinear/DequantizeLinear
 * pairs after each planned activation, and the consumers of those
 * activations reading the dequantised copy. A convolution planned over its
 * input's 2×2 blocks reads them through `Pad` (with the zero point) and
 * `SpaceToDepth` on the uint8 copy, with its weights regrouped to match.
 * Every other byte (nodes, attributes, value infos, metadata) is copied as
 * it was.
 */
import type { GraphInfo } from '../onnx-graph.js';
import { initializerFloats } from '../onnx-graph.js';
import { encodeNode, encodeTensor, type GraphNode, type Initializer } from '../onnx-proto.js';
import { LENGTH_DELIMITED, lengthDelimited, readFields, text } from '../protobuf-wire.js';
import { quantizeBias, quantizeChannels, type ActivationParams } from './qdq-params.js';
import type { QdqPlan } from './qdq-plan.js';
import { spaceToDepthWeights } from './space-to-depth.js';

const MODEL_GRAPH = 7;
const GRAPH = { node: 1, initializer: 5 };
const NODE_INPUT = 1;
const TENSOR_NAME = 8;

/** Weight settings. */
export interface WriteOptions {
  /** 7-bit weights (see `quantizeChannels`). */
  reduceRange: boolean;
}

function scalar(name: string, value: number, type: 'float' | 'uint8' | 'int8' | 'int32'): Initializer {
  const data = type === 'float' ? Float32Array.of(value) : type === 'uint8' ? Uint8Array.of(value) : type === 'int8' ? Int8Array.of(value) : Int32Array.of(value);
  return { name, dims: [], data: data as Initializer['data'], type };
}

/** Re-encodes a NodeProto with some input names replaced. */
function renameInputs(buf: Uint8Array, start: number, end: number, rename: Map<string, string>): Uint8Array | null {
  const parts: Uint8Array[] = [];
  let changed = false;
  for (const f of readFields(buf, start, end)) {
    const name = f.field === NODE_INPUT && f.wire === LENGTH_DELIMITED ? rename.get(text(buf, f)) : undefined;
    if (name !== undefined) {
      parts.push(lengthDelimited(NODE_INPUT, Buffer.from(name, 'utf8')));
      changed = true;
    } else parts.push(buf.subarray(f.tagStart, f.end));
  }
  return changed ? Buffer.concat(parts) : null;
}

/**
 * The int8 model: `model` (the bytes `graph` was read from) with `plan`
 * applied, activations quantised with `params` (one entry per planned
 * activation).
 */
export function writeQdqModel(model: Uint8Array, graph: GraphInfo, plan: QdqPlan, params: Map<string, ActivationParams>, options: WriteOptions): Uint8Array {
  const newInits: Initializer[] = [];
  const weightNodes: GraphNode[] = [];
  const afterTensor = new Map<string, GraphNode[]>();
  const rename = new Map<string, string>();
  const qdqNames = new Map<string, string>();

  const paramsOf = (t: string): ActivationParams => {
    const p = params.get(plan.shared.get(t) ?? t);
    if (!p) throw new Error(`no calibrated range for ${t}`);
    return p;
  };
  const paramNames = (t: string): [string, string] => {
    const source = plan.shared.get(t) ?? t;
    const base = qdqNames.get(source);
    if (base) return [`${base}_scale`, `${base}_zp`];
    const name = `rs_q${qdqNames.size}`;
    qdqNames.set(source, name);
    const p = paramsOf(source);
    newInits.push(scalar(`${name}_scale`, p.scale, 'float'), scalar(`${name}_zp`, p.zeroPoint, 'uint8'));
    return [`${name}_scale`, `${name}_zp`];
  };
  for (const t of [...plan.activations, ...plan.shared.keys()]) {
    const [scale, zp] = paramNames(t);
    const dq = `${t}__dq`;
    rename.set(t, dq);
    const nodes = afterTensor.get(t) ?? [];
    nodes.push({ op: 'QuantizeLinear', inputs: [t, scale, zp], outputs: [`${t}__q`] }, { op: 'DequantizeLinear', inputs: [`${t}__q`, scale, zp], outputs: [dq] });
    afterTensor.set(t, nodes);
  }

  // Consumers of a quantised activation read its DQ copy; a weight's consumer reads its own DQ output.
  const convRenames = new Map<number, Map<string, string>>();
  const rewrittenConvs = new Map<number, GraphNode>();
  plan.convs.forEach((conv, k) => {
    const w = graph.initializers.get(conv.weight)!;
    const q = quantizeChannels(initializerFloats(w)!, conv.channels, options.reduceRange);
    const wName = `rs_w${k}`;
    const blocks = conv.spaceToDepth;
    const weights = blocks ? spaceToDepthWeights(q.values, w.dims) : { values: q.values, dims: w.dims };
    newInits.push({ name: `${wName}_int8`, dims: weights.dims, data: weights.values, type: 'int8' });
    newInits.push({ name: `${wName}_scale`, dims: [conv.channels], data: q.scales });
    newInits.push({ name: `${wName}_zp`, dims: [conv.channels], data: new Int8Array(conv.channels), type: 'int8' });
    weightNodes.push({ op: 'DequantizeLinear', inputs: [`${wName}_int8`, `${wName}_scale`, `${wName}_zp`], outputs: [`${wName}_dq`], attributes: { axis: 0 } });
    const own = new Map([[conv.weight, `${wName}_dq`]]);
    if (conv.bias) {
      const b = quantizeBias(initializerFloats(graph.initializers.get(conv.bias)!)!, paramsOf(conv.input).scale, q.scales);
      newInits.push({ name: `rs_b${k}_int32`, dims: [conv.channels], data: b.values, type: 'int32' });
      newInits.push({ name: `rs_b${k}_scale`, dims: [conv.channels], data: b.scales });
      newInits.push({ name: `rs_b${k}_zp`, dims: [conv.channels], data: new Int32Array(conv.channels), type: 'int32' });
      weightNodes.push({ op: 'DequantizeLinear', inputs: [`rs_b${k}_int32`, `rs_b${k}_scale`, `rs_b${k}_zp`], outputs: [`rs_b${k}_dq`], attributes: { axis: 0 } });
      own.set(conv.bias, `rs_b${k}_dq`);
    }
    convRenames.set(conv.node, own);
    if (blocks) {
      const [scale, zp] = paramNames(conv.input);
      const s2d = `rs_s2d${k}`;
      newInits.push({ name: `${s2d}_pads`, dims: [8], data: BigInt64Array.from(blocks.pads.map(BigInt)), type: 'int64' });
      afterTensor.get(conv.input)!.push(
        { op: 'Pad', inputs: [`${conv.input}__q`, `${s2d}_pads`, zp], outputs: [`${s2d}_padded`] },
        { op: 'SpaceToDepth', inputs: [`${s2d}_padded`], outputs: [`${s2d}_blocks`], attributes: { blocksize: 2 } },
        { op: 'DequantizeLinear', inputs: [`${s2d}_blocks`, scale, zp], outputs: [`${s2d}_blocks__dq`] },
      );
      const node = graph.nodes[conv.node];
      const inputs = node.inputs.map((t, i) => (i === 0 ? `${s2d}_blocks__dq` : (own.get(t) ?? t)));
      rewrittenConvs.set(conv.node, { op: 'Conv', inputs, outputs: node.outputs, attributes: { kernel_shape: blocks.kernel, strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 } });
    }
  });
  // An input that only rewritten convolutions read needs no plain dequantised copy.
  for (const t of new Set(plan.convs.filter((c) => c.spaceToDepth).map((c) => c.input))) {
    const plainReaders = graph.outputs.includes(t) || graph.nodes.some((n, i) => n.inputs.includes(t) && !rewrittenConvs.has(i));
    if (!plainReaders) afterTensor.set(t, afterTensor.get(t)!.filter((n) => n.outputs[0] !== `${t}__dq`));
  }

  let counter = 0;
  const encoded = (nodes: GraphNode[]): Uint8Array[] => nodes.map((n) => lengthDelimited(GRAPH.node, encodeNode(n, `rs_qdq_${counter++}`)));
  const graphField = [...readFields(model)].find((f) => f.field === MODEL_GRAPH && f.wire === LENGTH_DELIMITED);
  if (!graphField) throw new Error('the model has no graph');
  const parts: Uint8Array[] = [...encoded(weightNodes), ...encoded(graph.inputs.flatMap((t) => afterTensor.get(t) ?? []))];
  let nodeIndex = 0;
  for (const f of readFields(model, graphField.start, graphField.end)) {
    if (f.field === GRAPH.node && f.wire === LENGTH_DELIMITED) {
      const node = graph.nodes[nodeIndex];
      const names = new Map([...rename, ...(convRenames.get(nodeIndex) ?? [])]);
      const replaced = rewrittenConvs.get(nodeIndex);
      if (replaced) parts.push(...encoded([replaced]));
      else {
        const rewritten = renameInputs(model, f.start, f.end, names);
        parts.push(rewritten ? lengthDelimited(GRAPH.node, rewritten) : model.subarray(f.tagStart, f.end));
      }
      for (const out of node.outputs) parts.push(...encoded(afterTensor.get(out) ?? []));
      nodeIndex++;
      continue;
    }
    if (f.field === GRAPH.initializer && f.wire === LENGTH_DELIMITED) {
      const nameField = [...readFields(model, f.start, f.end)].find((g) => g.field === TENSOR_NAME);
      if (nameField && plan.replacedInitializers.has(text(model, nameField))) continue;
    }
    parts.push(model.subarray(f.tagStart, f.end));
  }
  parts.push(...newInits.map((t) => lengthDelimited(GRAPH.initializer, encodeTensor(t))));
  const graphBytes = lengthDelimited(MODEL_GRAPH, Buffer.concat(parts));
  return Buffer.concat([model.subarray(0, graphField.tagStart), graphBytes, model.subarray(graphField.end)]);
}
