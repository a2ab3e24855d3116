import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { GraphInfo, InitializerInfo, NodeInfo } from '../onnx-graph.js';
import { planQuantization } from './qdq-plan.js';

const node = (opType: string, inputs: string[], outputs: string[], attrs: Partial<Pick<NodeInfo, 'ints' | 'int' | 'strings'>> = {}): NodeInfo => ({ opType, domain: '', inputs, outputs, ints: {}, int: {}, strings: {}, ...attrs });
const floats = (dims: number[]): InitializerInfo => ({ dims, dataType: 1, bytes: new Uint8Array(4 * dims.reduce((a, b) => a * b, 1)), storage: 9 });
const int64s = (values: number[]): InitializerInfo => {
  const bytes = new Uint8Array(8 * values.length);
  values.forEach((v, i) => new DataView(bytes.buffer).setBigInt64(8 * i, BigInt(v), true));
  return { dims: [values.length], dataType: 7, bytes, storage: 9 };
};
const stem = { kernel_shape: [7, 7], strides: [2, 2], pads: [3, 3, 3, 3] };

/** The image through `before` into a 7×7 stride-2 convolution over 3 channels, then a 3×3 one. */
function graph(before: NodeInfo[], convInput: string, convInts: Record<string, number[]> = stem, extra: [string, InitializerInfo][] = []): GraphInfo {
  return {
    nodes: [...before, node('Conv', [convInput, 'w0', 'b0'], ['c0'], { ints: convInts }), node('Relu', ['c0'], ['r0']), node('Conv', ['r0', 'w1'], ['c1'], { ints: { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] } })],
    inputs: ['input'],
    outputs: ['c1'],
    initializers: new Map([['w0', floats([64, 3, 7, 7])], ['b0', floats([64])], ['w1', floats([64, 64, 3, 3])], ...extra]),
    opset: 17,
  };
}
const options = { keepFirstConv: false, spaceToDepth: true };

test('the first convolution reading the image is planned over its 2×2 blocks; the next one is not', () => {
  const plan = planQuantization(graph([], 'input'), options, 224);
  assert.deepEqual(plan.convs.map((c) => c.spaceToDepth), [{ pads: [0, 0, 3, 3, 0, 0, 3, 3], kernel: [4, 4], channels: 12 }, undefined]);
});

test('through in-graph normalisation and a Keras-style zero Pad, the padded size is followed', () => {
  const before = [node('Mul', ['input', 'scale'], ['m']), node('Gather', ['m', 'bgr'], ['g'], { int: { axis: 1 } }), node('Sub', ['g', 'mean'], ['s']), node('Pad', ['s', 'pads'], ['p'])];
  const constants: [string, InitializerInfo][] = [['scale', floats([1, 3, 1, 1])], ['mean', floats([3, 1, 1])], ['bgr', int64s([2, 1, 0])], ['pads', int64s([0, 0, 3, 3, 0, 0, 3, 3])]];
  const plan = planQuantization(graph(before, 'p', { kernel_shape: [7, 7], strides: [2, 2] }, constants), options, 224);
  assert.deepEqual(plan.convs[0].spaceToDepth, { pads: [0, 0, 0, 0, 0, 0, 0, 0], kernel: [4, 4], channels: 12 });
});

test('not rewritten: when asked not to, without the input size, an unknown size (a constant as large as the image, a Pad of channels), or the convolution kept in fp32', () => {
  assert.equal(planQuantization(graph([], 'input'), { ...options, spaceToDepth: false }, 224).convs[0].spaceToDepth, undefined);
  assert.equal(planQuantization(graph([], 'input'), options).convs[0].spaceToDepth, undefined);
  const wide = planQuantization(graph([node('Mul', ['input', 'mask'], ['m'])], 'm', stem, [['mask', floats([1, 1, 224, 224])]]), options, 224);
  assert.equal(wide.convs[0].spaceToDepth, undefined);
  const channelPad = planQuantization(graph([node('Pad', ['input', 'pads'], ['p'])], 'p', stem, [['pads', int64s([0, 1, 0, 0, 0, 0, 0, 0])]]), options, 224);
  assert.equal(channelPad.convs[0].spaceToDepth, undefined);
  const kept = planQuantization(graph([], 'input'), { keepFirstConv: true, spaceToDepth: true }, 224);
  assert.deepEqual([kept.fp32Convs, kept.convs.map((c) => c.spaceToDepth)], [[0], [undefined]]);
});
