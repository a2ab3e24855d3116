/**
 * Reading an ONNX model's graph (nodes, inputs, outputs, initializers) from
 * its protobuf bytes, and adding outputs to it while copying every other byte
 * as it was (see `protobuf-wire.ts`). Used to expose a classifier's
 * embedding and last feature map as extra outputs of a user's model.
 */
import { fromHalf } from '../float16.js';
import { LENGTH_DELIMITED, lengthDelimited, readFields, text, varints, type WireField } from './protobuf-wire.js';
import { encodeNode, encodeValueInfo, type GraphNode, type GraphValue } from './onnx-proto.js';

/** A node of the graph, as far as tracing tensors needs it. */
export interface NodeInfo {
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  /** Integer-list attributes (e.g. `axes`), by name. */
  ints: Record<string, number[]>;
  /** Integer attributes (e.g. `keepdims`), by name. */
  int: Record<string, number>;
  /** String attributes (e.g. `auto_pad`), by name. */
  strings: Record<string, string>;
}

/** An initializer: its shape, element type and bytes. */
export interface InitializerInfo {
  dims: number[];
  /** ONNX TensorProto data type (1 float, 2 uint8, 3 int8, 6 int32, 7 int64, 10 float16). */
  dataType: number;
  /** `raw_data`, or the packed typed field it used instead. */
  bytes: Uint8Array;
  /** Which field held the values: 9 raw_data, 4 float_data, 5 int32_data, 7 int64_data. */
  storage: number;
}

/** What the graph holds. */
export interface GraphInfo {
  nodes: NodeInfo[];
  inputs: string[];
  outputs: string[];
  initializers: Map<string, InitializerInfo>;
  /** The opset of the default domain. */
  opset: number;
}

// ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto field numbers (onnx/onnx.proto).
const MODEL = { graph: 7, opsetImport: 8 };
const GRAPH = { node: 1, initializer: 5, input: 11, output: 12 };
const NODE = { input: 1, output: 2, opType: 4, attribute: 5, domain: 7 };
const ATTRIBUTE = { name: 1, i: 3, s: 4, ints: 8 };
const TENSOR = { dims: 1, dataType: 2, floatData: 4, int32Data: 5, int64Data: 7, name: 8, rawData: 9, dataLocation: 14 };

function readNode(buf: Uint8Array, f: WireField): NodeInfo {
  const node: NodeInfo = { opType: '', domain: '', inputs: [], outputs: [], ints: {}, int: {}, strings: {} };
  for (const g of readFields(buf, f.start, f.end)) {
    if (g.field === NODE.input) node.inputs.push(text(buf, g));
    else if (g.field === NODE.output) node.outputs.push(text(buf, g));
    else if (g.field === NODE.opType) node.opType = text(buf, g);
    else if (g.field === NODE.domain) node.domain = text(buf, g);
    else if (g.field === NODE.attribute) {
      let name = '';
      const ints: number[] = [];
      let i: number | undefined;
      let s: string | undefined;
      for (const a of readFields(buf, g.start, g.end)) {
        if (a.field === ATTRIBUTE.name) name = text(buf, a);
        else if (a.field === ATTRIBUTE.ints) varints(buf, a, ints);
        else if (a.field === ATTRIBUTE.i) i = a.varint;
        else if (a.field === ATTRIBUTE.s && a.wire === LENGTH_DELIMITED) s = text(buf, a);
      }
      if (ints.length) node.ints[name] = ints;
      if (i !== undefined) node.int[name] = i;
      if (s !== undefined) node.strings[name] = s;
    }
  }
  return node;
}

function readInitializer(buf: Uint8Array, f: WireField): [string, InitializerInfo] {
  let name = '';
  const dims: number[] = [];
  let dataType = 0;
  let bytes: Uint8Array = new Uint8Array(0);
  let storage = 0;
  for (const g of readFields(buf, f.start, f.end)) {
    if (g.field === TENSOR.name) name = text(buf, g);
    else if (g.field === TENSOR.dims) varints(buf, g, dims);
    else if (g.field === TENSOR.dataType) dataType = g.varint as number;
    else if ([TENSOR.rawData, TENSOR.floatData, TENSOR.int32Data, TENSOR.int64Data].includes(g.field) && g.wire === LENGTH_DELIMITED) {
      bytes = buf.subarray(g.start, g.end);
      storage = g.field;
    } else if (g.field === TENSOR.dataLocation && g.varint === 1) {
      storage = -1;
    }
  }
  return [name, { dims, dataType, bytes, storage }];
}

