/**
 * Builds the ONNX graph of a torchvision ResNet from its state_dict.
 *
 * The architecture is read from the keys: `layer1.0.conv3.weight` means
 * Bottleneck blocks (ResNet-50/101/152, and the wide/ResNeXt variants, whose
 * widths and groups come from the weight shapes), otherwise BasicBlock
 * (ResNet-18/34). Blocks per stage are counted from `layerN.i.` prefixes.
 * Every tensor the architecture needs is checked for presence and shape, and
 * keys it does not use are refused, as `load_state_dict(strict=True)` does;
 * the errors name the key.
 *
 * Strides follow torchvision (v1.5): the first block of stages 2–4 strides 2
 * in its 3×3 convolution, and has a 1×1 `downsample` projection.
 */
import { ResnetServeError } from '../errors.js';
import type { DeclaredShapes, StateDict, Tensor } from './pth.js';
import type { GraphNode, GraphSpec, Initializer } from './onnx-proto.js';

/** What the state_dict says about the network. */
export interface ResnetArchitecture {
  /** e.g. `resnet18`; wide or grouped variants get a suffix. */
  name: string;
  block: 'basic' | 'bottleneck';
  blocks: number[];
  numClasses: number;
}

const BN_PARAMS = ['weight', 'bias', 'running_mean', 'running_var'] as const;

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  readonly initializers: Initializer[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(
    private readonly dict: StateDict,
    /** Check keys and shapes only (the weights are not read yet). */
    private readonly shapesOnly = false,
  ) {}

  tensor(key: string, check: (shape: number[]) => boolean, expected: string): Tensor {
    const t = this.dict.get(key);
    if (!t) throw new ResnetServeError('MODEL_INVALID', `Checkpoint is missing ${key} (expected shape ${expected})`);
    if (!check(t.shape)) throw new ResnetServeError('MODEL_INVALID', `Checkpoint tensor ${key} has shape ${shapeText(t.shape)}, expected ${expected}`);
    if (!this.shapesOnly && t.data.length !== t.shape.reduce((a, b) => a * b, 1)) {
      throw new ResnetServeError('MODEL_INVALID', `Checkpoint tensor ${key} holds ${t.data.length} values for shape ${shapeText(t.shape)}`);
    }
    this.used.add(key);
    this.initializers.push({ name: key, dims: t.shape, data: t.data });
    return t;
  }

  fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Conv (no bias) + BatchNorm, optionally ReLU. Returns output name and channels. */
  convBn(input: string, inChannels: number, conv: string, bn: string, stride: number, relu: boolean, grouped = false): { out: string; channels: number } {
    const inOk = (perGroup: number): boolean => (grouped ? perGroup > 0 && inChannels % perGroup === 0 : perGroup === inChannels);
    const w = this.tensor(`${conv}.weight`, (s) => s.length === 4 && inOk(s[1]) && s[2] === s[3] && s[2] % 2 === 1, `[out, ${grouped ? `${inChannels}/groups` : inChannels}, k, k]`);
    const [outChannels, perGroup, k] = w.shape;
    const pad = (k - 1) / 2;
    const convOut = this.fresh('conv');
    this.nodes.push({
      op: 'Conv',
      inputs: [input, `${conv}.weight`],
      outputs: [convOut],
      attributes: { kernel_shape: [k, k], strides: [stride, stride], pads: [pad, pad, pad, pad], dilations: [1, 1], group: inChannels / perGroup },
    });
    for (const p of BN_PARAMS) this.tensor(`${bn}.${p}`, (s) => s.length === 1 && s[0] === outChannels, shapeText([outChannels]));
    if (this.dict.has(`${bn}.num_batches_tracked`)) this.used.add(`${bn}.num_batches_tracked`);
    const bnOut = this.fresh('bn');
    this.nodes.push({ op: 'BatchNormalization', inputs: [convOut, ...BN_PARAMS.map((p) => `${bn}.${p}`)], outputs: [bnOut], attributes: { epsilon: { float: 1e-5 } } });
    if (!relu) return { out: bnOut, channels: outChannels };
    const reluOut = this.fresh('relu');
    this.nodes.push({ op: 'Relu', inputs: [bnOut], outputs: [reluOut] });
    return { out: reluOut, channels: outChannels };
  }

  unused(): string[] {
    return [...this.dict.keys()].filter((k) => !this.used.has(k));
  }
}

/** Reads the architecture of a torchvision ResNet from its keys and shapes. */
export function detectArchitecture(dict: StateDict): ResnetArchitecture {
  if (!dict.has('conv1.weight') || !dict.has('fc.weight')) {
    throw new ResnetServeError('MODEL_INVALID', 'Checkpoint is not a torchvision ResNet: conv1.weight or fc.weight is missing');
  }
  const blocks: number[] = [];
  for (let stage = 1; stage <= 4; stage++) {
    let n = 0;
    while ([...dict.keys()].some((k) => k.startsWith(`layer${stage}.${n}.`))) n++;
    if (n === 0) throw new ResnetServeError('MODEL_INVALID', `Checkpoint is missing layer${stage}.0 (a ResNet has four stages)`);
    blocks.push(n);
  }
  const block = dict.has('layer1.0.conv3.weight') ? 'bottleneck' : 'basic';
  const depth = blocks.reduce((a, b) => a + b, 0) * (block === 'basic' ? 2 : 3) + 2;
  const fc = dict.get('fc.weight') as Tensor;
  const standardWidth = block === 'basic' || dict.get('layer1.0.conv1.weight')?.shape[0] === 64;
  return { name: `resnet${depth}${standardWidth ? '' : '-wide'}`, block, blocks, numClasses: fc.shape[0] };
}

