import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ResnetServeError, isResnetServeError } from '../errors.js';
import { cacheFolderError } from '../fs-atomic.js';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { scratchDir } from '../testing/scratch.js';
import { startServe } from '../testing/serve-process.js';
import { childEnded, receivedError, sentError } from './build-process.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));

test('an error crosses from the build process as it was thrown: code, message and cause for ours, code and path for the system\'s', async () => {
  const ours = receivedError(sentError(new ResnetServeError('MODEL_INVALID', 'm.onnx cannot be quantised', { cause: new Error('in /cache/onnx/x.onnx') })));
  assert.ok(isResnetServeError(ours, 'MODEL_INVALID'));
  assert.equal(ours.message, 'm.onnx cannot be quantised');
  assert.equal((ours.cause as Error).message, 'in /cache/onnx/x.onnx');
  const denied = Object.assign(new Error("EACCES: permission denied, open '/cache/onnx/x.onnx'"), { code: 'EACCES', path: '/cache/onnx/x.onnx', syscall: 'open', errno: -13 });
  const system = receivedError(sentError(denied)) as NodeJS.ErrnoException;
  assert.deepEqual([system.code, system.path, system.syscall, system.errno, system.message], ['EACCES', '/cache/onnx/x.onnx', 'open', -13, denied.message]);
  // So the cache folder's refusal is still said in one sentence.
  assert.ok(isResnetServeError(cacheFolderError(system, '/cache'), 'IO_ERROR'));
});

test('a model built on start (converted, quantised, optimised) is built in a child process: the server is no larger than one that found it cached', { skip: existsSync('/proc/self') ? false : 'reads the server\'s RSS from /proc (Linux)' }, async () => {
  const { path: checkpoint } = await writeRandomCheckpoint('resnet18', 3);
  const env = {
    ...process.env,
    RESNET_SERVE_HOME: await scratchDir('rs-build-'),
    // As `npm start` runs it.
    MALLOC_ARENA_MAX: '2',
    MALLOC_MMAP_THRESHOLD_: '4194304',
    MALLOC_TRIM_THRESHOLD_: '4194304',
    NODE_OPTIONS: '--max-semi-space-size=1',
  };
  const readyRss = async (): Promise<{ mb: number; stderr: string }> => {
    const server = await startServe(BIN, ['--port', '0', '--model', checkpoint, '--precision', 'int8', '--workers', '1'], env);
    try {
      const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1]);
      return { mb: kb / 1024, stderr: server.stderr() };
    } finally {
      const exited = new Promise((resolve) => server.child.once('exit', resolve));
      server.child.kill('SIGTERM');
      await exited;
    }
  };
  const built = await readyRss();
  assert.match(built.stderr, /calibrated on 24 photos/, 'the first start quantised');
  const cached = await readyRss();
  assert.doesNotMatch(cached.stderr, /Quantising/, 'the second found it cached');
  // Built in this process, the model left it 140–180 MB larger (fp32 322 against 181 MB, int8 340 against 159).
  assert.ok(built.mb < cached.mb + 40, `after building: ${built.mb.toFixed(0)} MB; from the cache: ${cached.mb.toFixed(0)} MB`);
});

test('a build process that ended without an answer: stopped from outside is not blamed on the model, a crash is', () => {
  assert.ok(isResnetServeError(childEnded('m.pth', null, 'SIGKILL', ''), 'INTERNAL'));
  assert.match(childEnded('m.pth', null, 'SIGKILL', '').message, /out of memory, perhaps.*next start tries again/);
  assert.ok(isResnetServeError(childEnded('m.pth', 143, null, ''), 'INTERNAL'));
  assert.match(childEnded('m.pth', null, 'SIGINT', '').message, /stopped \(SIGINT\); nothing was cached/);
  const crashed = childEnded('m.onnx', null, 'SIGSEGV', 'some line\nterminate called');
  assert.ok(isResnetServeError(crashed, 'MODEL_INVALID'));
  assert.match(crashed.message, /killed by SIGSEGV \(terminate called\)/);
});

/** The processes whose parent is `pid` and whose command line mentions `name`. */
function childrenOf(pid: number, name: string): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const ppid = Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1].split(' ')[1]);
      return ppid === pid && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(name);
    } catch {
      return false;
    }
  }).map(Number);
}

test('classify stopped by SIGTERM while its model is quantised: the build process stops too, leaving no temporary graph', { skip: existsSync('/proc/self') ? false : 'reads processes from /proc (Linux)' }, async () => {
  const { path: checkpoint } = await writeRandomCheckpoint('resnet18', 4);
  const home = await scratchDir('rs-build-stop-');
  const photo = join(home, 'p.png');
  writeFileSync(photo, await testPhoto(2, 64, 48, 'png'));
  const cli = spawn(process.execPath, [BIN, 'classify', photo, '--model', checkpoint, '--precision', 'int8'], { env: { ...process.env, RESNET_SERVE_HOME: home }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    cli.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (/calibrating/.test(stderr)) resolve();
    });
    cli.once('exit', () => reject(new Error(`classify ended before calibrating: ${stderr}`)));
  });
  const builders = childrenOf(cli.pid!, 'build-child');
  assert.equal(builders.length, 1, 'one build process, calibrating');
  const exited = new Promise((resolve) => cli.once('exit', (_code, signal) => resolve(signal)));
  cli.kill('SIGTERM');
  assert.equal(await exited, 'SIGTERM');
  // Its parent gone without handling the signal: the build process sees its channel close and stops.
  const until = Date.now() + 10_000;
  while (existsSync(`/proc/${builders[0]}`) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.equal(existsSync(`/proc/${builders[0]}`), false, 'the build process still runs after its parent ended');
  const left = readdirSync(join(home, 'onnx'));
  assert.deepEqual(left.filter((n) => /\.tmp/.test(n)), [], 'no temporary graph is left');
  // Stopped, not finished: it was at its first calibration photo of 24.
  assert.deepEqual(left.filter((n) => /-int8-/.test(n)), [], 'the build went on to the end');
});

test('int8 of a user\'s ONNX file with a cache folder that cannot be written: said as the cache folder, not as a bad model', { skip: existsSync('/proc/self') ? false : 'needs /proc (Linux)' }, async () => {
  const { path: checkpoint } = await writeRandomCheckpoint('resnet18', 5);
  const home = await scratchDir('rs-build-ro-');
  const photo = join(home, 'p.png');
  writeFileSync(photo, await testPhoto(3, 64, 48, 'png'));
  const run = (args: string[], env: NodeJS.ProcessEnv) => promisify(execFile)(process.execPath, [BIN, ...args], { env: { ...process.env, ...env } }).then(() => ({ code: 0, stderr: '' }), (err: { code: number; stderr: string }) => err);
  // An fp32 ONNX classifier of the user's own: the graph built from a checkpoint.
  assert.equal((await run(['classify', photo, '--model', checkpoint], { RESNET_SERVE_HOME: home })).code, 0);
  const onnx = join(home, 'onnx', readdirSync(join(home, 'onnx')).find((n) => /-g\d+\.onnx$/.test(n))!);
  const refused = await run(['classify', photo, '--model', onnx, '--precision', 'int8'], { RESNET_SERVE_HOME: '/proc/resnet-serve-int8-cache' });
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /error IO_ERROR: Cannot write to the cache folder \/proc\/resnet-serve-int8-cache/);
});
