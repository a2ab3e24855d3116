/**
 * Image mutators for fuzzing: bit flips, truncation, PNG chunk and JPEG
 * marker shuffles, header field changes, inserted and duplicated bytes.
 * Pure functions of the input and a seeded random source.
 */

export type Random = () => number;

const int = (rand: Random, n: number): number => Math.floor(rand() * n);

/** PNG chunks after the signature: [offset, total length]. */
function pngChunks(b: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let p = 8; p + 12 <= b.length; ) {
    const len = b.readUInt32BE(p);
    if (p + 12 + len > b.length) break;
    out.push([p, 12 + len]);
    p += 12 + len;
  }
  return out;
}

/** JPEG segments between SOI and SOS: [offset, total length]. */
function jpegSegments(b: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let p = 2; p + 4 <= b.length && b[p] === 0xff; ) {
    const marker = b[p + 1];
    const len = b.readUInt16BE(p + 2);
    if (marker === 0xda || p + 2 + len > b.length) break;
    out.push([p, 2 + len]);
    p += 2 + len;
  }
  return out;
}

function swap(b: Buffer, parts: [number, number][], rand: Random): Buffer {
  if (parts.length < 2) return b;
  const i = int(rand, parts.length);
  let j = int(rand, parts.length);
  if (j === i) j = (i + 1) % parts.length;
  const [a, c] = i < j ? [parts[i], parts[j]] : [parts[j], parts[i]];
  return Buffer.concat([b.subarray(0, a[0]), b.subarray(c[0], c[0] + c[1]), b.subarray(a[0] + a[1], c[0]), b.subarray(a[0], a[0] + a[1]), b.subarray(c[0] + c[1])]);
}

function drop(b: Buffer, parts: [number, number][], rand: Random): Buffer {
  if (!parts.length) return b;
  const [o, l] = parts[int(rand, parts.length)];
  return Buffer.concat([b.subarray(0, o), b.subarray(o + l)]);
}

/** Mutators by name. */
export const MUTATORS: Record<string, (b: Buffer, rand: Random) => Buffer> = {
  bitflip(b, rand) {
    const out = Buffer.from(b);
    for (let n = 1 + int(rand, 8); n > 0; n--) out[int(rand, out.length)] ^= 1 << int(rand, 8);
    return out;
  },
  truncate: (b, rand) => b.subarray(0, int(rand, b.length)),
  shuffleStructure(b, rand) {
    if (b[0] === 0x89) return rand() < 0.5 ? swap(b, pngChunks(b), rand) : drop(b, pngChunks(b), rand);
    if (b[0] === 0xff) return rand() < 0.5 ? swap(b, jpegSegments(b), rand) : drop(b, jpegSegments(b), rand);
    return MUTATORS.bitflip(b, rand);
  },
  headerField(b, rand) {
    const out = Buffer.from(b);
    const values = [0, 1, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff, int(rand, 70000)];
    const v = values[int(rand, values.length)];
    if (out[0] === 0x89 && out.length > 24) out.writeUInt32BE(v >>> 0, 16 + 4 * int(rand, 2));
    else if (out[0] === 0xff) {
      const sof = jpegSegments(out).find(([o]) => out[o + 1] >= 0xc0 && out[o + 1] <= 0xc3);
      if (sof) out.writeUInt16BE(v & 0xffff, sof[0] + 5 + 2 * int(rand, 2));
    } else if (out.length > 10) out.writeUInt16LE(v & 0xffff, 6 + 2 * int(rand, 2));
    return out;
  },
  insert(b, rand) {
    const at = int(rand, b.length);
    const junk = Buffer.from(Array.from({ length: 1 + int(rand, 64) }, () => int(rand, 256)));
    return Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
  },
  duplicate(b, rand) {
    const from = int(rand, b.length);
    const len = Math.min(b.length - from, 1 + int(rand, 4096));
    const at = int(rand, b.length);
    return Buffer.concat([b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)]);
  },
};

/** Applies 1–3 random mutators; returns the mutant and their names. */
export function mutate(source: Buffer, rand: Random): { bytes: Buffer; how: string[] } {
  const names = Object.keys(MUTATORS);
  let bytes = source;
  const how: string[] = [];
  for (let n = 1 + int(rand, 3); n > 0; n--) {
    const name = names[int(rand, names.length)];
    bytes = MUTATORS[name](bytes, rand);
    how.push(name);
  }
  return { bytes, how };
}
