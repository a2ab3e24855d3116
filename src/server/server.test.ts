/** The listening server: real multipart streaming, concurrency, health under load, reference answers over HTTP. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { REFERENCE_DIR, referenceCases, skipWithoutReference } from '../testing/shared.js';
import { networkUrls, startServer, type RunningServer } from './server.js';
import { scratchDir } from '../testing/scratch.js';
import { isResnetServeError } from '../errors.js';

type SeedAnswer = { label: string; confidence: number }[];

async function predict(url: string, images: { bytes: Buffer; name: string }[], query = ''): Promise<{ status: number; body: unknown }> {
  const form = new FormData();
  for (const img of images) form.append('file', new Blob([new Uint8Array(img.bytes)], { type: 'image/jpeg' }), img.name);
  const res = await fetch(`${url}/predict${query}`, { method: 'POST', body: form });
  return { status: res.status, body: await res.json() };
}

describe('a listening server on a generated ResNet-18', () => {
  let server: RunningServer;
  const photos: Buffer[] = [];
  const expected: SeedAnswer[] = [];

  before(async () => {
    const { path } = await writeRandomCheckpoint('resnet18', 33);
    server = await startServer({ port: 0, service: { model: path, cacheDir: await scratchDir('rs-srv-'), workers: 2, threads: 2 } });
    for (let i = 0; i < 5; i++) photos.push(await testPhoto(10 + i, 800, 600));
    for (const bytes of photos) expected.push((await predict(server.url, [{ bytes, name: 'p.jpg' }])).body as SeedAnswer);
  });
  after(() => server.close());

  test('50 parallel requests are all answered, each with its own image\'s answer', async () => {
    const jobs = Array.from({ length: 50 }, (_, i) => predict(server.url, [{ bytes: photos[i % photos.length], name: `p${i}.jpg` }]));
    const results = await Promise.all(jobs);
    results.forEach((r, i) => {
      assert.equal(r.status, 200);
      assert.deepEqual((r.body as SeedAnswer).map((p) => p.label), expected[i % photos.length].map((p) => p.label), `request ${i}`);
    });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.ok(Number(/resnet_batch_size_sum (\d+)/.exec(metrics)?.[1]) >= 55);
  });

  test('several files in one streamed multipart request come back in upload order', async () => {
    const r = await predict(server.url, photos.map((bytes, i) => ({ bytes, name: `${i}.jpg` })));
    assert.equal(r.status, 200);
    assert.deepEqual((r.body as SeedAnswer[]).map((a) => a.map((p) => p.label)), expected.map((a) => a.map((p) => p.label)));
  });

  test('health checks answer while classification is busy', async () => {
    let pending = 40;
    const heavy = Array.from({ length: 40 }, (_, i) => predict(server.url, [{ bytes: photos[i % 5], name: 'h.jpg' }]).finally(() => pending--));
    await new Promise((r) => setTimeout(r, 20));
    const health = await fetch(`${server.url}/healthz`);
    const stillPending = pending;
    assert.equal(health.status, 200);
    assert.ok(stillPending > 0, 'the health check came back before the classification work finished');
    await Promise.all(heavy);
  });

  test('closing drains: readiness turns false and an accepted request is still answered', async () => {
    const { path } = await writeRandomCheckpoint('resnet18', 34);
    const other = await startServer({ port: 0, service: { model: path, cacheDir: await scratchDir('rs-srv-'), workers: 1, threads: 1 } });
    const inFlight = predict(other.url, [{ bytes: photos[0], name: 'x.jpg' }]);
    // Close only once the request has been accepted and is being worked on.
    while (other.service.inFlight === 0) await new Promise((r) => setTimeout(r, 1));
    const closing = other.close();
    assert.equal(other.app.holder.ready, false);
    const answered = await inFlight;
    assert.equal(answered.status, 200);
    await closing;
  });
});

describe('over HTTP, answers equal torchvision\'s on the reference images', { skip: skipWithoutReference }, () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ port: 0, service: { model: join(REFERENCE_DIR, 'resnet18-seed0.pth'), cacheDir: await scratchDir('rs-srv-ref-'), preprocess: 'exact' } });
  });
  after(() => server.close());

  test('top-3 from POST /predict equals the reference top-3', async (t) => {
    const labels = readFileSync(join(REFERENCE_DIR, 'imagenet-classes.txt'), 'utf8').trim().split('\n');
    const cases = referenceCases().filter((c) => c.file !== 'cmyk.jpg');
    let same = 0;
    for (const c of cases) {
      const r = await predict(server.url, [{ bytes: readFileSync(join(REFERENCE_DIR, 'images', c.file)), name: c.file }]);
      assert.equal(r.status, 200, c.file);
      if ((r.body as SeedAnswer).map((p) => p.label).join('|') === c.top5.slice(0, 3).map((i) => labels[i]).join('|')) same++;
    }
    t.diagnostic(`top-3 identical over HTTP on ${same}/${cases.length}`);
    assert.ok(same >= cases.length - 3, `${same}/${cases.length}`);
  });
});

test('listening on every interface, the addresses other devices can open are named; on one address, none', () => {
  const interfaces = {
    lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' }],
    eth0: [
      { address: '192.168.1.20', netmask: '255.255.255.0', family: 'IPv4', mac: '02:00:00:00:00:01', internal: false, cidr: '192.168.1.20/24' },
      { address: 'fe80::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: 'fe80::1/64', scopeid: 2 },
      { address: '2001:db8::20', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '02:00:00:00:00:01', internal: false, cidr: '2001:db8::20/64', scopeid: 0 },
    ],
  } as const;
  const given = interfaces as unknown as Parameters<typeof networkUrls>[2];
  assert.deepEqual(networkUrls('0.0.0.0', 8080, given), ['http://192.168.1.20:8080']);
  assert.deepEqual(networkUrls('::', 8080, given), ['http://192.168.1.20:8080', 'http://[2001:db8::20]:8080']);
  assert.deepEqual(networkUrls('127.0.0.1', 8080, given), []);
  assert.deepEqual(networkUrls('192.168.1.20', 8080, given), []);
});

test('startServer names a misplaced or unknown option, and a port that is not one, before anything loads', async () => {
  const refused = (options: object, message: RegExp): Promise<void> =>
    assert.rejects(startServer(options as Parameters<typeof startServer>[0]), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && message.test(err.message), String(message));
  await refused({ port: 0, model: 'x.onnx' }, /^Unknown option "model" of startServer: the model's options go under service \(startServer\(\{ service: \{ model: … \} \}\)\)$/);
  await refused({ port: 0, bogus: 1 }, /^Unknown option "bogus" of startServer; its options are host, port, service/);
  await refused({ port: '8080x' }, /for port but received string "8080x"$/);
  await refused({ port: 70000 }, /an integer from 0 to 65535 for port/);
});

test('once close() has resolved, nothing of the server keeps the process alive for the rest of the grace period', async () => {
  const { path } = await writeRandomCheckpoint('resnet18', 35);
  const cacheDir = await scratchDir('rs-srv-exit-');
  const server = fileURLToPath(new URL('./server.js', import.meta.url));
  const script = `import { startServer } from ${JSON.stringify(server)};
const s = await startServer({ port: 0, gracePeriodMs: 120000, service: { model: ${JSON.stringify(path)}, cacheDir: ${JSON.stringify(cacheDir)}, workers: 1, threads: 1 } });
await s.close();
console.log('closed');`;
  const file = join(cacheDir, 'start-and-close.mjs');
  writeFileSync(file, script);
  // With a timer left for the 120 s grace period the child would still be running when this one gives up.
  const r = await new Promise<{ code: number | string | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [file], { timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal ?? 'killed') : 0, stdout, stderr }));
  });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'closed\n');
});
