/**
 * The protobuf wire format, read and written field by field. Editing a
 * user's ONNX file (adding an output) must keep every byte we do not touch:
 * decoding it with a partial schema and encoding it again would drop the
 * fields the schema lacks. Here fields are located by their tags and copied
 * verbatim; only what we add is encoded.
 */

/** Wire types. */
export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;
export const FIXED32 = 5;

/** One field of a message: its number, wire type and where its value lies. */
export interface WireField {
  field: number;
  wire: number;
  /** Start of the whole field (its tag) in the buffer. */
  tagStart: number;
  /** Start and end of the value: the payload for length-delimited fields, the bytes otherwise. */
  start: number;
  end: number;
  /** The number, for varint fields. */
  varint?: number;
}

function malformed(what: string): Error {
  return new Error(`malformed protobuf: ${what}`);
}

/**
 * Reads a varint at `pos`; returns its value and the position after it.
 * Exact up to 2^53; a 10-byte varint is a negative int64 (two's complement),
 * as ONNX writes -1 for an axis or a dynamic dim.
 */
export function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw malformed('varint runs past the end');
    const byte = buf[pos++];
    value |= BigInt(byte & 0x7f) << BigInt(7 * i);
    if ((byte & 0x80) === 0) return [Number(BigInt.asIntN(64, value)), pos];
  }
  throw malformed('varint longer than 10 bytes');
}

/** The fields of the message in `buf[start, end)`, in order. */
export function* readFields(buf: Uint8Array, start = 0, end = buf.length): Generator<WireField> {
  let pos = start;
  while (pos < end) {
    const tagStart = pos;
    const [tag, afterTag] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw malformed('field number 0');
    pos = afterTag;
    if (wire === VARINT) {
      const [value, next] = readVarint(buf, pos);
      yield { field, wire, tagStart, start: pos, end: next, varint: value };
      pos = next;
    } else if (wire === FIXED64 || wire === FIXED32) {
      const size = wire === FIXED64 ? 8 : 4;
      if (pos + size > end) throw malformed('fixed field runs past the end');
      yield { field, wire, tagStart, start: pos, end: pos + size };
      pos += size;
    } else if (wire === LENGTH_DELIMITED) {
      const [length, payload] = readVarint(buf, pos);
      if (payload + length > end) throw malformed(`field ${field} of ${length} bytes runs past the end`);
      yield { field, wire, tagStart, start: payload, end: payload + length };
      pos = payload + length;
    } else {
      throw malformed(`wire type ${wire}`);
    }
  }
}

/** Encodes a non-negative integer as a varint. */
export function varint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/** A length-delimited field: tag, length, payload. */
export function lengthDelimited(field: number, payload: Uint8Array): Uint8Array {
  const tag = varint(field * 8 + LENGTH_DELIMITED);
  const length = varint(payload.length);
  const out = new Uint8Array(tag.length + length.length + payload.length);
  out.set(tag, 0);
  out.set(length, tag.length);
  out.set(payload, tag.length + length.length);
  return out;
}

/** The UTF-8 text of a length-delimited field. */
export function text(buf: Uint8Array, f: WireField): string {
  return Buffer.from(buf.buffer, buf.byteOffset + f.start, f.end - f.start).toString('utf8');
}

/** Packed or unpacked repeated varints of a field, appended to `out`. */
export function varints(buf: Uint8Array, f: WireField, out: number[]): void {
  if (f.wire === VARINT) {
    out.push(f.varint as number);
    return;
  }
  for (let pos = f.start; pos < f.end; ) {
    const [v, next] = readVarint(buf, pos);
    out.push(v);
    pos = next;
  }
}
