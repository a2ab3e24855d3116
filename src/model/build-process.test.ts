import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ResnetServeError, isResnetServeError } from '../errors.js';
import { cacheFolderError } from '../fs-atomic.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { scratchDir } from '../testing/scratch.js';
import { startServe } from '../testing/serve-process.js';
import { receivedError, sentError } from './build-process.js';

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
  assert.doesNotMatch(cached.stderr, /calibrat/, 'the second found it cached');
  // In this process, the builds left it 140–220 MB larger (fp32 322 against 181 MB, int8 385 against 166).
  assert.ok(built.mb < cached.mb + 40, `after building: ${built.mb.toFixed(0)} MB; from the cache: ${cached.mb.toFixed(0)} MB`);
});
