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
 * to the embedding and the classifier (Gemm/MatMul) stay in fp32.
 */
import type { GraphInfo, NodeInfo } from '../onnx-graph.js';

/** A convolution whose weights become per-channel int8. */
export interface QuantizedConv {
  node: number;
  input: string;
  weight: string;
  bias?: string;
  channels: number;
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
}

const ACTIVATIONS = new Set(['Relu', 'Clip']);
const PASS_THROUGH = new Set(['MaxPool', 'Pad']);

function isFloatInit(graph: GraphInfo, name: string | undefined, rank: number): boolean {
  const init = name ? graph.initializers.get(name) : undefined;
  return !!init && init.dataType === 1 && init.storage !== -1 && init.dims.length === rank;
}

/** Plans the quantisation of `graph`; throws a plain Error when nothing in it can be quantised. */
export function planQuantization(graph: GraphInfo, options: PlanOptions): QdqPlan {
  const consumers = new Map<string, number[]>();
  graph.nodes.forEach((n, i) => n.inputs.forEach((t) => t && consumers.set(t, [...(consumers.get(t) ?? []), i])));
  const graphOutputs = new Set(graph.outputs);
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
        plan.convs.push({ node: i, input: x, weight: w, bias: b || undefined, channels: graph.initializers.get(w)!.dims[0] });
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
