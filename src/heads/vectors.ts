/**
 * Vectors in files and databases: float32 and float16 arrays as bytes or
 * base64 (IEEE 754 half precision, round to nearest even), unit vectors as
 * int8 with a scale, and the mean of two embeddings. Pure functions.
 */

/** float32 → IEEE half bits (round to nearest even; overflow to infinity). */
export function toHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  let e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    if (rest > midpoint || (rest === midpoint && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (half & 1))) half++;
  e = half >> 10;
  return sign | (e >= 0x1f ? 0x7c00 : half);
}

/** IEEE half bits → number. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : sign * Infinity;
  return sign * 2 ** (e - 15) * (1 + f / 1024);
}

/** Little-endian float16 bytes of `values`. */
export function halfBytes(values: ArrayLike<number>): Buffer {
  const out = Buffer.alloc(values.length * 2);
  for (let i = 0; i < values.length; i++) out.writeUInt16LE(toHalf(values[i]), i * 2);
  return out;
}

/** Values of little-endian float16 bytes. */
export function fromHalfBytes(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(Math.floor(bytes.length / 2));
  for (let i = 0; i < out.length; i++) out[i] = fromHalf(view.getUint16(i * 2, true));
  return out;
}

/** Little-endian float32 bytes of `values` (a copy). */
export function floatBytes(values: ArrayLike<number>): Buffer {
  const f = Float32Array.from(values);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

/** Values of little-endian float32 bytes (a copy, so the result is aligned). */
export function fromFloatBytes(bytes: Uint8Array): Float32Array {
  const copy = new Uint8Array(bytes);
  return new Float32Array(copy.buffer, 0, Math.floor(copy.length / 4));
}

/** The element-wise mean of two vectors of equal length. */
export function meanOf(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] + b[i]) / 2;
  return out;
}

/**
 * A vector scaled to unit length, then quantised to int8 with one float32
 * scale: 4 + n bytes (516 for ResNet-18), cosine similarities within ~1e-3.
 */
export function unitInt8Bytes(values: ArrayLike<number>): Buffer {
  let norm = 0;
  for (let i = 0; i < values.length; i++) norm += values[i] * values[i];
  norm = Math.sqrt(norm) || 1;
  let max = 0;
  for (let i = 0; i < values.length; i++) max = Math.max(max, Math.abs(values[i] / norm));
  const scale = max / 127 || 1;
  const out = Buffer.alloc(4 + values.length);
  out.writeFloatLE(scale, 0);
  for (let i = 0; i < values.length; i++) out.writeInt8(Math.round(values[i] / norm / scale), 4 + i);
  return out;
}

/** The int8 values and scale of {@link unitInt8Bytes}. */
export function fromUnitInt8Bytes(bytes: Uint8Array): { values: Int8Array; scale: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { scale: view.getFloat32(0, true), values: new Int8Array(bytes.buffer.slice(bytes.byteOffset + 4, bytes.byteOffset + bytes.byteLength)) };
}
