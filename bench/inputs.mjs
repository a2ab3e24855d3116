/** The model and photos a bench script runs on, chosen the same way by every script. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { OFFICIAL_CHECKPOINTS, defaultCacheDir, findCachedCheckpoint } from '../dist/model/weights.js';
import { REFERENCE_DIR } from '../dist/testing/shared.js';
import { writeRandomCheckpoint } from '../dist/testing/random-resnet.js';

/**
 * `--model F` from the arguments, else the cached official ResNet-18, else
 * ../shared's seed-0, else a generated random-weight ResNet-18 (same
 * architecture, same compute).
 */
export async function chooseModel(argv) {
  const i = argv.indexOf('--model');
  if (i >= 0) return { model: argv[i + 1], pth: argv[i + 1].endsWith('.pth') ? argv[i + 1] : null, note: argv[i + 1] };
  const official = findCachedCheckpoint(OFFICIAL_CHECKPOINTS.resnet18, defaultCacheDir());
  if (official) return { model: 'resnet18', pth: official, note: `official ResNet-18 (${official})` };
  const seed = join(REFERENCE_DIR, 'resnet18-seed0.pth');
  if (existsSync(seed)) return { model: seed, pth: seed, note: 'ResNet-18 seed-0 from ../shared (random weights, same compute as the official)' };
  const { path } = await writeRandomCheckpoint('resnet18', 1);
  return { model: path, pth: path, note: 'generated random-weight ResNet-18 (same compute as the official)' };
}

/** The reference photo `name` from ../shared, else a smooth noise JPEG of that size written into `dir`. */
export async function imageFile(name, width, height, dir) {
  const shared = join(REFERENCE_DIR, 'images', name);
  if (existsSync(shared)) return shared;
  const noise = Buffer.alloc(width * height * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  const path = join(dir, name);
  writeFileSync(path, await sharp(noise, { raw: { width, height, channels: 3 } }).blur(3).jpeg({ quality: 90 }).toBuffer());
  return path;
}
