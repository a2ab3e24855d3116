import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { scratchDir } from '../testing/scratch.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));

test('Ctrl-C while serve quantises its model: the stop is said, and the process ends by the signal', async () => {
  const root = await scratchDir('rs-stop-loading-');
  // A model and calibration of its own, so that it is quantised now (a few seconds), not found in a cache.
  const model = (await writeRandomCheckpoint('resnet18', 82)).path;
  const calibration = join(root, 'calibration');
  mkdirSync(calibration);
  for (let i = 0; i < 12; i++) writeFileSync(join(calibration, `cal ${i}.jpg`), await testPhoto(130 + i, 640, 480));
  const env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: join(root, 'cache') };
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--model', model, '--precision', 'int8', '--calibrate', calibration], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const quantising = new Promise<void>((resolve) => child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
    if (/Quantising the model to int8/.test(stderr)) resolve();
  }));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  await Promise.race([quantising, exited]);
  child.kill('SIGINT');
  const [code, signal] = await exited;
  assert.equal(signal ?? code, 'SIGINT', stderr);
  assert.match(stderr, /resnet-serve: SIGINT before the model was ready; stopped\n$/);
  assert.doesNotMatch(stderr, /ready at/);
});
