import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { testPhoto } from '../testing/fixtures.js';
import { interruptWhileQuantising } from '../testing/interrupt-quantising.js';
import { scratchDir } from '../testing/scratch.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));

test('Ctrl-C while serve quantises its model: the stop is said, and the process ends by the signal', async () => {
  const root = await scratchDir('rs-stop-loading-');
  const env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: join(root, 'cache') };
  const { endedBy, stderr } = await interruptWhileQuantising(BIN, ['serve', '--port', '0'], env, 82);
  assert.equal(endedBy, 'SIGINT', stderr);
  assert.match(stderr, /resnet-serve: SIGINT before the model was ready; stopped\n$/);
  assert.doesNotMatch(stderr, /ready at/);
});

test('the terminal closing while serve quantises (a hang-up to the whole group): the build process leaves no half-written graph', async () => {
  const root = await scratchDir('rs-hangup-loading-');
  const env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: join(root, 'cache') };
  const { endedBy, stderr } = await interruptWhileQuantising(BIN, ['serve', '--port', '0'], env, 83, { signal: 'SIGHUP', group: true });
  assert.equal(endedBy, 'SIGHUP', stderr);
  const cached = readdirSync(join(root, 'cache', 'onnx'));
  assert.ok(cached.some((name) => name.endsWith('.onnx')), `the fp32 graph was cached before quantising: ${cached.join(', ')}`);
  assert.deepEqual(cached.filter((name) => name.includes('.tmp')), [], 'temporary files left in the cache');
});

test('Ctrl-C while classify quantises its model: said as for serve, and the process ends by the signal', async () => {
  const root = await scratchDir('rs-stop-classify-');
  const photo = join(root, 'photo.jpg');
  writeFileSync(photo, await testPhoto(84, 320, 240));
  const env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: join(root, 'cache') };
  const { endedBy, stderr } = await interruptWhileQuantising(BIN, ['classify', photo], env, 84);
  assert.equal(endedBy, 'SIGINT', stderr);
  assert.match(stderr, /resnet-serve: SIGINT before the model was ready; stopped\n$/);
});
