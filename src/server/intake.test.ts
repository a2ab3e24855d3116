/** Request bodies: bounds that hold whatever the client sends, and refusals every client can read. */
import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { connect, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { ClassificationService } from '../classify/service.js';
import { multipartBody, startTestService, testPhoto } from '../testing/fixtures.js';
import { buildApp, type ResnetApp } from './app.js';

const MB = 1024 * 1024;
let service: ClassificationService;
let app: ResnetApp;
let port: number;
let photo: Buffer;

before(async () => {
  service = await startTestService({ workers: 1, batching: { maxQueue: 16 } });
  app = await buildApp({ service, processMetrics: false, limits: { maxUploadBytes: 4 * MB, maxInflightBytes: 6 * MB } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
  photo = await testPhoto(8);
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

/** Reads one HTTP/1.1 response (Content-Length framed) from a socket. */
function readResponse(socket: Socket): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const headers = data.subarray(0, end).toString();
      const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      socket.off('data', onData);
      resolve({ status: Number(headers.split(' ')[1]), headers, body: data.subarray(end + 4, end + 4 + length).toString() });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** Writes a whole request (headers and body) before reading anything, as Python's requests and Triton's client do. */
async function sendAllThenRead(socket: Socket, path: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; headers: string; body: string }> {
  const head = [`POST ${path} HTTP/1.1`, 'Host: test', `Content-Length: ${body.length}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
  const response = readResponse(socket);
  socket.write(head);
  await new Promise<void>((resolve, reject) => socket.write(body, (err) => (err ? reject(err) : resolve())));
  return response;
}

describe('refusals reach clients that send the whole body first', () => {
  test('a body over the limit gets its 413, and the connection serves the next request', async () => {
    const socket = await open();
    try {
      for (const path of ['/predict', '/v2/models/resnet18/infer', '/predictions/resnet18']) {
        const refused = await sendAllThenRead(socket, path, { 'Content-Type': 'image/jpeg' }, Buffer.alloc(6 * MB, 1));
        assert.equal(refused.status, 413, path);
        assert.equal(JSON.parse(refused.body).code, 'PAYLOAD_TOO_LARGE');
      }
      const next = await sendAllThenRead(socket, '/predict', { 'Content-Type': 'image/jpeg' }, photo);
      assert.equal(next.status, 200, next.body);
    } finally {
      socket.destroy();
    }
  });

  test('a client that asks to close the connection (Python\'s urllib) gets its 413, not a reset', async () => {
    for (const path of ['/predict', '/v2/models/resnet18/infer']) {
      const socket = await open();
      try {
        const refused = await sendAllThenRead(socket, path, { 'Content-Type': 'image/jpeg', Connection: 'close' }, Buffer.alloc(6 * MB, 1));
        assert.equal(refused.status, 413, path);
        assert.equal(JSON.parse(refused.body).code, 'PAYLOAD_TOO_LARGE');
      } finally {
        socket.destroy();
      }
    }
  });

  test('a chunked body that passes the limit while arriving gets its 413 too', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'image/jpeg' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 6; i++) controller.enqueue(new Uint8Array(MB));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    assert.equal((await res.json()).code, 'PAYLOAD_TOO_LARGE');
  });
});

describe('memory bounds', () => {
  test('the limit is per request, not per file: many large parts are refused at the limit', async () => {
    const parts = Array.from({ length: 8 }, (_, i) => ({ field: 'file', filename: `${i}.jpg`, type: 'image/jpeg', data: Buffer.alloc(MB, i) }));
    const res = await app.inject({ method: 'POST', url: '/predict', ...multipartBody(parts) });
    assert.equal(res.statusCode, 413);
    assert.match(res.json().error, /every file in it together; the server's --max-upload-mb sets it/);
  });

  test('parts of other fields are skipped without keeping them, and the images still classified', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/predict',
      ...multipartBody([
        { field: 'notes', filename: 'big.bin', type: 'application/octet-stream', data: Buffer.alloc(3 * MB, 7) },
        { field: 'file', filename: 'a.jpg', type: 'image/jpeg', data: photo },
      ]),
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().length, 3);
  });

  test('a photo under a field the route does not read, beside one it reads, is refused rather than left out of the answer', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/predict',
      ...multipartBody([
        { field: 'file', filename: 'a.jpg', type: 'image/jpeg', data: photo },
        { field: 'image', filename: 'b.jpg', type: 'image/jpeg', data: photo },
      ]),
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'BAD_REQUEST');
    assert.match(res.json().error, /sent images as "image" besides "file", and only "file" is read: send every photo as file/);
  });

  test('a photo labelled application/json (a client\'s default header) is taken on an image route, and "not JSON" elsewhere', async () => {
    for (const url of ['/predict', '/v1/classify']) {
      const labelled = await app.inject({ method: 'POST', url, payload: photo, headers: { 'content-type': 'application/json' } });
      const plain = await app.inject({ method: 'POST', url, payload: photo, headers: { 'content-type': 'image/jpeg' } });
      const answer = (res: typeof plain): unknown => res.json().results?.[0].predictions ?? res.json();
      assert.deepEqual([labelled.statusCode, answer(labelled)], [200, answer(plain)], `${url}: ${labelled.body}`);
    }
    const head = await app.inject({ method: 'POST', url: '/v1/heads', payload: photo, headers: { 'content-type': 'application/json' } });
    assert.deepEqual([head.statusCode, head.json().code], [400, 'BAD_REQUEST']);
    assert.match(head.json().error, /The body is an image, labelled application\/json/);
  });

  test('a request without a body leaves nothing behind (no stream waiting for the shutdown signal)', async () => {
    const signal = app.holder.shutdownSignal;
    const listening = getEventListeners(signal, 'abort').length;
    for (const length of ['Content-Length: 0\r\n', '']) {
      const socket = await open();
      const response = readResponse(socket);
      socket.write(`POST /predict HTTP/1.1\r\nHost: t\r\n${length}\r\n`);
      const answer = await response;
      assert.equal(answer.status, 400);
      assert.equal(JSON.parse(answer.body).code, 'NO_FILE');
      socket.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(getEventListeners(signal, 'abort').length, listening);
  });

  test('uploads beyond the bytes in flight get 503 before a byte of their body is read', async () => {
    const holding = await open();
    const second = await open();
    try {
      // 4 MB declared and only half sent: its bytes are reserved while it arrives.
      holding.write(`POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\nContent-Length: ${4 * MB}\r\n\r\n`);
      holding.write(Buffer.alloc(2 * MB));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const response = readResponse(second);
      second.write(`POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\nContent-Length: ${3 * MB}\r\n\r\n`);
      const refused = await response;
      assert.equal(refused.status, 503);
      assert.equal(JSON.parse(refused.body).code, 'QUEUE_FULL');
      assert.match(refused.headers, /retry-after: 1/i);
    } finally {
      holding.destroy();
      second.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = await app.inject({ method: 'POST', url: '/predict', payload: photo, headers: { 'content-type': 'image/jpeg' } });
    assert.equal(after.statusCode, 200, 'reserved bytes are released when a client goes away');
  });

  test('with the image queue full, a raw image body gets 503 before it is read', async () => {
    const release = service.admit(service.maxAdmitted);
    const socket = await open();
    try {
      const response = readResponse(socket);
      socket.write(`POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\nContent-Length: ${MB}\r\n\r\n`);
      const refused = await response;
      assert.equal(refused.status, 503);
      assert.equal(JSON.parse(refused.body).code, 'QUEUE_FULL');
      // A body above the upload limit is told so (final) rather than "busy, retry", however busy the server.
      const other = await open();
      try {
        const tooBig = readResponse(other);
        other.write(`POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\nContent-Length: ${5 * MB}\r\n\r\n`);
        assert.equal((await tooBig).status, 413);
      } finally {
        other.destroy();
      }
    } finally {
      release();
      socket.destroy();
    }
  });
});

describe('client mistakes are 400s with a code, never a 500 or a hang', () => {
  const post = (payload: string | Buffer, contentType: string) => app.inject({ method: 'POST', url: '/predict', payload, headers: { 'content-type': contentType } });

  test('multipart without a boundary, with an empty one, truncated, garbage, or a part without Content-Disposition', async () => {
    const good = multipartBody([{ field: 'file', filename: 'a.jpg', type: 'image/jpeg', data: photo }]);
    const boundary = /boundary=(.*)$/.exec(good.headers['content-type'])?.[1] as string;
    const cases: [string, string | Buffer, string, number][] = [
      ['no boundary', good.payload, 'multipart/form-data', 400],
      ['empty boundary', good.payload, 'multipart/form-data; boundary=', 400],
      ['truncated', good.payload.subarray(0, 300), good.headers['content-type'], 400],
      ['garbage', 'hello, this is not multipart', good.headers['content-type'], 400],
      ['no Content-Disposition', Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Type: image/jpeg\r\n\r\n`), photo, Buffer.from(`\r\n--${boundary}--\r\n`)]), good.headers['content-type'], 400],
    ];
    for (const [name, payload, type, status] of cases) {
      const res = await post(payload, type);
      assert.equal(res.statusCode, status, `${name}: ${res.body}`);
      assert.ok(['BAD_REQUEST', 'NO_FILE'].includes(res.json().code), name);
    }
  });

  test('17 form fields: 413 that says so (not "larger than 20 MB")', async () => {
    const boundary = 'XyZ';
    const fields = Array.from({ length: 17 }, (_, i) => `--${boundary}\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nv\r\n`).join('') + `--${boundary}--\r\n`;
    const res = await post(fields, `multipart/form-data; boundary=${boundary}`);
    assert.equal(res.statusCode, 413);
    assert.match(res.json().error, /form fields/);
  });

  test('JSON outside v2 is refused unparsed, on any route (ours, none): over 1 MB with 413, built of more arrays than a head needs with 400; an image route never parses it', async () => {
    // Parsed, 16 MB of nested empty arrays held the event loop for 9 s, on any path.
    const huge = `[${'[],'.repeat(400_000)}[]]`;
    const nested = `{"name": "x", "classes": [${'[],'.repeat(5000)}[]]}`;
    for (const payload of [huge, nested]) {
      const image = await app.inject({ method: 'POST', url: '/predict', payload, headers: { 'content-type': 'application/json' } });
      assert.deepEqual([image.statusCode, image.json().error], [415, 'Send images as multipart/form-data (field "file") or as an image/* body, not application/json']);
    }
    for (const url of ['/v1/heads', '/no/such/route']) {
      const large = await app.inject({ method: 'POST', url, payload: huge, headers: { 'content-type': 'application/json' } });
      assert.equal(large.statusCode, 413, `${url}: ${large.body}`);
      assert.equal(large.json().code, 'PAYLOAD_TOO_LARGE');
      assert.match(large.json().error, /JSON and text request bodies are limited to 1 MB \(this one is 1\.\d\d MB\)/);
      const built = await app.inject({ method: 'POST', url, payload: nested, headers: { 'content-type': 'application/json' } });
      assert.equal(built.statusCode, 400, `${url}: ${built.body}`);
      assert.match(built.json().error, /at most 4096 arrays and objects/);
    }
    // Without a Content-Length (chunked), reading stops at the limit; plain text is bounded the same way.
    for (const type of ['application/json', 'text/plain']) {
      const streamed = await app.inject({ method: 'POST', url: '/no/such/route', payload: Readable.from([Buffer.alloc(600_000, 32), Buffer.alloc(600_000, 32)]), headers: { 'content-type': type } });
      assert.deepEqual([streamed.statusCode, streamed.json().code], [413, 'PAYLOAD_TOO_LARGE'], `${type}: ${streamed.body}`);
    }
    const small = await app.inject({ method: 'POST', url: '/v1/heads', payload: '[[], []]', headers: { 'content-type': 'application/json' } });
    assert.deepEqual([small.statusCode, small.json().error], [400, 'Send a JSON object (Content-Type: application/json)']);
    // A head sent as another media type is refused as that (415), as /predict refuses JSON.
    for (const [type, payload] of [['text/plain', '{"name": "x"}'], ['image/jpeg', Buffer.from([0xff, 0xd8, 0xff, 0xe0])]] as const) {
      const other = await app.inject({ method: 'POST', url: '/v1/heads', payload, headers: { 'content-type': type } });
      assert.deepEqual([other.statusCode, other.json().code, other.json().error], [415, 'UNSUPPORTED_MEDIA_TYPE', `Send a JSON object (Content-Type: application/json), not ${type}`]);
    }
    const notAnImage = await app.inject({ method: 'POST', url: '/predict', payload: '{"a": 1}', headers: { 'content-type': 'application/json' } });
    assert.equal(notAnImage.statusCode, 415);
  });

  test("Node's own refusals and bad URLs use the {error, code} body, and the metrics count them", async () => {
    const refused = async (status: string): Promise<number> => (await app.metrics.registry.getSingleMetricAsString('resnet_http_requests_total')).split('\n').filter((l) => l.includes(`status="${status}"`) && l.includes('route="unknown"')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    const before = { '400': await refused('400'), '431': await refused('431') };
    for (const [raw, status, code, message] of [
      ['GARBAGE\r\n\r\n', 400, 'BAD_REQUEST'],
      [`GET / HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
      ['GET /%zz HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'BAD_REQUEST'],
      // curl sends a URL typed with 蚂蚁 as raw UTF-8, which HTTP does not allow: the answer gives this URL encoded.
      ['POST /predict?head=蚂蚁 HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'BAD_REQUEST', /percent-encoded: send \/predict\?head=%E8%9A%82%E8%9A%81 for \/predict\?head=蚂蚁; curl --url-query "head=蚂蚁" does it/],
      ['GET /v1/heads/蚂蚁 HTTP/1.1\r\nHost: t\r\n\r\n', 400, 'BAD_REQUEST', /percent-encoded: send \/v1\/heads\/%E8%9A%82%E8%9A%81 for \/v1\/heads\/蚂蚁$/],
    ] as const) {
      const socket = await open();
      try {
        const response = readResponse(socket);
        socket.write(raw);
        const r = await response;
        assert.equal(r.status, status, raw.slice(0, 20));
        assert.equal(JSON.parse(r.body).code, code);
        if (message) assert.match(JSON.parse(r.body).error, message);
      } finally {
        socket.destroy();
      }
    }
    assert.equal(await refused('400'), before['400'] + 4, 'the bad request line and the three bad URLs, once each');

    assert.equal(await refused('431'), before['431'] + 1);
  });

  test('a malformed request pipelined after a good one: the good one is answered first, then the refusal, then the connection closes', async () => {
    const socket = await open();
    try {
      let data = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
      });
      const closed = new Promise((resolve) => socket.once('close', resolve));
      const good = Buffer.concat([Buffer.from(`POST /predict HTTP/1.1\r\nHost: t\r\nContent-Type: image/jpeg\r\nContent-Length: ${photo.length}\r\n\r\n`), photo]);
      socket.write(Buffer.concat([good, good, Buffer.from('GARBAGE\r\n\r\n')]));
      await closed;
      const statuses = [...data.toString('latin1').matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      assert.deepEqual(statuses, [200, 200, 400], data.toString('latin1').slice(0, 600));
      assert.equal((data.toString('latin1').match(/"label"/g) ?? []).length, 6, 'both photos answered in full');
    } finally {
      socket.destroy();
    }
  });

  test('more than ten images in one request print no MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      warnings.push(w.name);
    };
    process.on('warning', onWarning);
    try {
      const small = await testPhoto(3, 64, 48);
      const res = await app.inject({ method: 'POST', url: '/predict', ...multipartBody(Array.from({ length: 14 }, (_, i) => ({ field: 'file', filename: `${i}.jpg`, type: 'image/jpeg', data: small }))) });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().length, 14);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
  });
});
