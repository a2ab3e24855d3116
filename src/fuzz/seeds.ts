/** Seed images for fuzzing: the reference images under 400 KB when ../shared exists, else generated ones in every format. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { encode as encodeBmp } from 'bmp-ts';
import { REFERENCE_DIR, skipWithoutReference } from '../testing/shared.js';
import { testPhoto } from '../testing/fixtures.js';

export async function fuzzSeeds(): Promise<[string, Buffer][]> {
  if (!skipWithoutReference) {
    const dir = join(REFERENCE_DIR, 'images');
    return readdirSync(dir)
      .filter((f) => statSync(join(dir, f)).size < 400_000)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f))]);
  }
  const photo = await testPhoto(5, 320, 240);
  const abgr = Buffer.alloc(16 * 16 * 4, 128);
  return [
    ['generated.jpg', photo],
    ['generated-progressive.jpg', await sharp(photo).jpeg({ progressive: true }).toBuffer()],
    ['generated.png', await sharp(photo).png().toBuffer()],
    ['generated-gray.png', await sharp(photo).toColourspace('b-w').png().toBuffer()],
    ['generated.gif', await sharp(photo).gif().toBuffer()],
    ['generated.webp', await sharp(photo).webp({ lossless: true }).toBuffer()],
    ['generated.tiff', await sharp(photo).tiff().toBuffer()],
    ['generated.bmp', encodeBmp({ data: abgr, width: 16, height: 16, bitPP: 24 }).data],
  ];
}
