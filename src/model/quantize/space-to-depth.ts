/**
 * A stride-2 convolution over few channels (ResNet's first, 7×7 over RGB)
 * rewritten as a stride-1 convolution over four times the channels: the
 * padded input's 2×2 blocks become channels (ONNX `SpaceToDepth`), the
 * kernel's taps are regrouped the same way (a zero tap added where the
 * kernel's side is odd). Integer sums are exact, so the int8 result is the
 * same bit for bit; what changes is the kernel ONNX Runtime picks: over 3
 * channels its int8 convolution runs at a fraction of its speed over 12
 * (measured in docs/performance.md). Pure: the geometry and the weights.
 */

/** What the rewrite needs of a convolution. */
export interface ConvGeometry {
  /** Input channels per group and groups. */
  channels: number;
  group: number;
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** ONNX order: top, left, bottom, right. */
  pads: number[];
  /** `auto_pad`, when the graph sets one. */
  autoPad?: string;
}

/** The rewritten convolution: the `Pad` before `SpaceToDepth` and the new kernel. */
export interface SpaceToDepthLayout {
  /** ONNX `Pad` pads for an NCHW tensor: [0, 0, top, left, 0, 0, bottom, right]. */
  pads: number[];
  /** The stride-1 kernel's height and width. */
  kernel: [number, number];
  /** Input channels after the rewrite (4 × before). */
  channels: number;
}

/** Convolutions over at most this many channels are rewritten (ONNX Runtime's int8 kernel is fast from 4 on). */
export const MAX_REWRITTEN_CHANNELS = 3;

const BLOCK = 2;

/** The stride-1 layout for `conv` reading a `height`×`width` input, or null when the rewrite does not apply. */
export function spaceToDepthLayout(conv: ConvGeometry, height: number, width: number): SpaceToDepthLayout | null {
  const { kernel, strides, dilations, pads } = conv;
  if (conv.group !== 1 || conv.channels < 1 || conv.channels > MAX_REWRITTEN_CHANNELS) return null;
  if (conv.autoPad !== undefined && conv.autoPad !== 'NOTSET') return null;
  if (kernel.length !== 2 || strides.length !== 2 || pads.length !== 4) return null;
  if (strides.some((s) => s !== BLOCK) || dilations.some((d) => d !== 1) || kernel.some((k) => k < BLOCK)) return null;
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) return null;
  const [top, left, bottom, right] = pads;
  const side = (size: number, before: number, after: number, k: number): [number, number] | null => {
    const out = Math.floor((size + before + after - k) / BLOCK) + 1;
    const k2 = Math.ceil(k / BLOCK);
    // The padded side that gives `out` outputs of the k2 kernel; it may add one zero row the added zero taps read.
    const end = BLOCK * (out + k2 - 1) - size - before;
    return out >= 1 && end >= 0 ? [k2, end] : null;
  };
  const h = side(height, top, bottom, kernel[0]);
  const w = side(width, left, right, kernel[1]);
  if (!h || !w) return null;
  return { pads: [0, 0, top, left, 0, 0, h[1], w[1]], kernel: [h[0], w[0]], channels: conv.channels * BLOCK * BLOCK };
}

/**
 * `values` (output channel first: `[out, channels, kh, kw]`) regrouped for
 * the stride-1 kernel: `[out, 4·channels, ⌈kh/2⌉, ⌈kw/2⌉]`, new channel
 * `(dy·2 + dx)·channels + c` holding tap `(2·ky + dy, 2·kx + dx)` of channel
 * `c`, as `SpaceToDepth` orders its blocks.
 */
export function spaceToDepthWeights<T extends Int8Array | Float32Array>(values: T, dims: readonly number[]): { values: T; dims: number[] } {
  const [out, channels, kh, kw] = dims;
  if (dims.length !== 4 || values.length !== out * channels * kh * kw) throw new RangeError(`${values.length} weights do not fit dims [${dims.join(', ')}]`);
  const k2h = Math.ceil(kh / BLOCK);
  const k2w = Math.ceil(kw / BLOCK);
  const c2 = channels * BLOCK * BLOCK;
  const result = new (values.constructor as new (n: number) => T)(out * c2 * k2h * k2w);
  for (let o = 0; o < out; o++) {
    for (let c = 0; c < channels; c++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) {
          const channel = ((y % BLOCK) * BLOCK + (x % BLOCK)) * channels + c;
          result[((o * c2 + channel) * k2h + (y >> 1)) * k2w + (x >> 1)] = values[((o * channels + c) * kh + y) * kw + x];
        }
      }
    }
  }
  return { values: result, dims: [out, c2, k2h, k2w] };
}
