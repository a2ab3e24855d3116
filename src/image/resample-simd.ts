/**
 * Runs the two passes of `resample.ts` for 3-channel images in WebAssembly
 * SIMD (`wasm/resample.wat`), about 4× faster than the TypeScript loops with
 * the same bits. One module instance per thread; its memory grows to the
 * largest image seen and is reused.
 */
import { RESAMPLE_WASM_BASE64 } from './resample-wasm.js';
import type { AxisCoefficients, RawImage } from './resample.js';

interface ResampleExports {
  memory: WebAssembly.Memory;
  horizontal3(src: number, srcStride: number, rows: number, bounds: number, weights: number, pairs: number, outWidth: number, out: number): void;
  vertical(tmp: number, stride: number, outRows: number, bounds: number, weights: number, ksize: number, rowFirst: number, out: number): void;
}

let instance: ResampleExports | null | undefined;

function exportsOf(): ResampleExports | null {
  if (instance === undefined) {
    try {
      const module = new WebAssembly.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64'));
      instance = new WebAssembly.Instance(module).exports as unknown as ResampleExports;
    } catch {
      instance = null; // A runtime without WebAssembly SIMD: the TypeScript passes are used.
    }
  }
  return instance;
}

/** Whether the SIMD passes can run here (`RESNET_SERVE_NO_SIMD=1` turns them off, for comparison). */
export function simdAvailable(): boolean {
  return !process.env.RESNET_SERVE_NO_SIMD && exportsOf() !== null;
}

/** Byte offsets of consecutive blocks, each 16-aligned with 16 bytes of padding after it. */
function layout(sizes: number[]): { offsets: number[]; end: number } {
  const offsets: number[] = [];
  let at = 0;
  for (const size of sizes) {
    offsets.push(at);
    at = Math.ceil((at + size + 16) / 16) * 16;
  }
  return { offsets, end: at };
}

/**
 * The horizontal taps two at a time, each 22-bit weight split into its high
 * and low 11 bits as 16-bit lanes (the layout `horizontal3` reads: per output
 * pixel, `pairs` blocks of [a0 a1 a0 a1 a0 a1 0 0] high parts, then low parts).
 */
function pairedWeights(h: AxisCoefficients, count: number): { values: Int16Array; pairs: number } {
  const pairs = Math.ceil(h.ksize / 2);
  const values = new Int16Array(count * pairs * 16);
  for (let i = 0; i < count; i++) {
    const n = h.bounds[i * 2 + 1];
    for (let t = 0; t < n; t++) {
      const w = h.weights[i * h.ksize + t];
      const at = (i * pairs + (t >> 1)) * 16 + (t & 1);
      for (let c = 0; c < 3; c++) {
        values[at + c * 2] = w >> 11;
        values[at + 8 + c * 2] = w & 2047;
      }
    }
  }
  return { values, pairs };
}

/**
 * Resizes source rows `rowFirst .. rowFirst + rows - 1` of a 3-channel image
 * horizontally with `h` and then vertically with `v`, returning the
 * `width × height` window.
 */
export function resizeRgbSimd(src: RawImage, rowFirst: number, rows: number, h: AxisCoefficients, v: AxisCoefficients, width: number, height: number): Uint8Array {
  const wasm = exportsOf();
  if (!wasm) throw new Error('WebAssembly SIMD is not available');
  const srcStride = src.width * 3;
  const stride = width * 3;
  const hw = pairedWeights(h, width);
  const { offsets, end } = layout([rows * srcStride, h.bounds.byteLength, hw.values.byteLength, rows * stride, v.bounds.byteLength, v.weights.byteLength, height * stride]);
  const [srcAt, hBoundsAt, hWeightsAt, tmpAt, vBoundsAt, vWeightsAt, outAt] = offsets;
  const have = wasm.memory.buffer.byteLength;
  if (end > have) wasm.memory.grow(Math.ceil((end - have) / 65536));
  const heap = new Uint8Array(wasm.memory.buffer);
  heap.set(src.data.subarray(rowFirst * srcStride, (rowFirst + rows) * srcStride), srcAt);
  heap.set(new Uint8Array(h.bounds.buffer, h.bounds.byteOffset, h.bounds.byteLength), hBoundsAt);
  heap.set(new Uint8Array(hw.values.buffer), hWeightsAt);
  heap.set(new Uint8Array(v.bounds.buffer, v.bounds.byteOffset, v.bounds.byteLength), vBoundsAt);
  heap.set(new Uint8Array(v.weights.buffer, v.weights.byteOffset, v.weights.byteLength), vWeightsAt);
  wasm.horizontal3(srcAt, srcStride, rows, hBoundsAt, hWeightsAt, hw.pairs, width, tmpAt);
  wasm.vertical(tmpAt, stride, height, vBoundsAt, vWeightsAt, v.ksize, rowFirst, outAt);
  return heap.slice(outAt, outAt + height * stride);
}
