/**
 * Vectors in files and databases: float32 and float16 arrays as bytes or
 * base64 (IEEE 754 half precision, round to nearest even), unit vectors as
 * int8 with a scale, and the mean of two embeddings. Pure functions.
 */
import { fromHalf, toHalf } from '../float16.js';

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