/**
 * Builds the inference graph (input `input` `[batch, 3, size, size]`, outputs
 * `logits` `[batch, classes]`, `embedding` `[batch, channels]` and
 * `feature_map` `[batch, channels, h, w]`) for a torchvision ResNet state_dict.
 */
export function buildResnetGraph(dict: StateDict, inputSize = 224, shapesOnly = false): { spec: GraphSpec; architecture: ResnetArchitecture } {
  const arch = detectArchitecture(dict);
  const g = new GraphBuilder(dict, shapesOnly);
  let { out, channels } = g.convBn('input', 3, 'conv1', 'bn1', 2, true);
  const pooled = g.fresh('maxpool');
  g.nodes.push({ op: 'MaxPool', inputs: [out], outputs: [pooled], attributes: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] } });
  out = pooled;

  for (let stage = 1; stage <= 4; stage++) {
    for (let i = 0; i < arch.blocks[stage - 1]; i++) {
      const p = `layer${stage}.${i}`;
      const stride = stage > 1 && i === 0 ? 2 : 1;
      let y: { out: string; channels: number };
      if (arch.block === 'basic') {
        y = g.convBn(out, channels, `${p}.conv1`, `${p}.bn1`, stride, true);
        y = g.convBn(y.out, y.channels, `${p}.conv2`, `${p}.bn2`, 1, false);
      } else {
        y = g.convBn(out, channels, `${p}.conv1`, `${p}.bn1`, 1, true);
        y = g.convBn(y.out, y.channels, `${p}.conv2`, `${p}.bn2`, stride, true, true);
        y = g.convBn(y.out, y.channels, `${p}.conv3`, `${p}.bn3`, 1, false);
      }
      let identity = out;
      if (dict.has(`${p}.downsample.0.weight`)) {
        identity = g.convBn(out, channels, `${p}.downsample.0`, `${p}.downsample.1`, stride, false).out;
      } else if (stride !== 1 || y.channels !== channels) {
        throw new ResnetServeError('MODEL_INVALID', `Checkpoint is missing ${p}.downsample.0.weight (the block changes shape from ${channels} channels)`);
      }
      const sum = g.fresh('add');
      // The last block's output is the feature map class activation maps are made from: a named graph output.
      const last = stage === 4 && i === arch.blocks[3] - 1;
      const act = last ? 'feature_map' : g.fresh('relu');
      g.nodes.push({ op: 'Add', inputs: [y.out, identity], outputs: [sum] }, { op: 'Relu', inputs: [sum], outputs: [act] });
      out = act;
      channels = y.channels;
    }
  }
  g.nodes.push({ op: 'GlobalAveragePool', inputs: [out], outputs: ['pooled'] }, { op: 'Flatten', inputs: ['pooled'], outputs: ['embedding'], attributes: { axis: 1 } });
  g.tensor('fc.weight', (s) => s.length === 2 && s[1] === channels, `[classes, ${channels}]`);
  g.tensor('fc.bias', (s) => s.length === 1 && s[0] === arch.numClasses, shapeText([arch.numClasses]));
  g.nodes.push({ op: 'Gemm', inputs: ['embedding', 'fc.weight', 'fc.bias'], outputs: ['logits'], attributes: { transB: 1 } });

  const unused = g.unused();
  if (unused.length) {
    throw new ResnetServeError('MODEL_INVALID', `Checkpoint has keys a torchvision ${arch.name} does not use: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ` and ${unused.length - 5} more` : ''}`);
  }
  return {
    architecture: arch,
    spec: {
      name: arch.name,
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [{ name: 'input', dims: ['batch', 3, inputSize, inputSize] }],
      // Besides the logits: the input of the final layer (embedding) and the last feature map, computed anyway in the same run.
      outputs: [
        { name: 'logits', dims: ['batch', arch.numClasses] },
        { name: 'embedding', dims: ['batch', channels] },
        { name: 'feature_map', dims: ['batch', channels, 'height', 'width'] },
      ],
      opset: 13,
      metadata: { architecture: arch.name },
    },
  };
}

/**
 * Checks a checkpoint's declared keys and shapes against the ResNet they
 * describe, before any weight is read: a checkpoint whose tensors are not
 * exactly those of a torchvision ResNet is refused without allocating them.
 */
export function checkResnetShapes(shapes: DeclaredShapes): ResnetArchitecture {
  const empty = new Float32Array(0);
  const dict: StateDict = new Map([...shapes].map(([key, shape]) => [key, { dtype: 'float32', shape: [...shape], data: empty }]));
  return buildResnetGraph(dict, 224, true).architecture;
}
