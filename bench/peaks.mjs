/**
 * The CPU's multiply-add peak, measured in the bench run itself so every
 * "× floor" figure divides times from one machine by a peak from the same
 * machine: a 1024×1024×1024 matrix product in ONNX Runtime, fp32 (MatMul,
 * MLAS's FMA kernel) and int8 (MatMulInteger u8×s8, the kernel under
 * QLinearConv), with the inference threads. A model's floor is its
 * multiply-adds divided by this rate: what it would take if every layer ran
 * as well as a large square GEMM.
 */
import { performance } from 'node:perf_hooks';
import { encodeOnnxModel } from '../dist/model/onnx-proto.js';
import ort from '../dist/model/ort.js';
import { stats } from './lib.mjs';

const N = 1024;

function gemmModel(int8) {
  const a = { name: 'a', dims: [N, N], type: int8 ? 'uint8' : 'float' };
  const b = int8 ? Int8Array.from({ length: N * N }, (_, i) => ((i * 7919) % 127) - 63) : Float32Array.from({ length: N * N }, (_, i) => Math.sin(i));
  return encodeOnnxModel({
    name: 'gemm',
    opset: 13,
    nodes: [int8 ? { op: 'MatMulInteger', inputs: ['a', 'b'], outputs: ['y'] } : { op: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }],
    initializers: [{ name: 'b', dims: [N, N], data: b, type: int8 ? 'int8' : 'float' }],
    inputs: [a],
    outputs: [{ name: 'y', dims: [N, N], type: int8 ? 'int32' : 'float' }],
  });
}

/** Multiply-adds per second (median of `runs`) for fp32 and int8, with `threads` threads. */
export async function measurePeaks(threads, runs = 15) {
  const out = {};
  for (const [name, int8] of [['fp32', false], ['int8', true]]) {
    const session = await ort.InferenceSession.create(gemmModel(int8), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const a = int8 ? new ort.Tensor('uint8', Uint8Array.from({ length: N * N }, (_, i) => (i * 31) % 256), [N, N]) : new ort.Tensor('float32', Float32Array.from({ length: N * N }, (_, i) => Math.cos(i)), [N, N]);
    const times = [];
    for (let i = 0; i < runs + 3; i++) {
      const t0 = performance.now();
      const r = await session.run({ a });
      if (i >= 3) times.push(performance.now() - t0);
      r.y.dispose();
    }
    await session.release();
    out[name] = (N ** 3 / stats(times).median) * 1000;
  }
  return out;
}

/** Multiply-adds of one image, by architecture (torchvision's counts at 224×224). */
export const MACS = { resnet18: 1.82e9, resnet34: 3.67e9, resnet50: 4.11e9 };
