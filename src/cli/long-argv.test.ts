import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, test } from 'node:test';
import sharp from 'sharp';
import { startServe } from '../testing/serve-process.js';
import { tinyClassifierOnnx } from '../testing/tiny-onnx.js';
import { scratchDir } from '../testing/scratch.js';

const BIN = fileURLToPath(new URL('./bin.js', import.meta.url));
let root: string;
let model: string;

interface Run { code: number | null; signal: NodeJS.Signals | null; pid: number; stdout: string; stderr: string }

function run(args: string[], home: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: home, RESNET_SERVE_HOME: join(home, 'cache') } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, pid: child.pid as number, stdout, stderr }));
  });
}

/** Every file under `dir`, relative. */
function listTree(dir: string, prefix = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listTree(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

before(async () => {
  root = await scratchDir('rs-argv-');
  model = join(root, 'tiny.onnx');
  writeFileSync(model, tinyClassifierOnnx(['N', 3, 224, 224], 1000));
});

test('a shell glob of 2,000 photos (a 100 KB command line) is classified, not a segfault', async () => {
  const dir = join(root, 'a folder with a rather long name, as photo folders have', 'holiday photos from the summer');
  mkdirSync(dir, { recursive: true });
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#336699' } }).png().toBuffer();
  const files = Array.from({ length: 2000 }, (_, i) => join(dir, `IMG_${String(i).padStart(5, '0')}.png`));
  for (const f of files) writeFileSync(f, png);
  assert.ok(files.join(' ').length > 100_000);
  const r = await run(['classify', ...files, '--model', model, '--json', '--top-k', '1'], join(root, 'home-glob'));
  assert.equal(r.signal, null, `killed by ${r.signal}`);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 2000);
  assert.deepEqual(lines.map((l) => l.file), files);
  assert.ok(lines.every((l) => l.predictions.length === 1));
});

test('ONNX Runtime telemetry is off: a classify run writes nothing under a fresh HOME and no /tmp/mat-debug file', async () => {
  const home = join(root, 'home-telemetry');
  mkdirSync(home);
  const photo = join(root, 'one.png');
  writeFileSync(photo, await sharp({ create: { width: 64, height: 48, channels: 3, background: '#a0a0a0' } }).png().toBuffer());
  const r = await run(['classify', photo, '--model', model], home);
  assert.equal(r.code, 0, r.stderr);
  const written = listTree(home).filter((f) => !f.startsWith('cache/'));
  assert.deepEqual(written, [], `files written under HOME: ${written.join(', ')}`);
  assert.equal(existsSync(join(tmpdir(), `mat-debug-${r.pid}.log`)), false);
  assert.equal(existsSync(`/tmp/mat-debug-${r.pid}.log`), false);
});

test('ONNX Runtime telemetry is off in the server too, whose session lives in a worker thread', async () => {
  const home = join(root, 'home-serve');
  mkdirSync(home);
  const server = await startServe(BIN, ['--port', '0', '--model', model], { PATH: process.env.PATH, HOME: home, RESNET_SERVE_HOME: join(home, 'cache') });
  try {
    const photo = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#a0a0a0' } }).jpeg().toBuffer();
    const answer = await fetch(`${server.url}/predict`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
    assert.equal(answer.status, 200, await answer.text());
  } finally {
    server.child.kill('SIGTERM');
    await new Promise((resolve) => server.child.once('exit', resolve));
  }
  const written = listTree(home).filter((f) => !f.startsWith('cache/'));
  assert.deepEqual(written, [], `files written under HOME: ${written.join(', ')}`);
  assert.equal(existsSync(`/tmp/mat-debug-${server.child.pid}.log`), false);
});
