import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { testPhoto } from '../testing/fixtures.js';
import { scratchDir } from '../testing/scratch.js';
import { tinyClassifierOnnx } from '../testing/tiny-onnx.js';
import { fsPath } from '../library/paths.js';
import { argumentsAsKeys } from './raw-argv.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x2e, 0x6a, 0x70, 0x67]); // "café.jpg" in Latin-1

test('an argument Node could not decode becomes the key of its exact bytes; every other stays as it is', () => {
  const decoded = latin1.toString('utf8');
  assert.ok(decoded.includes('\uFFFD'));
  const line = [Buffer.from('node'), Buffer.from('--stack-size=900'), Buffer.from('bin.js'), Buffer.from('classify'), latin1, Buffer.from('été.jpg')];
  const keys = argumentsAsKeys(['classify', decoded, 'été.jpg'], line);
  assert.equal(keys[0], 'classify');
  assert.deepEqual(fsPath(keys[1]), latin1, 'the exact bytes');
  assert.equal(keys[2], 'été.jpg');
  // Bytes that are not what Node decoded there (a command line it cannot line up with) are never used.
  assert.deepEqual(argumentsAsKeys(['classify', decoded], [Buffer.from('classify'), Buffer.from('other.jpg')]), ['classify', decoded]);
  assert.deepEqual(argumentsAsKeys(['classify', decoded], null), ['classify', decoded]);
});

test('classify takes a file whose name is not UTF-8, named on the command line', { skip: !existsSync('/proc/self/cmdline') && 'needs /proc (Linux)' }, async () => {
  const dir = await scratchDir('rs-raw-argv-');
  const model = join(dir, 'tiny.onnx');
  writeFileSync(model, tinyClassifierOnnx(['N', 3, 224, 224], 1000));
  writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), latin1]), await testPhoto(3, 64, 48));
  // The shell passes the byte as it is (Node's own spawn would encode the argument as UTF-8).
  const script = `exec "$NODE" "$BIN" classify "$(printf '%s/caf\\351.jpg' "$DIR")" --model "$MODEL" --json`;
  const env = { PATH: process.env.PATH, HOME: dir, RESNET_SERVE_HOME: join(dir, 'cache'), NODE: process.execPath, BIN, DIR: dir, MODEL: model };
  const { stdout } = await promisify(execFile)('/bin/sh', ['-c', script], { env });
  const line = JSON.parse(stdout);
  assert.equal(line.file, `${dir}/caf\\xe9.jpg`, 'shown as ls -b shows it');
  assert.equal(line.width, 64);
  assert.ok(line.predictions.length > 0);
});