function valueName(buf: Uint8Array, f: WireField): string {
  for (const g of readFields(buf, f.start, f.end)) if (g.field === 1) return text(buf, g);
  return '';
}

/** The graph field of a ModelProto. */
function graphField(model: Uint8Array): WireField {
  for (const f of readFields(model)) if (f.field === MODEL.graph && f.wire === LENGTH_DELIMITED) return f;
  throw new Error('the model has no graph');
}

/** Reads the graph of an ONNX model. Throws (a plain Error) on bytes that are not a ModelProto. */
export function readGraph(model: Uint8Array): GraphInfo {
  const info: GraphInfo = { nodes: [], inputs: [], outputs: [], initializers: new Map(), opset: 0 };
  for (const f of readFields(model)) {
    if (f.field !== MODEL.opsetImport || f.wire !== LENGTH_DELIMITED) continue;
    let domain = '';
    let version = 0;
    for (const g of readFields(model, f.start, f.end)) {
      if (g.field === 1) domain = text(model, g);
      else if (g.field === 2) version = g.varint as number;
    }
    if (domain === '' || domain === 'ai.onnx') info.opset = version;
  }
  const graph = graphField(model);
  for (const f of readFields(model, graph.start, graph.end)) {
    if (f.wire !== LENGTH_DELIMITED) continue;
    if (f.field === GRAPH.node) info.nodes.push(readNode(model, f));
    else if (f.field === GRAPH.initializer) {
      const [name, init] = readInitializer(model, f);
      info.initializers.set(name, init);
    } else if (f.field === GRAPH.input) info.inputs.push(valueName(model, f));
    else if (f.field === GRAPH.output) info.outputs.push(valueName(model, f));
  }
  return info;
}

/**
 * A copy of `model` with `nodes` appended to its graph and `outputs` added
 * to its outputs; every other byte is kept as it was.
 */
export function addOutputs(model: Uint8Array, nodes: GraphNode[], outputs: GraphValue[]): Uint8Array {
  const graph = graphField(model);
  const added = [...nodes.map((n, i) => lengthDelimited(GRAPH.node, encodeNode(n, `resnet_serve_added_${i}`))), ...outputs.map((o) => lengthDelimited(GRAPH.output, encodeValueInfo(o)))];
  const newGraph = new Uint8Array(graph.end - graph.start + added.reduce((n, a) => n + a.length, 0));
  newGraph.set(model.subarray(graph.start, graph.end), 0);
  let pos = graph.end - graph.start;
  for (const a of added) {
    newGraph.set(a, pos);
    pos += a.length;
  }
  const graphBytes = lengthDelimited(MODEL.graph, newGraph);
  const before = model.subarray(0, graph.tagStart);
  const after = model.subarray(graph.end);
  const out = new Uint8Array(before.length + graphBytes.length + after.length);
  out.set(before, 0);
  out.set(graphBytes, before.length);
  out.set(after, before.length + graphBytes.length);
  return out;
}

/** Integer values of an int64 initializer (raw or packed; small enough for a number), or null for other types. */
export function initializerInts(init: InitializerInfo): number[] | null {
  const { bytes, dataType, storage } = init;
  if (dataType !== 7) return null;
  if (storage === 9) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Array.from({ length: bytes.byteLength / 8 }, (_, i) => Number(view.getBigInt64(i * 8, true)));
  }
  if (storage === 7) {
    const out: number[] = [];
    varints(bytes, { field: TENSOR.int64Data, wire: LENGTH_DELIMITED, tagStart: 0, start: 0, end: bytes.length }, out);
    return out;
  }
  return null;
}

/** Float values of an initializer (float32 or float16, raw or packed), or null for other types. */
export function initializerFloats(init: InitializerInfo): Float32Array | null {
  const { bytes, dataType, storage } = init;
  if (storage === -1) return null;
  if (dataType === 1) {
    const copy = new Uint8Array(bytes);
    return new Float32Array(copy.buffer, 0, copy.length / 4);
  }
  if (dataType === 10 && storage === 9) {
    const out = new Float32Array(bytes.length / 2);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = fromHalf(view.getUint16(i * 2, true));
    return out;
  }
  return null;
}
