/**
 * Which tensors of an fp32 classifier graph to quantise, decided from the
 * graph alone (no weights, no images). The graph is the one ONNX Runtime
 * writes after its basic optimisations (BatchNorm folded into Conv, casts
 * of float16 weights folded), so every convolution has float initializers.
 *
 * The layout follows what ONNX Runtime's QDQ fusions turn into integer
 * kernels: `DQ → Conv → Q` becomes QLinearConv, a `Relu`/`Clip` between
 * Conv and Q is dropped when Q's range starts at zero, `DQ, DQ → Add → Q`
 * becomes QLinearAdd, and `DQ → MaxPool → Q` with equal parameters runs on
 * uint8 directly. So: each convolution's input and the end of its
 * Conv→activation chain are quantised, an Add of two quantised tensors is
 * quantised, and MaxPool/Pad pass their input's parameters through. Pooling
 * to the embedding and the classifier (Gemm/MatMul) stay in fp32. A stride-2
 * convolution reading the image's 3 channels is planned as a stride-1 one
 * over its 2×2 blocks (`space-to-depth.ts`).
 */
import { initializerInts, type GraphInfo, type NodeInfo } from '../onnx-graph.js';
import { spaceToDepthLayout, type SpaceToDepthLayout } from './space-to-depth.js';

/** A convolution whose weights become per-channel int8. */
export interface QuantizedConv {
  node: number;
  input: string;
  weight: string;
  bias?: string;
  channels: number;
  /** Run over the input's 2×2 blocks as channels (a convolution over the image's few channels). */
  spaceToDepth?: SpaceToDepthLayout;
}

/** What to quantise. */
export interface QdqPlan {
  convs: QuantizedConv[];
  /** Activations with parameters of their own (calibrated). */
  activations: string[];
  /** Activations that reuse another's parameters (MaxPool, Pad output → input). */
  shared: Map<string, string>;
  /** Initializers no node needs once the convolutions read their int8 copies. */
  replacedInitializers: Set<string>;
  /** The convolution left in fp32 because it reads the image (when asked). */
  fp32Convs: number[];
}

/** Options for planning. */
export interface PlanOptions {
  /** Keep convolutions that read the graph's input (through non-conv ops) in fp32. */
  keepFirstConv: boolean;
  /** Rewrite a stride-2 convolution reading the graph's input over ≤ 3 channels as a stride-1 one over its 2×2 blocks. */
  spaceToDepth: boolean;
}

const ACTIVATIONS = new Set(['Relu', 'Clip']);
const PASS_THROUGH = new Set(['MaxPool', 'Pad']);

function isFloatInit(graph: GraphInfo, name: string | undefined, rank: number): boolean {
  const init = name ? graph.initializers.get(name) : undefined;
  return !!init && init.dataType === 1 && init.storage !== -1 && init.dims.length === rank;
}

const ELEMENTWISE = new Set(['Mul', 'Add', 'Sub', 'Div']);

/**
 * Height and width of `tensor` when it is the graph's input (`inputSize`
 * square), or that input through operators that keep its height and width
 * (scaling by per-channel constants, channels reordered by `Gather`, as the
 * in-graph normalisation of converted models does) and zero `Pad`s of height
 * and width (as Keras exports write before the first convolution).
 */
function imageSize(graph: GraphInfo, tensor: string, inputSize: number, producer: Map<string, NodeInfo>, depth = 0): [number, number] | undefined {
  if (graph.inputs.includes(tensor)) return [inputSize, inputSize];
  const node = producer.get(tensor);
  if (!node || node.domain !== '' || depth > 16) return undefined;
  const constant = (t: string | undefined): number[] | undefined => (t ? graph.initializers.get(t)?.dims : undefined);
  if (ELEMENTWISE.has(node.opType)) {
    const k = node.inputs.findIndex((t) => constant(t));
    const dims = constant(node.inputs[k]);
    // A constant that could broadcast height or width larger is not followed.
    if (!dims || node.inputs.length !== 2 || dims.length > 4 || dims.slice(-2).some((d) => d !== 1) || (dims.length < 2 && dims.some((d) => d !== 1))) return undefined;
    return imageSize(graph, node.inputs[1 - k], inputSize, producer, depth + 1);
  }
  if (node.opType === 'Gather') return node.int.axis === 1 && constant(node.inputs[1]) ? imageSize(graph, node.inputs[0], inputSize, producer, depth + 1) : undefined;
  if (node.opType !== 'Pad' || (node.strings.mode ?? 'constant') !== 'constant' || node.inputs.slice(2).some(Boolean)) return undefined;
  const init = graph.initializers.get(node.inputs[1]);
  const pads = init ? initializerInts(init) : null;
  if (!pads || pads.length !== 8 || pads.some((p) => !Number.isSafeInteger(p) || p < 0) || pads[0] || pads[1] || pads[4] || pads[5]) return undefined;
  const size = imageSize(graph, node.inputs[0], inputSize, producer, depth + 1);
  return size && [size[0] + pads[2] + pads[6], size[1] + pads[3] + pads[7]];
}

