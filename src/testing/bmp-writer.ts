/**
 * Test helper: writes BMP files the way common encoders do (BITMAPINFOHEADER,
 * 1/4/8-bit palettes, 16-bit 5-5-5, 24- and 32-bit, RLE8, bottom-up or
 * top-down), and hostile variants, for the decoder's tests and fuzz seeds.
 */

export interface BmpSpec {
  width: number;
  height: number;
  bitsPerPixel: 1 | 4 | 8 | 16 | 24 | 32;
  /** Row-major RGB for direct colour, palette indices for ≤ 8 bits. */
  pixels: Uint8Array;
  /** RGB triples for ≤ 8 bits. */
  palette?: Uint8Array;
  topDown?: boolean;
  /** Encode 8-bit pixels as RLE8 runs. */
  rle8?: boolean;
  /** Override the palette count field (hostile files). */
  declaredColours?: number;
}

function rle8(rows: Uint8Array[]): Buffer {
  const out: number[] = [];
  for (const row of rows) {
    for (let x = 0; x < row.length; ) {
      let run = 1;
      while (x + run < row.length && run < 255 && row[x + run] === row[x]) run++;
      out.push(run, row[x]);
      x += run;
    }
    out.push(0, 0);
  }
  out.push(0, 1);
  return Buffer.from(out);
}

/** The bytes of a BMP file for `spec`. */
export function writeBmp(spec: BmpSpec): Buffer {
  const { width, height, bitsPerPixel: bpp } = spec;
  const paletteCount = bpp <= 8 ? (spec.palette?.length ?? 0) / 3 : 0;
  const rows: Uint8Array[] = [];
  const rowBytes = Math.ceil((width * bpp) / 32) * 4;
  for (let y = 0; y < height; y++) {
    const srcY = spec.topDown ? y : height - 1 - y;
    if (spec.rle8) {
      rows.push(spec.pixels.subarray(srcY * width, (srcY + 1) * width));
      continue;
    }
    const row = new Uint8Array(rowBytes);
    for (let x = 0; x < width; x++) {
      const i = srcY * width + x;
      if (bpp <= 8) {
        const perByte = 8 / bpp;
        row[Math.floor(x / perByte)] |= spec.pixels[i] << (8 - bpp * ((x % perByte) + 1));
      } else if (bpp === 16) {
        const [r, g, b] = [spec.pixels[i * 3] >> 3, spec.pixels[i * 3 + 1] >> 3, spec.pixels[i * 3 + 2] >> 3];
        const v = (r << 10) | (g << 5) | b;
        row[x * 2] = v & 255;
        row[x * 2 + 1] = v >> 8;
      } else {
        const at = x * (bpp / 8);
        row[at] = spec.pixels[i * 3 + 2];
        row[at + 1] = spec.pixels[i * 3 + 1];
        row[at + 2] = spec.pixels[i * 3];
        if (bpp === 32) row[at + 3] = 255;
      }
    }
    rows.push(row);
  }
  const data = spec.rle8 ? rle8(rows) : Buffer.concat(rows);
  const pixelOffset = 14 + 40 + paletteCount * 4;
  const header = Buffer.alloc(pixelOffset);
  header.write('BM', 0, 'latin1');
  header.writeUInt32LE(pixelOffset + data.length, 2);
  header.writeUInt32LE(pixelOffset, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(width, 18);
  header.writeInt32LE(spec.topDown ? -height : height, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(bpp, 28);
  header.writeUInt32LE(spec.rle8 ? 1 : 0, 30);
  header.writeUInt32LE(data.length, 34);
  header.writeUInt32LE(spec.declaredColours ?? paletteCount, 46);
  for (let i = 0; i < paletteCount; i++) {
    const p = spec.palette as Uint8Array;
    header[54 + i * 4] = p[i * 3 + 2];
    header[54 + i * 4 + 1] = p[i * 3 + 1];
    header[54 + i * 4 + 2] = p[i * 3];
  }
  return Buffer.concat([header, data]);
}
