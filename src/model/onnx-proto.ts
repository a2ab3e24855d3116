/**
 * The part of ONNX's protobuf schema (onnx/onnx.proto, field numbers as
 * published) that building an inference graph needs, encoded with protobufjs.
 */
import protobuf from 'protobufjs';

const int64 = 'int64';
const schema = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            ir_version: { type: int64, id: 1 },
            producer_name: { type: 'string', id: 2 },
            producer_version: { type: 'string', id: 3 },
            doc_string: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            opset_import: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            metadata_props: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: int64, id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            op_type: { type: 'string', id: 4 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            domain: { type: 'string', id: 7 },
          },
        },
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            f: { type: 'float', id: 2 },
            i: { type: int64, id: 3 },
            g: { type: 'GraphProto', id: 6 },
            ints: { rule: 'repeated', type: int64, id: 8, options: { packed: false } },
            type: { type: 'int32', id: 20 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: int64, id: 1, options: { packed: false } },
            data_type: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            raw_data: { type: 'bytes', id: 9 },
            external_data: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            data_location: { type: 'int32', id: 14 },
          },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
        TypeProto: { fields: { tensor_type: { type: 'TypeProtoTensor', id: 1 } } },
        TypeProtoTensor: { fields: { elem_type: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
        TensorShapeProto: { fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } } },
        Dimension: { fields: { dim_value: { type: int64, id: 1 }, dim_param: { type: 'string', id: 2 } } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(schema);
const ModelProto = root.lookupType('onnx.ModelProto');
const NodeProto = root.lookupType('onnx.NodeProto');
const ValueInfoProto = root.lookupType('onnx.ValueInfoProto');
const TensorProto = root.lookupType('onnx.TensorProto');

/** ONNX TensorProto.DataType.FLOAT */
export const ONNX_FLOAT = 1;
const ELEMENT_TYPES = { float: ONNX_FLOAT, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float16: 10 } as const;
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_GRAPH = 5;
const ATTR_INTS = 7;

/** An element type the encoder writes. */
export type ElementType = keyof typeof ELEMENT_TYPES;

/** An ONNX attribute value: a float, an int, a list of ints, or a subgraph (the body of Loop or If). */
export type AttributeValue = { float: number } | number | number[] | { graph: GraphBody };

/** One node of the graph. */
export interface GraphNode {
  op: string;
  /** Operator domain; the default ONNX domain when omitted. */
  domain?: string;
  inputs: string[];
  outputs: string[];
  attributes?: Record<string, AttributeValue>;
}

/** A constant of the graph: float32 by default, or int64 / bool. */
export interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array | BigInt64Array | Uint8Array | Int8Array | Int32Array;
  type?: ElementType;
  /** Kept in a file beside the model instead (ONNX external data): its name and where `data` starts in it. */
  external?: { location: string; offset: number };
}

/** A graph input or output: name and dims (a string is a symbolic dim; none: shape not declared), float32 unless `type` says. */
export interface GraphValue {
  name: string;
  dims?: (number | string)[];
  type?: ElementType;
}

/** The contents of a graph or subgraph. */
export interface GraphBody {
  name: string;
  nodes: GraphNode[];
  initializers: Initializer[];
  inputs: GraphValue[];
  outputs: GraphValue[];
}

/** Everything needed to write one ONNX model. */
export interface GraphSpec extends GraphBody {
  opset: number;
  metadata?: Record<string, string>;
}

function attribute(name: string, value: AttributeValue): object {
  if (Array.isArray(value)) return { name, type: ATTR_INTS, ints: value };
  if (typeof value === 'number') return { name, type: ATTR_INT, i: value };
  if ('graph' in value) return { name, type: ATTR_GRAPH, g: graphObject(value.graph) };
  return { name, type: ATTR_FLOAT, f: value.float };
}

function valueInfo(v: GraphValue): object {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: ELEMENT_TYPES[v.type ?? 'float'],
        ...(v.dims ? { shape: { dim: v.dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } : {}),
      },
    },
  };
}

function nodeObject(n: GraphNode, name: string): object {
  return {
    name,
    op_type: n.op,
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
    ...(n.domain ? { domain: n.domain } : {}),
  };
}

/** The bytes of one NodeProto (to append to an existing graph). */
export function encodeNode(node: GraphNode, name: string): Uint8Array {
  return NodeProto.encode(NodeProto.fromObject(nodeObject(node, name))).finish();
}

/** The bytes of one ValueInfoProto (a graph output to append). */
export function encodeValueInfo(value: GraphValue): Uint8Array {
  return ValueInfoProto.encode(ValueInfoProto.fromObject(valueInfo(value))).finish();
}

function tensorObject(t: Initializer): object {
  const where = t.external && [
    { key: 'location', value: t.external.location },
    { key: 'offset', value: String(t.external.offset) },
    { key: 'length', value: String(t.data.byteLength) },
  ];
  return {
    name: t.name,
    dims: t.dims,
    data_type: ELEMENT_TYPES[t.type ?? 'float'],
    ...(where ? { external_data: where, data_location: 1 } : { raw_data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) }),
  };
}

/** The bytes of one TensorProto (an initializer to append). */
export function encodeTensor(tensor: Initializer): Uint8Array {
  return TensorProto.encode(TensorProto.fromObject(tensorObject(tensor))).finish();
}

function graphObject(g: GraphBody): object {
  return {
    name: g.name,
    node: g.nodes.map((n, i) => nodeObject(n, `${n.op}_${i}`)),
    initializer: g.initializers.map(tensorObject),
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
  };
}

/** Serialises `spec` as an ONNX ModelProto (IR version 7). */
export function encodeOnnxModel(spec: GraphSpec): Uint8Array {
  const message = ModelProto.fromObject({
    ir_version: 7,
    producer_name: 'resnet-serve',
    producer_version: '1',
    opset_import: [{ domain: '', version: spec.opset }],
    metadata_props: Object.entries(spec.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: graphObject(spec),
  });
  return ModelProto.encode(message).finish();
}
