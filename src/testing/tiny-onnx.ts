/**
 * Test helper: a tiny ONNX "classifier" (global average pool → linear) with
 * chosen input dims and class count, for model-loading and shape checks.
 */
import { encodeOnnxModel } from '../model/onnx-proto.js';

/** ONNX bytes of `input [dims] → GlobalAveragePool → Flatten → Gemm → output [N, classes]`. */
export function tinyClassifierOnnx(inputDims: (number | string)[], numClasses: number): Uint8Array {
  const channels = typeof inputDims[1] === 'number' ? inputDims[1] : 3;
  const weight = Float32Array.from({ length: numClasses * channels }, (_, i) => ((i % 7) - 3) / 3);
  return encodeOnnxModel({
    name: 'tiny',
    opset: 13,
    nodes: [
      { op: 'GlobalAveragePool', inputs: ['input'], outputs: ['pooled'] },
      { op: 'Flatten', inputs: ['pooled'], outputs: ['features'], attributes: { axis: 1 } },
      { op: 'Gemm', inputs: ['features', 'w', 'b'], outputs: ['output'], attributes: { transB: 1 } },
    ],
    initializers: [
      { name: 'w', dims: [numClasses, channels], data: weight },
      { name: 'b', dims: [numClasses], data: new Float32Array(numClasses) },
    ],
    inputs: [{ name: 'input', dims: inputDims }],
    outputs: [{ name: 'output', dims: [inputDims[0], numClasses] }],
  });
}

/**
 * ONNX bytes of a classifier whose graph never finishes: its features go
 * through a `Loop` of 10^15 iterations (a hostile or broken model), then a
 * linear layer to `[N, classes]`. Opening it is quick; running it is not.
 */
export function endlessLoopOnnx(numClasses = 1000): Uint8Array {
  return encodeOnnxModel({
    name: 'endless',
    opset: 13,
    nodes: [
      { op: 'GlobalAveragePool', inputs: ['input'], outputs: ['pooled'] },
      { op: 'Flatten', inputs: ['pooled'], outputs: ['features'], attributes: { axis: 1 } },
      {
        op: 'Loop',
        inputs: ['trips', 'keep_going', 'features'],
        outputs: ['looped'],
        attributes: {
          body: {
            graph: {
              name: 'body',
              nodes: [
                { op: 'Identity', inputs: ['cond_in'], outputs: ['cond_out'] },
                { op: 'Identity', inputs: ['value_in'], outputs: ['value_out'] },
              ],
              initializers: [],
              inputs: [
                { name: 'iteration', dims: [], type: 'int64' },
                { name: 'cond_in', dims: [], type: 'bool' },
                { name: 'value_in', dims: ['N', 3] },
              ],
              outputs: [
                { name: 'cond_out', dims: [], type: 'bool' },
                { name: 'value_out', dims: ['N', 3] },
              ],
            },
          },
        },
      },
      { op: 'Gemm', inputs: ['looped', 'w', 'b'], outputs: ['output'], attributes: { transB: 1 } },
    ],
    initializers: [
      { name: 'trips', dims: [], data: BigInt64Array.of(10n ** 15n), type: 'int64' },
      { name: 'keep_going', dims: [], data: Uint8Array.of(1), type: 'bool' },
      { name: 'w', dims: [numClasses, 3], data: new Float32Array(numClasses * 3).fill(0.1) },
      { name: 'b', dims: [numClasses], data: new Float32Array(numClasses) },
    ],
    inputs: [{ name: 'input', dims: ['N', 3, 224, 224] }],
    outputs: [{ name: 'output', dims: ['N', numClasses] }],
  });
}

/** ONNX bytes of a classifier whose last layer is a 1×1 convolution, not a Gemm or MatMul (no embedding to find). */
export function convClassifierOnnx(numClasses: number): Uint8Array {
  return encodeOnnxModel({
    name: 'conv-head',
    opset: 13,
    nodes: [
      { op: 'GlobalAveragePool', inputs: ['input'], outputs: ['pooled'] },
      { op: 'Conv', inputs: ['pooled', 'w', 'b'], outputs: ['scores'], attributes: { kernel_shape: [1, 1] } },
      { op: 'Flatten', inputs: ['scores'], outputs: ['output'], attributes: { axis: 1 } },
    ],
    initializers: [
      { name: 'w', dims: [numClasses, 3, 1, 1], data: Float32Array.from({ length: numClasses * 3 }, (_, i) => ((i % 5) - 2) / 2) },
      { name: 'b', dims: [numClasses], data: new Float32Array(numClasses) },
    ],
    inputs: [{ name: 'input', dims: ['N', 3, 224, 224] }],
    outputs: [{ name: 'output', dims: ['N', numClasses] }],
  });
}
