/**
 * The arithmetic of static int8 quantisation in ONNX's QDQ format, apart
 * from any graph: uint8 activation parameters from a calibrated range,
 * per-channel symmetric int8 weights, and int32 biases on the scale the
 * quantised convolution accumulates in (input scale × weight scale).
 */

/** Scale and zero point of one uint8 activation tensor. */
export interface ActivationParams {
  scale: number;
  zeroPoint: number;
}

/**
 * uint8 parameters covering `[min, max]`, widened to include 0 so that zero
 * (ReLU's floor, padding) is exact, as ONNX Runtime's quantiser does.
 */
export function activationParams(min: number, max: number): ActivationParams {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (!(hi > lo) || !Number.isFinite(hi - lo)) return { scale: 1, zeroPoint: 0 };
  const scale = Math.fround((hi - lo) / 255);
  const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
  return { scale, zeroPoint };
}

/** Per-channel weights: int8 values and one scale per output channel. */
export interface ChannelWeights {
  values: Int8Array;
  scales: Float32Array;
}

/**
 * Quantises `weights` (output channel first, `channels` of them)
 * symmetrically per channel to `[-qmax, qmax]`: 127 for full 8 bits, 63 for
 * 7 bits (`reduceRange`), which keeps pairs of u8×s8 products inside int16 on
 * CPUs without VNNI.
 */
export function quantizeChannels(weights: Float32Array, channels: number, reduceRange: boolean): ChannelWeights {
  if (channels <= 0 || weights.length % channels !== 0) throw new RangeError(`${weights.length} weights do not split into ${channels} channels`);
  const per = weights.length / channels;
  const qmax = reduceRange ? 63 : 127;
  const values = new Int8Array(weights.length);
  const scales = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let absMax = 0;
    for (let i = c * per; i < (c + 1) * per; i++) absMax = Math.max(absMax, Math.abs(weights[i]));
    const scale = absMax > 0 ? Math.fround(absMax / qmax) : 1;
    scales[c] = scale;
    for (let i = c * per; i < (c + 1) * per; i++) values[i] = Math.max(-qmax, Math.min(qmax, Math.round(weights[i] / scale)));
  }
  return { values, scales };
}

/** A bias as int32 on the scale `inputScale × weightScale[c]`, with those scales. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { values: Int32Array; scales: Float32Array } {
  if (bias.length !== weightScales.length) throw new RangeError(`${bias.length} biases for ${weightScales.length} channels`);
  const values = new Int32Array(bias.length);
  const scales = new Float32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const scale = Math.fround(inputScale * weightScales[c]);
    scales[c] = scale;
    values[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, Math.round(bias[c] / scale)));
  }
  return { values, scales };
}

/** Running minimum and maximum of a tensor over calibration batches. */
export class RangeTracker {
  min = Infinity;
  max = -Infinity;

  /** Widens the range to cover `values`. */
  observe(values: Float32Array): void {
    let { min, max } = this;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    this.min = min;
    this.max = max;
  }
}
