import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { defaultCacheDir, downloadVerified, findCachedCheckpoint, hashPrefixOf, isDefaultModel, offlineInstructions, torchHubCheckpointDir } from './weights.js';
import { scratchDir } from '../testing/scratch.js';

const payload = Buffer.alloc(3 * 1024 * 1024, 7);
const payloadSha = createHash('sha256').update(payload).digest('hex');
let server: Server;
let base = '';

before(async () => {
  server = createServer((req, res) => {
    if (req.url === '/file.bin') {
      res.writeHead(200, { 'content-length': payload.length });
      res.end(payload);
    } else if (req.url === '/redirect') {
      res.writeHead(302, { location: '/file.bin' });
      res.end();
    } else if (req.url === '/short') {
      res.writeHead(200, { 'content-length': payload.length });
      res.write(payload.subarray(0, 1000));
      res.destroy();
    } else {
      res.writeHead(404);
      res.end('no');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  base = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
after(() => server.close());

test('downloads through a temporary file, reports progress and verifies the hash prefix', async () => {
  const dir = await scratchDir('rs-weights-');
  const dest = join(dir, 'sub', 'model-abc.pth');
  const seen: [number, number | null][] = [];
  await downloadVerified(`${base}/redirect`, dest, payloadSha.slice(0, 8), (r, t) => seen.push([r, t]));
  assert.deepEqual(readFileSync(dest), payload);
  assert.ok(seen.length > 1);
  assert.deepEqual(seen[seen.length - 1], [payload.length, payload.length]);
  assert.ok(seen.every(([r], i) => i === 0 || r >= seen[i - 1][0]));
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['model-abc.pth']);
});

test('a hash mismatch deletes the file and says so', async () => {
  const dir = await scratchDir('rs-weights-');
  const dest = join(dir, 'resnet18-f37072fd.pth');
  await assert.rejects(
    downloadVerified(`${base}/file.bin`, dest, 'f37072fd'),
    (err: unknown) => isResnetServeError(err, 'MODEL_CHECKSUM') && err.message.includes(payloadSha) && err.message.includes('f37072fd'),
  );
  assert.deepEqual(readdirSync(dir), []);
});

test('the proxy the environment names is used, as curl and npm use it (HTTP_PROXY, http_proxy; HTTPS_PROXY for https, proxy.test.ts), and NO_PROXY is honoured', async () => {
  // A proxy as corporate networks have: CONNECT to the target, then bytes both ways.
  const tunnels: string[] = [];
  const proxy = createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req, client: Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const saved = Object.fromEntries(['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy'].map((k) => [k, process.env[k]]));
  try {
    for (const name of ['HTTP_PROXY', 'http_proxy']) {
      for (const k of Object.keys(saved)) delete process.env[k];
      process.env[name] = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const dir = await scratchDir('rs-weights-');
      tunnels.length = 0;
      await downloadVerified(`${base}/file.bin`, join(dir, 'a.pth'), payloadSha.slice(0, 8));
      assert.deepEqual(readFileSync(join(dir, 'a.pth')), payload);
      assert.deepEqual(tunnels, [new URL(base).host], name);
    }
    process.env.NO_PROXY = '127.0.0.1';
    tunnels.length = 0;
    const dir = await scratchDir('rs-weights-');
    await downloadVerified(`${base}/file.bin`, join(dir, 'b.pth'), payloadSha.slice(0, 8));
    assert.deepEqual(tunnels, [], 'NO_PROXY: straight there');
    // A proxy that is not there: the download fails with the usual code, naming the file.
    for (const k of Object.keys(saved)) delete process.env[k];
    process.env.HTTP_PROXY = 'http://127.0.0.1:1';
    await assert.rejects(downloadVerified(`${base}/file.bin`, join(dir, 'c.pth'), 'ab'), (err: unknown) => isResnetServeError(err, 'MODEL_NOT_FOUND') && /Could not download .* \(through the proxy http:\/\/127\.0\.0\.1:1 of HTTP_PROXY\)/.test(err.message));
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    proxy.close();
  }
});

test('HTTP errors and cut connections leave nothing behind', async () => {
  const dir = await scratchDir('rs-weights-');
  await assert.rejects(downloadVerified(`${base}/missing`, join(dir, 'a.pth'), 'ab'), (err: unknown) => isResnetServeError(err, 'MODEL_NOT_FOUND') && /404/.test(err.message));
  await assert.rejects(downloadVerified(`${base}/short`, join(dir, 'b.pth'), 'ab'), (err: unknown) => isResnetServeError(err, 'MODEL_NOT_FOUND'));
  assert.deepEqual(readdirSync(dir), []);
});

test('cache folders follow RESNET_SERVE_HOME, XDG_CACHE_HOME and TORCH_HOME', () => {
  assert.equal(defaultCacheDir({ RESNET_SERVE_HOME: '/a', XDG_CACHE_HOME: '/x' }), '/a');
  assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x' }), '/x/resnet-serve');
  assert.equal(torchHubCheckpointDir({ TORCH_HOME: '/t', XDG_CACHE_HOME: '/x' }), '/t/hub/checkpoints');
  assert.equal(torchHubCheckpointDir({ XDG_CACHE_HOME: '/x' }), '/x/torch/hub/checkpoints');
  assert.equal(hashPrefixOf('resnet18-f37072fd.pth'), 'f37072fd');
  assert.equal(hashPrefixOf('model.pth'), null);
});

test("PyTorch's hub cache is used before ours", async () => {
  const root = await scratchDir('rs-hub-');
  const env = { TORCH_HOME: join(root, 'torch') };
  const ours = join(root, 'ours');
  assert.equal(findCachedCheckpoint('resnet18-f37072fd.pth', ours, env), null);
  mkdirSync(join(ours, 'checkpoints'), { recursive: true });
  writeFileSync(join(ours, 'checkpoints', 'resnet18-f37072fd.pth'), 'x');
  assert.equal(findCachedCheckpoint('resnet18-f37072fd.pth', ours, env), join(ours, 'checkpoints', 'resnet18-f37072fd.pth'));
  mkdirSync(torchHubCheckpointDir(env), { recursive: true });
  writeFileSync(join(torchHubCheckpointDir(env), 'resnet18-f37072fd.pth'), 'x');
  assert.equal(findCachedCheckpoint('resnet18-f37072fd.pth', ours, env), join(root, 'torch', 'hub', 'checkpoints', 'resnet18-f37072fd.pth'));
  assert.ok(existsSync(join(ours, 'checkpoints', 'resnet18-f37072fd.pth')));
});

test('offline instructions name the file, where to put it and --model', () => {
  const text = offlineInstructions('resnet18-f37072fd.pth', 'https://download.pytorch.org/models/resnet18-f37072fd.pth', '/c', { TORCH_HOME: '/t' });
  assert.match(text, /Download https:\/\/download\.pytorch\.org\/models\/resnet18-f37072fd\.pth/);
  assert.match(text, /\/c\/checkpoints\/resnet18-f37072fd\.pth/);
  assert.match(text, /\/t\/hub\/checkpoints\/resnet18-f37072fd\.pth/);
  assert.match(text, /--model/);
  assert.match(text, /could not be downloaded/);
  // Offline mode never tried: it says so rather than blaming the network.
  const offline = offlineInstructions('resnet18-f37072fd.pth', 'https://download.pytorch.org/models/resnet18-f37072fd.pth', '/c', { TORCH_HOME: '/t' }, false);
  assert.match(offline, /were not downloaded \(offline mode: --offline or RESNET_SERVE_OFFLINE\)/);
  assert.doesNotMatch(offline, /could not be downloaded/);
});

test('inside the container, the instructions say what to mount or bake, not where files go inside', () => {
  const text = offlineInstructions('resnet18-f37072fd.pth', 'https://download.pytorch.org/models/resnet18-f37072fd.pth', '/var/cache/resnet-serve', { TORCH_HOME: '/opt/resnet-serve/torch', RESNET_SERVE_IN_CONTAINER: '1' });
  assert.match(text, /docker run -v \/path\/to\/resnet18-f37072fd\.pth:\/opt\/resnet-serve\/torch\/hub\/checkpoints\/resnet18-f37072fd\.pth:ro/);
  assert.match(text, /BAKE_MODEL=1/);
  assert.doesNotMatch(text, /--model/);
  // In a Kubernetes pod, docker run means nothing: a volume mounted at the same place does.
  const pod = offlineInstructions('resnet18-f37072fd.pth', 'https://download.pytorch.org/models/resnet18-f37072fd.pth', '/var/cache/resnet-serve', { TORCH_HOME: '/opt/resnet-serve/torch', RESNET_SERVE_IN_CONTAINER: '1', KUBERNETES_SERVICE_HOST: '10.96.0.1' });
  assert.doesNotMatch(pod, /docker run/);
  assert.match(pod, /volumeMounts: \[\{mountPath: \/opt\/resnet-serve\/torch\/hub\/checkpoints, readOnly: true\}\]/);
});

test('the default model is recognised by the hash torchvision put in its file name', () => {
  assert.equal(isDefaultModel('f37072fd47e89c7572ba3c4bd2e8c3c0e9b2e5b5f0a1b2c3d4e5f60718293a4b'), true);
  assert.equal(isDefaultModel('fc816856325d0f2aba6c73481f85e661442487268571185ea239b0b58255a39d'), false);
});