/** The block layout for convolution `node` when it reads the image (see `imageSize`) and the rewrite applies. */
function blockLayout(graph: GraphInfo, node: NodeInfo, inputSize: number | undefined, producer: Map<string, NodeInfo>): SpaceToDepthLayout | undefined {
  const dims = graph.initializers.get(node.inputs[1])!.dims;
  const size = inputSize === undefined ? undefined : imageSize(graph, node.inputs[0], inputSize, producer);
  if (!size) return undefined;
  return (
    spaceToDepthLayout(
      {
        channels: dims[1],
        group: node.int.group ?? 1,
        kernel: node.ints.kernel_shape ?? dims.slice(2),
        strides: node.ints.strides ?? [1, 1],
        dilations: node.ints.dilations ?? [1, 1],
        pads: node.ints.pads ?? [0, 0, 0, 0],
        autoPad: node.strings.auto_pad,
      },
      ...size,
    ) ?? undefined
  );
}

/**
 * Plans the quantisation of `graph`, whose input is `inputSize` pixels
 * square (when known: the block rewrite needs it); throws a plain Error
 * when nothing in it can be quantised.
 */
export function planQuantization(graph: GraphInfo, options: PlanOptions, inputSize?: number): QdqPlan {
  const consumers = new Map<string, number[]>();
  graph.nodes.forEach((n, i) => n.inputs.forEach((t) => t && consumers.set(t, [...(consumers.get(t) ?? []), i])));
  const graphOutputs = new Set(graph.outputs);
  const producer = new Map(graph.nodes.flatMap((n) => n.outputs.map((t) => [t, n] as const)));
  const quantized = new Set<string>();
  const plan: QdqPlan = { convs: [], activations: [], shared: new Map(), replacedInitializers: new Set(), fp32Convs: [] };
  const own = (t: string): void => {
    if (quantized.has(t)) return;
    quantized.add(t);
    plan.activations.push(t);
  };
  /** The end of a Conv/Add → Relu|Clip chain: where Q goes so ONNX Runtime can drop the activation. */
  const chainEnd = (t: string): string => {
    const users = consumers.get(t) ?? [];
    if (users.length !== 1 || graphOutputs.has(t)) return t;
    const next = graph.nodes[users[0]];
    return ACTIVATIONS.has(next.opType) && next.domain === '' ? next.outputs[0] : t;
  };
  // Tensors computed from the graph input without passing through a convolution.
  const fromImage = new Set(graph.inputs);
  const weightUsers = new Map<string, number>();
  graph.nodes.forEach((n) => n.inputs.forEach((t) => graph.initializers.has(t) && weightUsers.set(t, (weightUsers.get(t) ?? 0) + 1)));

  graph.nodes.forEach((node: NodeInfo, i) => {
    if (node.domain !== '') return;
    const [x, w, b] = node.inputs;
    if (node.opType === 'Conv' && isFloatInit(graph, w, 4) && (b === undefined || b === '' || isFloatInit(graph, b, 1))) {
      if (options.keepFirstConv && fromImage.has(x)) plan.fp32Convs.push(i);
      else {
        own(x);
        const blocks = options.spaceToDepth ? blockLayout(graph, node, inputSize, producer) : undefined;
        plan.convs.push({ node: i, input: x, weight: w, bias: b || undefined, channels: graph.initializers.get(w)!.dims[0], ...(blocks ? { spaceToDepth: blocks } : {}) });
        for (const t of [w, b]) if (t && weightUsers.get(t) === 1) plan.replacedInitializers.add(t);
      }
      own(chainEnd(node.outputs[0]));
      return;
    }
    if (node.inputs.some((t) => fromImage.has(t)) && !ACTIVATIONS.has(node.opType)) node.outputs.forEach((t) => fromImage.add(t));
    if (ACTIVATIONS.has(node.opType) && fromImage.has(x)) node.outputs.forEach((t) => fromImage.add(t));
    if (node.opType === 'Add' && node.inputs.length === 2 && node.inputs.every((t) => quantized.has(t))) own(chainEnd(node.outputs[0]));
    else if (PASS_THROUGH.has(node.opType) && quantized.has(x) && !(node.opType === 'Pad' && node.inputs[2])) {
      const source = plan.shared.get(x) ?? x;
      plan.shared.set(node.outputs[0], source);
      quantized.add(node.outputs[0]);
    }
  });
  if (!plan.convs.length) {
    // Convolutions there are, but not over float32 constants: a float16 model (its weights cast at run time).
    if (graph.nodes.some((n) => n.opType === 'Conv')) throw new Error('its convolutions have no float32 constant weights (a float16 model?); int8 is made from a float32 model');
    throw new Error('it has no convolution with constant weights to quantise');
  }
  return plan;
}
