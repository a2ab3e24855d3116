/** Shared by loadtest.mjs and soak.mjs: start the real server on loopback with a model that works offline. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { OFFICIAL_CHECKPOINTS, defaultCacheDir, findCachedCheckpoint } from '../dist/model/weights.js';
import { REFERENCE_DIR } from '../dist/testing/shared.js';
import { writeRandomCheckpoint } from '../dist/testing/random-resnet.js';
import { multipart, startProcess, workDir } from './lib.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Starts `resnet-serve serve` with extra flags; returns {child, url, body (a 1920x1080 JPEG upload)}. */
export async function startServerUnderTest(flags = []) {
  const work = workDir('rs-load-');
  let model = findCachedCheckpoint(OFFICIAL_CHECKPOINTS.resnet18, defaultCacheDir()) ? 'resnet18' : join(REFERENCE_DIR, 'resnet18-seed0.pth');
  if (model !== 'resnet18' && !existsSync(model)) model = (await writeRandomCheckpoint('resnet18', 1)).path;
  const image = join(REFERENCE_DIR, 'images', 'seed-landscape-1920x1080.jpg');
  const bytes = existsSync(image)
    ? readFileSync(image)
    : await sharp({ create: { width: 1920, height: 1080, channels: 3, background: '#6a8' } }).jpeg().toBuffer();
  const port = 19000 + Math.floor(Math.random() * 1000);
  const env = { RESNET_SERVE_HOME: model === 'resnet18' ? defaultCacheDir() : join(work, 'cache') };
  const { child } = await startProcess(process.execPath, [join(ROOT, 'dist/cli/bin.js'), 'serve', '--port', String(port), '--model', model, ...flags], env, async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200);
  return { child, url: `http://127.0.0.1:${port}`, body: multipart(bytes), model };
}
