/** SIGTERM under load: readiness turns false, nothing accepted is lost, the process exits 0 within the grace period. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import sharp from 'sharp';
import { multipartBody, testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { scratchDir } from '../testing/scratch.js';
import { startServe } from '../testing/serve-process.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));

function post(port: number, body: { payload: Buffer; headers: Record<string, string> }): Promise<number | 'refused' | 'no answer'> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/predict', method: 'POST', headers: { ...body.headers, 'content-length': body.payload.length, connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'no answer'));
    req.end(body.payload);
  });
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} under load: every accepted request is answered, then exit 0`, async () => {
    const { path, dir } = await writeRandomCheckpoint('resnet18', 66);
    const home = await scratchDir('rs-stop-');
    const { child, port, stderr } = await startServe(BIN, ['--port', '0', '--model', path, '--workers', '1', '--grace-period-ms', '8000'], { PATH: process.env.PATH, HOME: home, RESNET_SERVE_HOME: join(dir, 'cache') });
    const body = multipartBody([{ field: 'file', filename: 'p.jpg', type: 'image/jpeg', data: await testPhoto(4, 1280, 960) }]);
    const accepted = Array.from({ length: 24 }, () => post(port, body));
    // Signal only once the server has accepted all 24 (its in-flight gauge counts them, plus this scrape).
    for (let i = 0; i < 500; i++) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      if (Number(/^resnet_http_requests_in_flight (\d+)/m.exec(text)?.[1]) >= 25) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const t0 = Date.now();
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await new Promise((r) => setTimeout(r, 50));
    const late = await post(port, body);
    const statuses = await Promise.all(accepted);
    const code = await exited;
    assert.deepEqual(statuses.filter((s) => s !== 200), [], `accepted requests: ${statuses.join(',')}`);
    // Still listening while the accepted ones are answered: one that comes (or was queued by the kernel) is told, not reset.
    assert.equal(late, 503, `a request after ${signal}`);
    assert.equal(code, 0, stderr());
    assert.ok(Date.now() - t0 < 8000 + 2000);
    assert.match(stderr(), new RegExp(`${signal}, finishing requests in flight`));
  });
}

test('SIGTERM while a photo is still uploading: the upload, accepted before, is answered once it arrives', async () => {
  const { path, dir } = await writeRandomCheckpoint('resnet18', 68);
  const home = await scratchDir('rs-stop-upload-');
  const { child, port, stderr } = await startServe(BIN, ['--port', '0', '--model', path, '--workers', '1', '--grace-period-ms', '8000'], { PATH: process.env.PATH, HOME: home, RESNET_SERVE_HOME: join(dir, 'cache') });
  const photo = await testPhoto(9, 640, 480);
  const half = Math.floor(photo.length / 2);
  let said = '';
  const socket = connect(port, '127.0.0.1');
  socket.on('data', (d) => (said += d.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  // A camera's keep-alive connection: the answer, sent while draining, closes it.
  socket.write(`POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\nContent-Length: ${photo.length}\r\nConnection: keep-alive\r\n\r\n`);
  socket.write(photo.subarray(0, half));
  await new Promise((r) => setTimeout(r, 200));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 250));
  // A supervisor repeating itself changes nothing: the drain goes on.
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 250));
  socket.write(photo.subarray(half));
  await closed;
  assert.match(said, /^HTTP\/1\.1 200/, said);
  assert.match(said, /\r\nconnection: close\r\n/i, said);
  assert.equal(await exited, 0, stderr());
  assert.match(stderr(), /SIGTERM again; still finishing requests in flight/);
});

test('SIGTERM during slow decodes and a stalled upload: each accepted request gets its result or a 503, and the process exits within the grace period', async () => {
  const { path, dir } = await writeRandomCheckpoint('resnet18', 67);
  const home = await scratchDir('rs-stop-slow-');
  // Short enough that the one worker cannot finish eight exact-mode decodes of 6 MP noise in time.
  const grace = 300;
  const { child, port, stderr } = await startServe(BIN, ['--port', '0', '--model', path, '--workers', '1', '--preprocess', 'exact', '--grace-period-ms', String(grace)], { PATH: process.env.PATH, HOME: home, RESNET_SERVE_HOME: join(dir, 'cache') });
  // Large noisy PNGs: in exact mode each keeps the one worker busy for a long while, so most are still queued at the signal.
  const noise = Buffer.alloc(3000 * 2000 * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
  const big = await sharp(noise, { raw: { width: 3000, height: 2000, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
  const body = { payload: big, headers: { 'content-type': 'image/png' } };
  const slow = Array.from({ length: 8 }, () => post(port, body));
  // And an upload that stalls halfway.
  const stalled = new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/png\r\nContent-Length: ${big.length}\r\n\r\n`);
      socket.write(big.subarray(0, 1000));
    });
    let said = '';
    socket.on('data', (d) => (said += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(said));
  });
  for (let i = 0; i < 500; i++) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    if (Number(/^resnet_http_requests_in_flight (\d+)/m.exec(text)?.[1]) >= 10) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const t0 = Date.now();
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const statuses = await Promise.all(slow);
  const stalledAnswer = await stalled;
  const code = await exited;
  const elapsed = Date.now() - t0;
  assert.deepEqual(statuses.filter((s) => s !== 200 && s !== 503), [], `answers: ${statuses.join(',')}`);
  assert.ok(statuses.includes(503), `some decodes were still running or queued at the end of the grace period: ${statuses.join(',')}`);
  assert.match(stalledAnswer, /^HTTP\/1\.1 503[\s\S]*NOT_READY/);
  assert.equal(code, 0, stderr());
  assert.ok(elapsed < grace + 1500, `exited after ${elapsed} ms`);
});

test('SIGTERM while a batch is in the model at the end of the grace period: the process waits for the batch and exits 0 (ending the model thread mid-run aborts)', async () => {
  const { path, dir } = await writeRandomCheckpoint('resnet18', 69);
  const home = await scratchDir('rs-stop-batch-');
  const grace = 50;
  // A partial batch waits up to 1 s for more, so the 64 photos go to the model as one batch (not in pieces, the last of
  // which could end within the grace period on a busy machine).
  const { child, port, stderr } = await startServe(BIN, ['--port', '0', '--model', path, '--workers', '1', '--max-files', '64', '--max-batch', '64', '--batch-wait-us', '1000000', '--grace-period-ms', String(grace)], { PATH: process.env.PATH, HOME: home, RESNET_SERVE_HOME: join(dir, 'cache') });
  const photo = await testPhoto(10, 64, 64);
  const body = multipartBody(Array.from({ length: 64 }, (_, i) => ({ field: 'file', filename: `p${i}.jpg`, type: 'image/jpeg', data: photo })));
  const answer = new Promise<number | 'no answer'>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/v1/classify', method: 'POST', headers: { ...body.headers, 'content-length': body.payload.length } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve('no answer'));
    req.end(body.payload);
  });
  // Signal once the photos' batch is in the model (the first may have gone alone, decoded in the model's thread while
  // the rest were uploading): it stays there far longer than the grace period (over 30 ResNet-18 runs).
  let inModel = 0;
  for (let i = 0; i < 2000 && inModel < 32; i++) {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    inModel = Number(/^resnet_images_in_model (\d+)/m.exec(text)?.[1]);
    if (inModel < 32) await new Promise((r) => setTimeout(r, 5));
  }
  assert.ok(inModel >= 32, `the photos' batch seen in the model (${inModel} images there)`);
  const exited = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  child.kill('SIGTERM');
  assert.ok([200, 503].includes(await answer as number), `the request's answer: ${await answer}`);
  assert.deepEqual(await exited, [0, null], stderr());
  assert.match(stderr(), /waited \d+ ms past the grace period for the batch in the model/);
});

test('Ctrl-C the moment "ready at" shows: the server drains and exits 0 (it listens for the stop before it prints)', async () => {
  const { path, dir } = await writeRandomCheckpoint('resnet18', 67);
  const home = await scratchDir('rs-stop-at-ready-');
  // Spawned here, not through startServe: the signal goes from the very callback that sees the line.
  const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--model', path], { env: { PATH: process.env.PATH, HOME: home, RESNET_SERVE_HOME: join(dir, 'cache') }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    const before = stderr;
    stderr += chunk;
    if (!/ready at/.test(before) && /ready at/.test(stderr)) child.kill('SIGINT');
  });
  const ended = await new Promise<number | NodeJS.Signals | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  assert.equal(ended, 0, stderr);
  assert.match(stderr, /resnet-serve: SIGINT, finishing requests in flight…\nresnet-serve: every request answered; stopped\n$/);
});
