/** Seed images for fuzzing: the reference images under 400 KB when ../shared exists, else generated ones in every format. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { REFERENCE_DIR, skipWithoutReference } from '../testing/shared.js';
import { testPhoto } from '../testing/fixtures.js';
import { writeBmp } from '../testing/bmp-writer.js';

export async function fuzzSeeds(): Promise<[string, Buffer][]> {
  if (!skipWithoutReference) {
    const dir = join(REFERENCE_DIR, 'images');
    return readdirSync(dir)
      .filter((f) => statSync(join(dir, f)).size < 400_000)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f))]);
  }
  const photo = await testPhoto(5, 320, 240);
  return [
    ['generated.jpg', photo],
    ['generated-progressive.jpg', await sharp(photo).jpeg({ progressive: true }).toBuffer()],
    ['generated.png', await sharp(photo).png().toBuffer()],
    ['generated-gray.png', await sharp(photo).toColourspace('b-w').png().toBuffer()],
    ['generated.gif', await sharp(photo).gif().toBuffer()],
    ['generated.webp', await sharp(photo).webp({ lossless: true }).toBuffer()],
    ['generated.tiff', await sharp(photo).tiff().toBuffer()],
    ['generated.bmp', writeBmp({ width: 16, height: 16, bitsPerPixel: 24, pixels: new Uint8Array(16 * 16 * 3).fill(128) })],
  ];
}
