/** API key, CORS, path traversal and what the logs may contain. */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import type { ClassificationService } from '../classify/service.js';
import { multipartBody, startTestService, testPhoto } from '../testing/fixtures.js';
import { buildApp } from './app.js';

let service: ClassificationService;
let photo: Buffer;
const KEY = 's3cret-key-for-tests';

before(async () => {
  service = await startTestService({ workers: 1 });
  photo = await testPhoto(6);
});
after(() => service.close());

test('with an API key, every endpoint but health checks and the page needs Authorization: Bearer', async () => {
  const app = await buildApp({ service, processMetrics: false, access: { apiKey: KEY } });
  try {
    const upload = multipartBody([{ field: 'file', filename: 'a.jpg', type: 'image/jpeg', data: photo }]);
    for (const [method, url] of [['POST', '/predict'], ['POST', '/v1/classify'], ['GET', '/v1/models'], ['GET', '/metrics'], ['GET', '/v2/models/resnet18'], ['GET', '/openapi.json']] as const) {
      const none = await app.inject({ method, url, ...(method === 'POST' ? upload : {}) });
      assert.equal(none.statusCode, 401, url);
      assert.equal(none.json().code, 'UNAUTHORIZED');
      assert.equal(none.headers['www-authenticate'], 'Bearer');
      const wrong = await app.inject({ method, url, ...(method === 'POST' ? upload : {}), headers: { ...(method === 'POST' ? upload.headers : {}), authorization: `Bearer ${KEY}x` } });
      assert.equal(wrong.statusCode, 401, url);
      assert.equal(wrong.json().code, 'UNAUTHORIZED');
      assert.match(wrong.json().error, /The API key sent is not this server's/);
      assert.equal(wrong.headers['www-authenticate'], 'Bearer error="invalid_token"');
      assert.match(none.json().error, /needs an API key/);
    }
    const ok = await app.inject({ method: 'POST', url: '/predict', payload: upload.payload, headers: { ...upload.headers, authorization: `Bearer ${KEY}` } });
    assert.equal(ok.statusCode, 200);
    // The scheme is case-insensitive (RFC 9110).
    for (const scheme of ['bearer', 'BEARER', 'Bearer ']) {
      assert.equal((await app.inject({ url: '/v1/models', headers: { authorization: `${scheme} ${KEY}` } })).statusCode, 200, scheme);
    }
    assert.equal((await app.inject({ url: '/v1/models', headers: { authorization: `Basic ${KEY}` } })).statusCode, 401);
    for (const url of ['/healthz', '/livez', '/readyz', '/v2/health/live', '/v2/health/ready', '/ping', '/', '/app.js']) assert.equal((await app.inject(url)).statusCode, 200, url);
  } finally {
    await app.close();
  }
  await assert.rejects(buildApp({ service, access: { apiKey: 'short' } }), /at least 8 characters/);
});

test('an API key for changes only: anyone recognises photos and reads the heads; making, teaching, training and deleting heads need the key', async () => {
  const app = await buildApp({ service, processMetrics: false, access: { apiKey: KEY, keyFor: 'changes' } });
  try {
    const upload = multipartBody([{ field: 'file', filename: 'a.jpg', type: 'image/jpeg', data: photo }]);
    for (const [method, url] of [['POST', '/predict'], ['POST', '/v1/classify'], ['GET', '/v1/models'], ['GET', '/v1/heads'], ['GET', '/metrics'], ['GET', '/v2/models/resnet18']] as const) {
      const open = await app.inject({ method, url, ...(method === 'POST' ? upload : {}) });
      assert.equal(open.statusCode, 200, `${method} ${url}: ${open.body.slice(0, 200)}`);
      // The right key changes nothing there; a wrong one is refused, so a camera set up with a typo learns it at once.
      const sent = (authorization: string) => (method === 'POST' ? { payload: upload.payload, headers: { ...upload.headers, authorization } } : { headers: { authorization } });
      const keyed = await app.inject({ method, url, ...sent(`Bearer ${KEY}`) });
      assert.equal(keyed.statusCode, 200, `${method} ${url} with the key`);
      const wrong = await app.inject({ method, url, ...sent('Bearer wrongwrongwrong') });
      assert.deepEqual([wrong.statusCode, wrong.json().code, wrong.headers['www-authenticate']], [401, 'UNAUTHORIZED', 'Bearer error="invalid_token"'], `${method} ${url} with a wrong key`);
    }
    // Health checks answer whatever is sent.
    assert.equal((await app.inject({ url: '/readyz', headers: { authorization: 'Bearer wrongwrongwrong' } })).statusCode, 200);
    const changes = [
      ['POST', '/v1/heads'],
      // The router decodes the path: a change spelt another way is still a change.
      ['POST', '/v1/%68eads'],
      ['POST', '/v1/heads/class-pets/%74rain'],
      ['DELETE', '/v1/heads/class-pets'],
      ['POST', '/v1/heads/class-pets/classes'],
      ['POST', '/v1/heads/class-pets/examples?class=cat'],
      ['DELETE', '/v1/heads/class-pets/examples/1'],
      ['POST', '/v1/heads/class-pets/train'],
    ] as const;
    for (const [method, url] of changes) {
      const refused = await app.inject({ method, url, payload: method === 'POST' ? { name: 'class-pets' } : undefined });
      assert.equal(refused.statusCode, 401, `${method} ${url}`);
      assert.equal(refused.json().code, 'UNAUTHORIZED');
      const keyed = await app.inject({ method, url, payload: method === 'POST' ? { name: 'class-pets' } : undefined, headers: { authorization: `Bearer ${KEY}` } });
      assert.notEqual(keyed.statusCode, 401, `${method} ${url} with the key`);
    }
  } finally {
    await app.close();
  }
  await assert.rejects(buildApp({ service, access: { keyFor: 'changes' } }), /needs an API key/);
  await assert.rejects(buildApp({ service, access: { apiKey: KEY, keyFor: 'writes' as 'changes' } }), /access\.keyFor/);
});

test('with an API key, a client announcing a large upload ("Expect: 100-continue") hears about the key first', async () => {
  const app = await buildApp({ service, processMetrics: false, access: { apiKey: KEY }, limits: { maxUploadBytes: 1024 * 1024 } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  // What curl -T sends for a large file: headers, then the body only after "100 Continue".
  const announce = (authorization?: string, requestId?: string): Promise<{ statusCode?: number; headers: Record<string, unknown>; body: string }> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { 'content-type': 'image/jpeg', 'content-length': String(30 * 1024 * 1024), expect: '100-continue', ...(requestId ? { 'x-request-id': requestId } : {}) };
      if (authorization) headers.authorization = authorization;
      const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/predictions/resnet18', headers }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d)).on('end', () => resolve({ statusCode: res.statusCode, headers: res.headers, body }));
      });
      req.on('continue', () => reject(new Error('the server asked for the body')));
      req.on('error', reject);
    });
  try {
    const none = await announce(undefined, 'camera-7.42');
    assert.equal(none.statusCode, 401);
    // The caller's request id comes back even for a refusal made before any route ran; else one is made.
    assert.equal(none.headers['x-request-id'], 'camera-7.42');
    assert.equal(JSON.parse(none.body).code, 'UNAUTHORIZED');
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    const wrong = await announce(`Bearer ${KEY}x`);
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.headers['www-authenticate'], 'Bearer error="invalid_token"');
    const tooBig = await announce(`Bearer ${KEY}`);
    assert.equal(tooBig.statusCode, 413);
    assert.match(String(tooBig.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.equal(JSON.parse(tooBig.body).code, 'PAYLOAD_TOO_LARGE');
    // Refused before any route ran, and still counted under the route it was for, its answer time 0.
    const metrics = (await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${KEY}` } })).body;
    assert.match(metrics, /^resnet_http_requests_total\{route="\/predictions\/:model",method="PUT",status="401"\} 2$/m);
    assert.match(metrics, /^resnet_http_requests_total\{route="\/predictions\/:model",method="PUT",status="413"\} 1$/m);
    assert.match(metrics, /^resnet_http_errors_total\{route="\/predictions\/:model",code="PAYLOAD_TOO_LARGE"\} 1$/m);
    assert.match(metrics, /^resnet_http_request_duration_seconds_bucket\{le="0.001",route="\/predictions\/:model",status="413"\} 1$/m);
  } finally {
    await app.close();
  }
});

test('CORS is off by default and allows only the configured origins', async () => {
  const closed = await buildApp({ service, processMetrics: false });
  const open = await buildApp({ service, processMetrics: false, access: { corsOrigins: ['https://photos.example'] } });
  try {
    const preflight = { method: 'OPTIONS' as const, url: '/predict', headers: { origin: 'https://photos.example', 'access-control-request-method': 'POST' } };
    assert.equal((await closed.inject(preflight)).headers['access-control-allow-origin'], undefined);
    assert.equal((await open.inject(preflight)).headers['access-control-allow-origin'], 'https://photos.example');
    // Every method the API has: DELETE of a head and TorchServe's PUT too.
    const del = await open.inject({ ...preflight, url: '/v1/heads/x', headers: { ...preflight.headers, 'access-control-request-method': 'DELETE' } });
    assert.match(String(del.headers['access-control-allow-methods']), /\bDELETE\b/);
    assert.match(String(del.headers['access-control-allow-methods']), /\bPUT\b/);
    // A page on another origin may gzip v2 requests, and must read where a binary answer's JSON ends and when to retry.
    const gzipped = await open.inject({ ...preflight, url: '/v2/models/resnet18/infer', headers: { ...preflight.headers, 'access-control-request-headers': 'content-encoding,inference-header-content-length,authorization' } });
    assert.match(String(gzipped.headers['access-control-allow-headers']), /Content-Encoding/);
    const answer = await open.inject({ url: '/v2/models/resnet18', headers: { origin: 'https://photos.example' } });
    assert.match(String(answer.headers['access-control-expose-headers']), /Inference-Header-Content-Length/);
    assert.match(String(answer.headers['access-control-expose-headers']), /Retry-After/);
    const evil = await open.inject({ ...preflight, headers: { ...preflight.headers, origin: 'https://evil.example' } });
    assert.notEqual(evil.headers['access-control-allow-origin'], 'https://evil.example');
    assert.equal((await open.inject({ url: '/healthz', headers: { origin: 'https://evil.example' } })).headers['access-control-allow-origin'], undefined);
    // An OPTIONS that is no preflight (no Origin, no Access-Control-Request-Method) is answered, not refused in plain text.
    const plain = await open.inject({ method: 'OPTIONS', url: '/predict' });
    assert.equal(plain.statusCode, 204, plain.body);
    assert.match(String(plain.headers['access-control-allow-methods']), /\bPOST\b/);
  } finally {
    await closed.close();
    await open.close();
  }
});

test('paths cannot escape: static files and model names, URL-encoded too', async () => {
  const app = await buildApp({ service, processMetrics: false });
  try {
    for (const url of ['/../package.json', '/%2e%2e/package.json', '/..%2fpackage.json', '/web/../package.json', '/app.js/../../package.json', '/%2e%2e%2f%2e%2e%2fetc%2fpasswd', '/v2/models/..%2F..%2Fpackage.json', '/v2/models/%2e%2e/ready']) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, 404, url);
      assert.doesNotMatch(res.body, /"dependencies"|root:x:0/);
    }
    const res = await app.inject({ method: 'POST', url: '/predictions/..%2F..%2Fetc%2Fpasswd', payload: photo, headers: { 'content-type': 'image/jpeg' } });
    assert.equal(res.statusCode, 404);
  } finally {
    await app.close();
  }
});

test('logs never contain image bytes or the API key', async () => {
  let logged = '';
  const stream = new Writable({ write(chunk, _enc, done) { logged += chunk.toString(); done(); } });
  const app = await buildApp({ service, processMetrics: false, access: { apiKey: KEY }, logger: { level: 'trace', stream } });
  try {
    const upload = multipartBody([{ field: 'file', filename: 'a.jpg', type: 'image/jpeg', data: photo }]);
    await app.inject({ method: 'POST', url: '/predict', payload: upload.payload, headers: { ...upload.headers, authorization: `Bearer ${KEY}` } });
    await app.inject({ method: 'POST', url: '/predict', payload: Buffer.from('not an image'), headers: { 'content-type': 'image/jpeg', authorization: `Bearer ${KEY}` } });
    await app.inject({ method: 'POST', url: '/v1/classify', payload: Buffer.from('not an image'), headers: { 'content-type': 'image/jpeg', authorization: `Bearer ${KEY}`, 'x-request-id': 'v1-bad' } });
    assert.ok(logged.length > 0);
    assert.ok(!logged.includes(KEY));
    // A refusal's line says which (its code), not only the status.
    assert.match(logged, /"code":"IMAGE_UNSUPPORTED"/);
    // A caller's X-Request-Id names the request in the log and comes back; anything odd is replaced.
    const named = await app.inject({ url: '/v1/models', headers: { authorization: `Bearer ${KEY}`, 'x-request-id': 'cam-7/frame-42' } });
    assert.equal(named.headers['x-request-id'], 'cam-7/frame-42');
    assert.match(logged, /"reqId":"cam-7\/frame-42"/);
    // Probes and scrapes are not traffic: logged only when they fail (a scrape without the key).
    await app.inject({ url: '/healthz', headers: { 'x-request-id': 'probe-1' } });
    await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${KEY}`, 'x-request-id': 'scrape-1' } });
    assert.doesNotMatch(logged, /probe-1|scrape-1/);
    await app.inject({ url: '/metrics', headers: { 'x-request-id': 'scrape-2' } });
    // A key put in the address by mistake is refused (a parameter no route takes) and not logged.
    await app.inject({ url: `/v1/models?api_key=${KEY}&top_k=1`, headers: { 'x-request-id': 'key-in-url' } });
    assert.ok(!logged.includes(KEY));
    // One line per request, with what an operator greps for.
    const lines = logged
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.msg === 'request');
    const scrape = lines.filter((l) => l.reqId === 'scrape-2');
    assert.equal(scrape.length, 1);
    assert.deepEqual([scrape[0].method, scrape[0].url, scrape[0].route, scrape[0].status, scrape[0].code], ['GET', '/metrics', '/metrics', 401, 'UNAUTHORIZED']);
    assert.equal(lines.filter((l) => l.reqId === 'cam-7/frame-42').length, 1);
    assert.deepEqual(lines.filter((l) => l.reqId === 'key-in-url').map((l) => [l.url, l.status]), [['/v1/models?api_key=[redacted]&top_k=1', 401]]);
    // A photo /v1/classify could not read: its code too, as on every route.
    const v1 = lines.filter((l) => l.reqId === 'v1-bad');
    assert.deepEqual([v1.length, v1[0]?.route, v1[0]?.status, v1[0]?.code], [1, '/v1/classify', 415, 'IMAGE_UNSUPPORTED']);
    assert.equal(lines.filter((l) => l.route === '/predict').length, 2);
    assert.ok(lines.every((l) => typeof l.ms === 'number'));
    assert.doesNotMatch(logged, /incoming request|request completed/);
    const odd = await app.inject({ url: '/v1/models', headers: { authorization: `Bearer ${KEY}`, 'x-request-id': 'a b\u0000c' } });
    assert.match(String(odd.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    assert.ok(!logged.includes(photo.subarray(200, 232).toString('base64')));
    assert.ok(!logged.includes(photo.subarray(200, 232).toString('latin1')));
  } finally {
    await app.close();
  }
});
