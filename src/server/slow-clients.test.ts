/** Slow and stalled clients are timed out and freed; idle connections do not starve real ones. */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import type { ClassificationService } from '../classify/service.js';
import { startTestService, testPhoto } from '../testing/fixtures.js';
import { buildApp, type ResnetApp } from './app.js';

let service: ClassificationService;
let app: ResnetApp;
let port: number;

before(async () => {
  service = await startTestService({ workers: 1 });
  app = await buildApp({ service, processMetrics: false, limits: { headersTimeoutMs: 1000, bodyTimeoutMs: 1500, keepAliveTimeoutMs: 1000 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
});
after(async () => {
  await app.close();
  await service.close();
});

function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves with the ms until the server closes the socket (and what it said). */
function closedAfter(socket: Socket): Promise<{ ms: number; said: string }> {
  const t0 = Date.now();
  let said = '';
  socket.on('data', (d) => (said += d.toString()));
  socket.on('error', () => {});
  return new Promise((resolve) => socket.once('close', () => resolve({ ms: Date.now() - t0, said })));
}

test('slow headers are cut off', async () => {
  const s = await open();
  s.write('POST /predict HTTP/1.1\r\nHost: x\r\n');
  const r = await closedAfter(s);
  assert.ok(r.ms < 5000, `closed after ${r.ms} ms`);
  assert.ok(r.said === '' || /^HTTP\/1\.1 408/.test(r.said), r.said);
});

test('an upload that stops halfway is cut off and freed: 408 with its request id, counted once under its route, not as a client that left', async () => {
  const before = (await app.inject('/metrics')).body;
  const s = await open();
  s.write('POST /predict HTTP/1.1\r\nHost: x\r\nX-Request-Id: cam-7/frame-42\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n');
  s.write(Buffer.alloc(30_000, 1));
  const r = await closedAfter(s);
  assert.ok(r.ms < 6000, `closed after ${r.ms} ms`);
  assert.match(r.said, /^HTTP\/1\.1 408[\s\S]*"code":"REQUEST_TIMEOUT"/);
  assert.match(r.said, /\r\nX-Request-Id: cam-7\/frame-42\r\n/i, 'the caller can find it in the log');
  await new Promise((resolve) => setTimeout(resolve, 100));
  const after = (await app.inject('/metrics')).body;
  assert.equal(counted(after, '408', '/predict'), counted(before, '408', '/predict') + 1, 'under its route');
  assert.equal(counted(after, '408'), counted(before, '408') + 1, 'once');
  assert.equal(counted(after, '499'), counted(before, '499'), 'it did not leave: it was cut off');
});

test('an upload refused as too large, then cut short by its client, is counted once, as the 413 it got', async () => {
  const before = (await app.inject('/metrics')).body;
  const s = await open();
  const answered = closedAfter(s);
  s.write('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 50000000\r\n\r\n');
  s.write(Buffer.alloc(20_000, 1));
  await new Promise((resolve) => setTimeout(resolve, 300));
  // As curl does once it has its answer: stops sending and closes.
  s.end();
  const r = await answered;
  assert.match(r.said, /^HTTP\/1\.1 413/);
  await new Promise((resolve) => setTimeout(resolve, 100));
  const after = (await app.inject('/metrics')).body;
  assert.equal(counted(after, '413', '/predict'), counted(before, '413', '/predict') + 1);
  assert.equal(counted(after, '499'), counted(before, '499'), 'no client "left" before its answer');
});

test('a slow body (a trickle of bytes) is cut off too', async () => {
  const s = await open();
  s.write('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n');
  const trickle = setInterval(() => s.writable && s.write(Buffer.alloc(10, 1)), 100);
  const r = await closedAfter(s);
  clearInterval(trickle);
  assert.ok(r.ms < 6000, `closed after ${r.ms} ms`);
});

test('200 idle connections are held while normal requests are served', async () => {
  const idle = await Promise.all(Array.from({ length: 200 }, () => open()));
  try {
    const photo = await testPhoto(1);
    for (let i = 0; i < 3; i++) {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(photo)]), 'p.jpg');
      const res = await fetch(`http://127.0.0.1:${port}/predict`, { method: 'POST', body: form });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).length, 3);
    }
  } finally {
    for (const s of idle) s.destroy();
  }
});

/** Requests counted with `status` in a metrics text, over all routes and methods. */
function counted(text: string, status: string, route = '[^"]*'): number {
  const lines = text.split('\n').filter((l) => new RegExp(`^resnet_http_requests_total\\{route="${route}",method="[^"]*",status="${status}"\\} `).test(l));
  return lines.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

test('a client that leaves mid-upload is counted once as 499 (nginx\'s "client closed"), under its route, never as a 400 it was not sent', async () => {
  const before = await app.inject('/metrics');
  const count = (text: string, status: string): number => counted(text, status);
  const s = await open();
  s.write('POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n');
  s.write(Buffer.alloc(20_000, 1));
  await new Promise((r) => setTimeout(r, 100));
  s.end();
  await closedAfter(s);
  await new Promise((r) => setTimeout(r, 100));
  const after = await app.inject('/metrics');
  assert.equal(count(after.body, '499'), count(before.body, '499') + 1, after.body.split('\n').filter((l) => l.startsWith('resnet_http_requests_total')).join('\n'));
  assert.equal(counted(after.body, '499', '/predict'), counted(before.body, '499', '/predict') + 1, 'under its route');
  assert.equal(count(after.body, '400'), count(before.body, '400'));
});

test('a client that leaves while its photo is being classified is counted as 499 under its route', async () => {
  const big = await testPhoto(9, 4000, 3000);
  const before = (await app.inject('/metrics')).body;
  const s = await open();
  s.write(`POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${big.length}\r\n\r\n`);
  s.write(big);
  // The whole photo is sent; the client gives up before the answer.
  await new Promise((r) => setTimeout(r, 15));
  s.destroy();
  const deadline = Date.now() + 5000;
  let after = before;
  while (counted(after, '499', '/predict') === counted(before, '499', '/predict') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    after = (await app.inject('/metrics')).body;
  }
  assert.equal(counted(after, '499', '/predict'), counted(before, '499', '/predict') + 1);
  assert.equal(counted(after, '499'), counted(before, '499') + 1, 'once');
});

test('a keep-alive longer than the headers timeout (behind a load balancer): an idle connection is kept that long, then closed', async () => {
  const lasting = await buildApp({ service, processMetrics: false, limits: { headersTimeoutMs: 1000, keepAliveTimeoutMs: 2500 } });
  await lasting.listen({ host: '127.0.0.1', port: 0 });
  const socket = connect((lasting.server.address() as { port: number }).port, '127.0.0.1');
  try {
    let said = '';
    socket.on('data', (d) => (said += d.toString()));
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    const ask = async (): Promise<void> => {
      said = '';
      socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
      const t0 = Date.now();
      while (!/\r\n\r\n[\s\S]*ok/i.test(said) && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 20));
      assert.match(said, /^HTTP\/1\.1 200/);
    };
    await ask();
    // Idle past the headers timeout, within the keep-alive: the same connection still answers.
    await new Promise((r) => setTimeout(r, 1600));
    await ask();
    const answered = Date.now();
    const gone = await closed;
    assert.ok(gone - answered >= 2000 && gone - answered < 6000, `closed ${gone - answered} ms after the last answer`);
  } finally {
    socket.destroy();
    await lasting.close();
  }
});
