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
