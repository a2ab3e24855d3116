import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import type { ClassificationService } from '../classify/service.js';
import { multipartBody, startTestService, testPhoto } from '../testing/fixtures.js';
import { buildApp, type ResnetApp } from './app.js';
import { ResnetServeError } from '../errors.js';

let service: ClassificationService;
let app: ResnetApp;
const photos: Buffer[] = [];
const file = (data: Buffer, name = 'photo.jpg', field = 'file', type = 'image/jpeg') => ({ field, filename: name, type, data });

before(async () => {
  service = await startTestService();
  app = await buildApp({ service, processMetrics: false });
  for (let i = 1; i <= 3; i++) photos.push(await testPhoto(i));
});
after(async () => {
  await app.close();
  await service.close();
});

async function expectedTop(bytes: Buffer, k: number) {
  const [o] = await service.classifyMany([bytes], { topK: k, lang: 'both' });
  assert.ok(o.ok);
  return o.predictions;
}

describe('POST /predict (seed-compatible)', () => {
  test('one file: top 3 as [{label, confidence}] in percent with 2 decimals', async () => {
    const res = await app.inject({ method: 'POST', url: '/predict', ...multipartBody([file(photos[0])]) });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    const expected = await expectedTop(photos[0], 3);
    assert.deepEqual(body, expected.map((p) => ({ label: p.label, confidence: Math.round(p.score * 10000) / 100 })));
    assert.deepEqual(Object.keys(body[0]), ['label', 'confidence']);
  });

  test('top_k, lang=zh and lang=both', async () => {
    const five = (await app.inject({ method: 'POST', url: '/predict?top_k=5', ...multipartBody([file(photos[1])]) })).json();
    assert.equal(five.length, 5);
    const expected = await expectedTop(photos[1], 5);
    const zh = (await app.inject({ method: 'POST', url: '/predict?lang=zh', ...multipartBody([file(photos[1])]) })).json();
    assert.deepEqual(zh.map((p: { label: string }) => p.label), expected.slice(0, 3).map((p) => p.label_zh));
    const both = (await app.inject({ method: 'POST', url: '/predict?lang=both', ...multipartBody([file(photos[1])]) })).json();
    assert.deepEqual(both[0], { label: expected[0].label, label_zh: expected[0].label_zh, confidence: Math.round(expected[0].score * 10000) / 100 });
  });

  test('several files: an array of per-file results in upload order, errors in place', async () => {
    const res = await app.inject({ method: 'POST', url: '/predict', ...multipartBody([file(photos[2], 'c.jpg'), file(Buffer.from('hello'), 'x.jpg'), file(photos[0], 'a.jpg')]) });
    assert.equal(res.statusCode, 200);
    const [c, x, a] = res.json();
    assert.deepEqual(c.map((p: { label: string }) => p.label), (await expectedTop(photos[2], 3)).map((p) => p.label));
    assert.equal(x.code, 'IMAGE_UNSUPPORTED');
    assert.deepEqual(a.map((p: { label: string }) => p.label), (await expectedTop(photos[0], 3)).map((p) => p.label));
  });

  test('a raw image body works like an upload', async () => {
    const res = await app.inject({ method: 'POST', url: '/predict', payload: photos[0], headers: { 'content-type': 'image/jpeg' } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json().map((p: { label: string }) => p.label), (await expectedTop(photos[0], 3)).map((p) => p.label));
  });

  test('a body labelled as a form, as Python\'s urllib sends it, is taken when it is an image, and refused by name when not', async () => {
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const res = await app.inject({ method: 'POST', url: '/predict', payload: photos[0], headers: form });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().map((p: { label: string }) => p.label), (await expectedTop(photos[0], 3)).map((p) => p.label));
    const text = await app.inject({ method: 'POST', url: '/predict', payload: 'file=cat.jpg', headers: form });
    assert.equal(text.statusCode, 415);
    assert.equal(text.json().code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.match(text.json().error, /Send images as multipart\/form-data \(field "file"\) or as an image\/\* body, not application\/x-www-form-urlencoded/);
  });

  test("a photo with no Content-Type (Node's fetch of a Buffer, curl -H 'Content-Type:') or another label is taken by its bytes; anything else is refused by name", async () => {
    const expected = (await expectedTop(photos[0], 3)).map((p) => p.label);
    for (const url of ['/predict', '/v1/classify']) {
      // (light-my-request sends no Content-Type header for undefined.)
      // text/plain and application/json too (a client's default header), and a photo larger than any JSON body.
      for (const headers of [{ 'content-type': undefined as unknown as string }, { 'content-type': 'application/x-camera-frame' }, { 'content-type': 'text/plain' }, { 'content-type': 'application/json' }]) {
        const res = await app.inject({ method: 'POST', url, payload: photos[0], headers });
        assert.equal(res.statusCode, 200, `${url} ${JSON.stringify(headers)}: ${res.body}`);
        const labels = (url === '/predict' ? res.json() : res.json().results[0].predictions).slice(0, 3).map((p: { label: string }) => p.label);
        assert.deepEqual(labels, expected);
      }
    }
    const noType = await app.inject({ method: 'POST', url: '/predict', payload: 'just words', headers: { 'content-type': undefined as unknown as string } });
    assert.deepEqual([noType.statusCode, noType.json().error], [415, 'Send images as multipart/form-data (field "file") or as an image/* body, not a body without Content-Type']);
    const large = await app.inject({ method: 'POST', url: '/v1/classify', payload: Buffer.concat([photos[0], Buffer.alloc(1_200_000)]), headers: { 'content-type': 'text/plain' } });
    assert.deepEqual([large.statusCode, large.json().results[0].predictions.slice(0, 3).map((p: { label: string }) => p.label)], [200, expected], large.body.slice(0, 300));
    const pdf = await app.inject({ method: 'POST', url: '/predict', payload: '%PDF-1.4', headers: { 'content-type': 'application/pdf' } });
    assert.deepEqual([pdf.statusCode, pdf.json().code], [415, 'UNSUPPORTED_MEDIA_TYPE']);
    // Routes that take JSON still refuse an image body of another label, an unknown route is still not found, and the
    // upload limit holds.
    const head = await app.inject({ method: 'POST', url: '/v1/heads', payload: photos[0], headers: { 'content-type': undefined as unknown as string } });
    assert.equal(head.statusCode, 415, head.body);
    const nowhere = await app.inject({ method: 'POST', url: '/no/such/route', payload: photos[0], headers: { 'content-type': 'application/pdf' } });
    assert.equal(nowhere.statusCode, 404, nowhere.body);
    const huge = await app.inject({ method: 'POST', url: '/predict', payload: Buffer.concat([photos[0], Buffer.alloc(21 * 1024 * 1024)]), headers: { 'content-type': undefined as unknown as string } });
    assert.deepEqual([huge.statusCode, huge.json().code], [413, 'PAYLOAD_TOO_LARGE'], huge.body);
  });

  test('no file: 400 {"error": "No file uploaded"}', async () => {
    for (const req of [{ method: 'POST' as const, url: '/predict' }, { method: 'POST' as const, url: '/predict', ...multipartBody([]) }]) {
      const res = await app.inject(req);
      assert.equal(res.statusCode, 400);
      assert.deepEqual(res.json(), { error: 'No file uploaded', code: 'NO_FILE' });
    }
    // A file sent under another field name ("image") is named, with the field this route reads.
    for (const [url, field] of [['/predict', 'file'], ['/v1/classify', 'file'], [`/predictions/${service.info.name}`, 'data']]) {
      const elsewhere = await app.inject({ method: 'POST', url, ...multipartBody([file(photos[0], 'cat.jpg', 'image')]) });
      assert.equal(elsewhere.statusCode, 400, url);
      assert.equal(elsewhere.json().code, 'NO_FILE');
      assert.match(elsewhere.json().error, new RegExp(`^No file in the multipart field "${field}".*: this request sent its file as "image" \\(curl -F ${field}=@photo\\.jpg\\)$`), url);
    }
    // An empty image body is an empty file, as an empty multipart part is.
    const failedEmpty = async (): Promise<number> => Number(/^resnet_image_failures_total\{code="IMAGE_EMPTY"\} (\d+)/m.exec((await app.inject('/metrics')).body)?.[1] ?? 0);
    const before = await failedEmpty();
    const empty = await app.inject({ method: 'POST', url: '/predict', payload: Buffer.alloc(0), headers: { 'content-type': 'image/jpeg' } });
    assert.equal(empty.statusCode, 400);
    assert.equal(empty.json().code, 'IMAGE_EMPTY');
    // Labelled a form (curl --data-binary @empty.jpg), or anything else, it is the same empty file; each counted among the images that failed.
    for (const type of ['application/x-www-form-urlencoded', 'application/octet-stream']) {
      const form = await app.inject({ method: 'POST', url: '/predict', payload: Buffer.alloc(0), headers: { 'content-type': type } });
      assert.deepEqual([form.statusCode, form.json().code], [400, 'IMAGE_EMPTY'], type);
    }
    assert.equal(await failedEmpty(), before + 3);
  });
});

describe('errors: the right status, a stable code, and the next request works', () => {
  test('bad options, bad media types and bad images', async () => {
    const send = (url: string, parts: ReturnType<typeof file>[]) => app.inject({ method: 'POST', url, ...multipartBody(parts) });
    const checks: [Promise<{ statusCode: number; json: () => { code: string; error: string } }>, number, string][] = [
      [send('/predict?top_k=0', [file(photos[0])]), 400, 'INVALID_ARGUMENT'],
      [send('/predict?top_k=1001', [file(photos[0])]), 400, 'INVALID_ARGUMENT'],
      [send('/predict?lang=fr', [file(photos[0])]), 400, 'INVALID_ARGUMENT'],
      [send('/predict', [file(Buffer.alloc(0))]), 400, 'IMAGE_EMPTY'],
      [send('/predict', [file(Buffer.from('%PDF-1.4 not really'), 'doc.jpg')]), 415, 'IMAGE_UNSUPPORTED'],
      [send('/predict', [file(photos[0].subarray(0, 600))]), 422, 'IMAGE_CORRUPT'],
      [send('/predict', [file(photos[0].subarray(0, 2))]), 422, 'IMAGE_CORRUPT'],
      [app.inject({ method: 'POST', url: '/predict', payload: 'text', headers: { 'content-type': 'text/plain' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [app.inject({ method: 'POST', url: '/predict', payload: { file: 'x' } }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [app.inject({ method: 'GET', url: '/nope' }), 404, 'NOT_FOUND'],
      [app.inject({ method: 'GET', url: '/predict' }), 405, 'METHOD_NOT_ALLOWED'],
      [app.inject({ method: 'DELETE', url: '/v2/models/resnet18/infer' }), 405, 'METHOD_NOT_ALLOWED'],
    ];
    for (const [promise, status, code] of checks) {
      const res = await promise;
      assert.equal(res.statusCode, status, `${code}: ${JSON.stringify(res.json())}`);
      assert.equal(res.json().code, code);
      assert.ok(res.json().error.length > 5);
    }
    // A 405 says which methods the address takes (RFC 9110).
    const wrongMethod = await app.inject({ method: 'GET', url: '/predict?top_k=1' });
    assert.equal(wrongMethod.headers.allow, 'POST');
    assert.match(wrongMethod.json().error, /\/predict takes POST, not GET/);
    // A trailing slash: still 404, naming the address that takes the request.
    const slash = await send('/predict/', [file(photos[0])]);
    assert.equal(slash.statusCode, 404);
    assert.match(slash.json().error, /did you mean POST \/predict, without the trailing slash\?/);
    const nowhere = (await app.inject({ method: 'GET', url: '/nope/' })).json().error;
    assert.doesNotMatch(nowhere, /did you mean/);
    // …and, where it takes other methods only, says which (a browser's GET of /predict/).
    const slashGet = await app.inject({ method: 'GET', url: '/predict/' });
    assert.equal(slashGet.statusCode, 404);
    assert.match(slashGet.json().error, /No route GET \/predict\/; \/predict, without the trailing slash, takes POST$/);
    assert.doesNotMatch(nowhere, /takes/);
    // An option sent as a form field would be ignored: refused, saying where it goes.
    const boundary = 'an-option-in-the-form';
    const form = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n2\r\n--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
      photos[0],
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const asField = await app.inject({ method: 'POST', url: '/predict', payload: form, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    assert.deepEqual([asField.statusCode, asField.json()], [400, { error: "top_k goes in the URL's query (?top_k=2), not in the form", code: 'BAD_REQUEST' }]);
    // Counted under the route it named, as the metrics count requests by route.
    const metrics = (await app.inject('/metrics')).body;
    assert.match(metrics, /resnet_http_requests_total\{route="\/predict",method="GET",status="405"\} [1-9]/);
    assert.match(metrics, /resnet_http_requests_total\{route="\/v2\/models\/:name\/infer",method="DELETE",status="405"\} [1-9]/);
    const ok = await send('/predict', [file(photos[0])]);
    assert.equal(ok.statusCode, 200);
  });

  test('upload size, file count and pixel limits', async () => {
    const small = await buildApp({ service, limits: { maxUploadBytes: 20_000, maxFiles: 2 }, processMetrics: false });
    try {
      const big = Buffer.concat([photos[0], Buffer.alloc(30_000)]);
      for (const res of [
        await small.inject({ method: 'POST', url: '/predict', ...multipartBody([file(big)]) }),
        await small.inject({ method: 'POST', url: '/predict', payload: big, headers: { 'content-type': 'image/jpeg' } }),
      ]) {
        assert.equal(res.statusCode, 413);
        assert.equal(res.json().code, 'PAYLOAD_TOO_LARGE');
      }
      const tiny = await testPhoto(4, 64, 48);
      const three = await small.inject({ method: 'POST', url: '/predict', ...multipartBody([file(tiny), file(tiny), file(tiny)]) });
      assert.equal(three.statusCode, 413);
      assert.equal(three.json().code, 'TOO_MANY_FILES');
      const two = await small.inject({ method: 'POST', url: '/predict', ...multipartBody([file(tiny), file(tiny)]) });
      assert.equal(two.statusCode, 200);
    } finally {
      await small.close();
    }
    const strict = await startTestService({ maxPixels: 100 * 100, workers: 1 });
    const strictApp = await buildApp({ service: strict, processMetrics: false });
    try {
      const res = await strictApp.inject({ method: 'POST', url: '/predict', ...multipartBody([file(photos[0])]) });
      assert.equal(res.statusCode, 422);
      assert.equal(res.json().code, 'IMAGE_TOO_LARGE');
    } finally {
      await strictApp.close();
      await strict.close();
    }
  });

  test('a request past its deadline gets 503 TIMEOUT with Retry-After', async () => {
    const hurried = await buildApp({ service, limits: { requestTimeoutMs: 1 }, processMetrics: false });
    try {
      const res = await hurried.inject({ method: 'POST', url: '/predict', ...multipartBody([file(await testPhoto(9, 2000, 1500))]) });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().code, 'TIMEOUT');
      assert.equal(res.headers['retry-after'], '1');
    } finally {
      await hurried.close();
    }
    assert.equal((await app.inject({ method: 'POST', url: '/predict', ...multipartBody([file(photos[1])]) })).statusCode, 200);
  });
});

describe('POST /v1/classify and GET /v1/models', () => {
  test('per image: index, English and Chinese labels, score, timings, and the model', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/classify?top_k=4', ...multipartBody([file(photos[0], 'one.jpg'), file(Buffer.from('nope'), 'two.jpg')]) });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual(body.model, { name: 'resnet18', sha256: service.info.sha256, source: 'checkpoint', precision: 'fp32' });
    const [one, two] = body.results;
    assert.equal(one.file, 'one.jpg');
    assert.deepEqual([one.width, one.height], [480, 360]);
    assert.deepEqual(one.predictions, await expectedTop(photos[0], 4));
    assert.deepEqual(Object.keys(one.timings_ms), ['decode', 'preprocess', 'infer', 'total']);
    assert.deepEqual(two, { file: 'two.jpg', error: { code: 'IMAGE_UNSUPPORTED', message: two.error.message } });
    const single = await app.inject({ method: 'POST', url: '/v1/classify', ...multipartBody([file(Buffer.from('nope'), 'bad.png')]) });
    assert.equal(single.statusCode, 415);
    assert.equal(single.json().results[0].error.code, 'IMAGE_UNSUPPORTED');
    // ...and where every error body has it, for clients that read {error, code}.
    assert.deepEqual([single.json().code, single.json().error], ['IMAGE_UNSUPPORTED', single.json().results[0].error.message]);
  });

  test('models lists the model with its hash, threads and limits, never where its file lives', async () => {
    const res = await app.inject('/v1/models');
    const [m] = res.json().models;
    assert.equal(m.name, 'resnet18');
    assert.equal(m.sha256, service.info.sha256);
    assert.equal(m.threads, 2);
    // One naming style in every answer of ours: snake_case, as the limits and the other routes.
    assert.deepEqual([m.num_classes, m.input_size, m.max_batch], [1000, 224, service.batcher.maxBatch]);
    assert.ok(Object.keys(m).every((k) => !/[A-Z]/.test(k)), Object.keys(m).join());
    assert.equal(m.limits.max_upload_bytes, 20 * 1024 * 1024);
    // The page says the pixel limit in its "too many pixels" sentence.
    assert.equal(m.limits.max_pixels, service.maxPixels);
    assert.ok(m.limits.max_pixels > 0);
    assert.equal(m.path, undefined);
    assert.equal(m.onnxPath, undefined);
    assert.ok(!res.body.includes(service.info.path) && !res.body.includes('/tmp'), res.body);
  });

  test('both languages unless lang asks for one; an invalid lang is refused, not silently ignored', async () => {
    const labelsOf = async (query: string): Promise<{ label: string; label_zh?: string }[]> => {
      const res = await app.inject({ method: 'POST', url: `/v1/classify${query}`, ...multipartBody([file(photos[0])]) });
      assert.equal(res.statusCode, 200, res.body);
      return res.json().results[0].predictions;
    };
    const both = await labelsOf('');
    assert.ok(both.every((p) => /^[\x20-\x7e]+$/.test(p.label) && /[\u4e00-\u9fff]/.test(p.label_zh ?? '')), JSON.stringify(both));
    assert.deepEqual(await labelsOf('?lang=en'), both.map(({ label_zh: _, ...p }) => p));
    assert.deepEqual((await labelsOf('?lang=zh')).map((p) => [p.label, p.label_zh]), both.map((p) => [p.label_zh, undefined]));
    const res = await app.inject({ method: 'POST', url: '/v1/classify?lang=fr', ...multipartBody([file(photos[0])]) });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().code, 'INVALID_ARGUMENT');
  });
});

describe('TorchServe-style API', () => {
  test('POST /predictions/{model} gives the top 5 as {label: probability}', async () => {
    const expected = await expectedTop(photos[2], 5);
    for (const req of [
      { payload: photos[2], headers: { 'content-type': 'image/jpeg' } },
      { payload: photos[2], headers: { 'content-type': 'application/octet-stream' } },
      multipartBody([file(photos[2], 'p.jpg', 'data')]),
    ]) {
      const res = await app.inject({ method: 'POST', url: '/predictions/resnet18', ...req });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), Object.fromEntries(expected.map((p) => [p.label, Math.round(p.score * 10000) / 10000])));
    }
    const unknown = await app.inject({ method: 'POST', url: '/predictions/densenet', payload: photos[2], headers: { 'content-type': 'image/jpeg' } });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().code, 'NOT_FOUND');
    assert.deepEqual((await app.inject('/ping')).json(), { status: 'Healthy' });
  });

  test("TorchServe's documented calls: curl -T (PUT), a POST without Content-Type or with any other, a model version", async () => {
    const expected = Object.fromEntries((await expectedTop(photos[1], 5)).map((p) => [p.label, Math.round(p.score * 10000) / 10000]));
    for (const [method, url, headers] of [
      ['PUT', '/predictions/resnet18', {}],
      ['POST', '/predictions/resnet18', {}],
      ['POST', '/predictions/resnet18/1.0', { 'content-type': 'image/jpeg' }],
      ['PUT', '/predictions/resnet18/1', { 'content-type': 'application/x-whatever' }],
      ['POST', '/predictions/resnet18', { 'content-type': 'text/plain' }],
      ['POST', '/predictions/resnet18', { 'content-type': 'application/json' }],
      ['POST', '/predictions/resnet18', { 'content-type': 'application/x-www-form-urlencoded' }],
    ] as const) {
      const res = await app.inject({ method, url, payload: photos[1], headers });
      assert.equal(res.statusCode, 200, `${method} ${url}: ${res.body}`);
      assert.deepEqual(res.json(), expected);
    }
    // curl -T of an empty file: that file is empty, not missing (as an empty image/* body or multipart file).
    const empty = await app.inject({ method: 'PUT', url: '/predictions/resnet18', payload: Buffer.alloc(0), headers: { 'content-length': '0' } });
    assert.deepEqual([empty.statusCode, empty.json().code], [400, 'IMAGE_EMPTY'], empty.body);
    const version = await app.inject({ method: 'POST', url: '/predictions/resnet18/2.0', payload: photos[1] });
    assert.equal(version.statusCode, 404);
    // TorchServe's image handlers read the multipart field "data" or "body".
    for (const field of ['data', 'body']) {
      const res = await app.inject({ method: 'POST', url: '/predictions/resnet18', ...multipartBody([file(photos[1], 'p.jpg', field)]) });
      assert.deepEqual([res.statusCode, res.json()], [200, expected], field);
    }
    // A photo as base64 text, which those handlers decode: the whole body (requests.post(url, data=b64)), or a
    // multipart field without a file name (curl -F "data=<photo.b64").
    const b64 = photos[1].toString('base64');
    // and as curl -d / --data-binary and Python's urllib label it: a form.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      const text = await app.inject({ method: 'POST', url: '/predictions/resnet18', payload: b64, headers: { 'content-type': type } });
      assert.deepEqual([text.statusCode, text.json()], [200, expected], `${type}: ${text.body}`);
    }
    const boundary = 'b64-boundary';
    const field = await app.inject({ method: 'POST', url: '/predictions/resnet18', payload: `--${boundary}\r\nContent-Disposition: form-data; name="data"\r\n\r\n${b64}\r\n--${boundary}--\r\n`, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    assert.deepEqual([field.statusCode, field.json()], [200, expected], field.body);
    // Text that is not a photo is still refused as what it is.
    const words = await app.inject({ method: 'POST', url: '/predictions/resnet18', payload: 'a caption, not a photo', headers: { 'content-type': 'text/plain' } });
    assert.equal(words.statusCode, 415, words.body);
  });

  test("the management API's listing and description, as TorchServe gives them (no paths)", async () => {
    assert.deepEqual((await app.inject('/models')).json(), { models: [{ modelName: 'resnet18', modelUrl: 'resnet18' }] });
    for (const url of ['/models/resnet18', '/models/resnet18/1.0', '/models/resnet18/all']) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, 200, url);
      const [described] = res.json();
      assert.equal(described.modelName, 'resnet18');
      assert.equal(described.modelVersion, '1.0');
      assert.equal(described.batchSize, service.batcher.maxBatch);
      assert.equal(described.workers[0].status, 'READY');
      assert.equal(described.workers[0].pid, process.pid);
      assert.doesNotMatch(res.body, /"\/|\.(onnx|pth)\b/, 'no file path');
    }
    assert.equal((await app.inject('/models/densenet')).statusCode, 404);
    assert.equal((await app.inject('/models/resnet18/2.0')).statusCode, 404);
  });
});

describe('KServe v2 through inject', () => {
  test('metadata, health and an image inference with the classification extension', async () => {
    assert.equal((await app.inject('/v2')).json().name, 'resnet-serve');
    assert.deepEqual((await app.inject('/v2/health/live')).json(), { live: true });
    assert.deepEqual((await app.inject('/v2/health/ready')).json(), { ready: true });
    assert.equal((await app.inject('/v2/models/resnet18')).json().platform, 'onnxruntime_onnx');
    assert.deepEqual((await app.inject('/v2/models/resnet18-image/ready')).json(), { name: 'resnet18-image', ready: true });
    const res = await app.inject({
      method: 'POST',
      url: '/v2/models/resnet18-image/infer',
      payload: { id: 'a1', inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [photos[0].toString('base64')] }], outputs: [{ name: 'logits', parameters: { classification: 2, classification_probabilities: true } }] },
    });
    assert.equal(res.statusCode, 200);
    const expected = await expectedTop(photos[0], 2);
    assert.deepEqual(res.json(), {
      model_name: 'resnet18-image',
      model_version: '1',
      id: 'a1',
      outputs: [{ name: 'logits', datatype: 'BYTES', shape: [1, 2], data: expected.map((p) => `${p.score.toFixed(6)}:${p.index}:${p.label}`) }],
    });
    const bad = await app.inject({ method: 'POST', url: '/v2/models/resnet18/infer', payload: { inputs: [{ name: 'input', shape: [1, 3, 2, 2], datatype: 'FP32', data: [] }] } });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(bad.json(), { error: "Input 'input' must have shape [N, 3, 224, 224]; got [1, 3, 2, 2]", code: 'BAD_REQUEST' });
    const unknown = await app.inject({ method: 'POST', url: '/v2/models/other/infer', payload: { inputs: [] } });
    assert.equal(unknown.statusCode, 404);
  });
});

/** Full paths and methods from Fastify's route tree (`printRoutes({ commonPrefix: false })`: each line adds its segment to its parent's path). */
function routesOf(tree: string): { path: string; methods: string[] }[] {
  const routes: { path: string; methods: string[] }[] = [];
  const parents: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    const path = (depth ? parents[depth - 1] : '') + m[2];
    parents[depth] = path;
    parents.length = depth + 1;
    if (m[3]) routes.push({ path, methods: m[3].split(', ') });
  }
  return routes;
}

describe('operations', () => {
  test('health, readiness, OpenAPI', async () => {
    assert.deepEqual((await app.inject('/healthz')).json(), { status: 'ok' });
    assert.deepEqual((await app.inject('/readyz')).json(), { status: 'ready' });
    const doc = (await app.inject('/openapi.json')).json();
    assert.equal(doc.openapi, '3.1.0');
    for (const path of ['/predict', '/v1/classify', '/v2/models/{name}/infer', '/v2/models/{name}/config', '/predictions/{model}', '/predictions/{model}/{version}', '/metrics']) assert.ok(doc.paths[path], path);
    assert.deepEqual(doc.components.securitySchemes.apiKey, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.apiKey.description });
    assert.deepEqual(doc.security, [{}, { apiKey: [] }]);
    // Every API route the server answers is described, and nothing described is missing (the page's own files aside).
    const answered = routesOf(app.printRoutes({ commonPrefix: false }))
      .filter((r) => r.path.startsWith('/') && r.path !== '/' && (r.path === '/openapi.json' || !/\.(js|css|svg|json)$/.test(r.path)))
      .flatMap((r) => r.methods.filter((m) => m !== 'HEAD' && m !== 'OPTIONS').map((m) => `${m} ${r.path.replace(/:(\w+)/g, '{$1}')}`));
    const described = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(answered.filter((r) => !described.includes(r)), [], 'answered but not in /openapi.json');
    assert.deepEqual(described.filter((r) => !answered.includes(r)), [], 'in /openapi.json but not answered');
    // OpenAPI 3.1: every {name} of a path is a declared path parameter, and no other; every operation an API key guards lists its 401.
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, { parameters?: { name: string; in: string }[]; responses: Record<string, unknown> }>>)) {
      for (const [method, operation] of Object.entries(methods)) {
        const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
        assert.deepEqual((operation.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name).sort(), inPath, `${method} ${path} declares its path parameters`);
        if (!['/healthz', '/livez', '/readyz', '/ping', '/v2/health/live', '/v2/health/ready'].includes(path)) assert.ok(operation.responses['401'], `${method} ${path} lists 401`);
      }
    }
    for (const path of ['/v1/heads', '/v1/heads/{name}/classes', '/v2/models/{name}/infer']) assert.ok(doc.paths[path].post.requestBody, `${path} has a request body`);
  });

  test('Prometheus metrics: requests, stage latencies, batch sizes, in-flight, model info', async () => {
    await app.inject({ method: 'POST', url: '/predict', ...multipartBody([file(photos[0])]) });
    const res = await app.inject('/metrics');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/plain/);
    const text = res.body;
    // Prometheus' own request (Accept-Encoding: gzip) gets the same text compressed.
    const zipped = await app.inject({ url: '/metrics', headers: { 'accept-encoding': 'gzip' } });
    assert.equal(zipped.headers['content-encoding'], 'gzip');
    assert.ok(zipped.rawPayload.length * 4 < text.length, `${zipped.rawPayload.length} bytes against ${text.length}`);
    assert.match(gunzipSync(zipped.rawPayload).toString(), /^resnet_http_requests_total\{route="\/predict",method="POST",status="200"\} \d+$/m);
    assert.match(text, /resnet_http_requests_total\{route="\/predict",method="POST",status="200"\} \d+/);
    assert.match(text, /resnet_http_requests_total\{route="\/predict",method="POST",status="415"\} \d+/);
    for (const stage of ['decode', 'preprocess', 'queue', 'infer']) assert.match(text, new RegExp(`resnet_stage_duration_seconds_count\\{stage="${stage}"\\} [1-9]`));
    assert.match(text, /resnet_batch_size_count [1-9]/);
    assert.match(text, /resnet_http_requests_in_flight 1/);
    assert.match(text, new RegExp(`resnet_model_info\\{name="resnet18",source="checkpoint",sha256="${service.info.sha256}",precision="fp32",calibration="",onnxruntime="[\\d.]+"\\} 1`));
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.match(text, new RegExp(`^resnet_build_info\\{version="${version.replace(/\./g, '\\.')}"\\} 1$`, 'm'));
    assert.match(text, /resnet_threads\{pool="onnxruntime_intra_op"\} 2/);
    // Images in progress against their limit, read at the scrape: none now, one while a large photo is decoded.
    assert.match(text, /^resnet_images_in_progress 0$/m);
    assert.match(text, /^resnet_images_limit 64$/m);
    assert.match(text, /^resnet_images_in_model 0$/m);
    let answered = false;
    const large = app.inject({ method: 'POST', url: '/predict', ...multipartBody([file(await testPhoto(5, 4000, 3000))]) }).then((r) => ((answered = true), r));
    let seen = false;
    while (!answered && !seen) {
      seen = /^resnet_images_in_progress 1$/m.test((await app.inject('/metrics')).body);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal((await large).statusCode, 200);
    assert.ok(seen, 'the photo was seen in progress');
    // With process metrics (the server's default): under the names Node.js dashboards look for.
    const withProcess = await buildApp({ service });
    try {
      const all = (await withProcess.inject('/metrics')).body;
      for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) assert.match(all, new RegExp(`^${name} `, 'm'), name);
      assert.match(all, /^# TYPE nodejs_active_handles gauge$/m, 'what the gauges named like counters said, under their gauge names');
      // Prometheus's naming rule (promtool check metrics): only counters end in _total.
      const misnamed = [...all.matchAll(/^# TYPE (\S+) (\S+)$/gm)].filter(([, name, type]) => name.endsWith('_total') && type !== 'counter').map(([, name]) => name);
      assert.deepEqual(misnamed, []);
    } finally {
      await withProcess.close();
    }
  });

  test('Prometheus metrics: refusals by route and error code, and failed images by code, also inside a 200 answer', async () => {
    const count = async (series: string): Promise<number> => {
      const line = (await app.inject('/metrics')).body.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    const refused = 'resnet_http_errors_total{route="/predict",code="IMAGE_UNSUPPORTED"}';
    const wrongType = 'resnet_http_errors_total{route="/predict",code="UNSUPPORTED_MEDIA_TYPE"}';
    const failed = 'resnet_image_failures_total{code="IMAGE_UNSUPPORTED"}';
    const before = { refused: await count(refused), wrongType: await count(wrongType), failed: await count(failed) };
    const mixed = await app.inject({ method: 'POST', url: '/predict', ...multipartBody([file(photos[0]), file(Buffer.from('not a photo'), 'x.jpg')]) });
    assert.equal(mixed.statusCode, 200);
    assert.equal(await count(refused), before.refused, 'a 200 answer is no refusal');
    assert.equal(await count(failed), before.failed + 1, 'its failed file is counted');
    const bad = await app.inject({ method: 'POST', url: '/predict', ...multipartBody([file(Buffer.from('not a photo'), 'x.jpg')]) });
    assert.equal(bad.statusCode, 415);
    assert.equal(await count(refused), before.refused + 1);
    assert.equal(await count(failed), before.failed + 2);
    const text = await app.inject({ method: 'POST', url: '/predict', payload: 'hello', headers: { 'content-type': 'text/plain' } });
    assert.equal(text.json().code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.equal(await count(wrongType), before.wrongType + 1, 'refused before any image: a refusal, no failed image');
    assert.equal(await count(failed), before.failed + 2);
  });

  test('buildApp without a service, as plain JavaScript may call it, is refused by name', async () => {
    for (const given of [undefined, {}]) {
      await assert.rejects(buildApp(given as never), (err: unknown) => err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT' && /buildApp options\.service/.test(err.message));
    }
  });

  test('while the model loads: live, not ready, and inference answers 503 NOT_READY', async () => {
    const loading = await buildApp({ service: new Promise<never>(() => {}), processMetrics: false });
    try {
      assert.equal((await loading.inject('/healthz')).statusCode, 200);
      assert.equal((await loading.inject('/v2/health/live')).statusCode, 200);
      for (const url of ['/readyz', '/v2/health/ready', '/ping']) {
        const probe = await loading.inject(url);
        assert.deepEqual([probe.statusCode, probe.headers['retry-after']], [503, '1'], url);
      }
      assert.deepEqual((await loading.inject('/readyz')).json(), { status: 'loading', code: 'NOT_READY', error: 'The model is loading' });
      assert.equal((await loading.inject('/livez')).statusCode, 200);
      // A readiness refusal is a refusal like any other, counted by its code.
      const metrics = (await loading.inject('/metrics')).body;
      assert.match(metrics, /^resnet_http_errors_total\{route="\/readyz",code="NOT_READY"\} 2$/m);
      // Every protocol's readiness probe alike (the Deployment probes /v2/health/ready).
      assert.match(metrics, /^resnet_http_errors_total\{route="\/v2\/health\/ready",code="NOT_READY"\} 1$/m);
      assert.match(metrics, /^resnet_http_errors_total\{route="\/ping",code="NOT_READY"\} 1$/m);
      assert.match(metrics, /^resnet_http_request_duration_seconds_count\{route="\/readyz",status="503"\} 2$/m);
      // Before any image: each image failure's series is there at 0, for increase() to count the first.
      for (const code of ['IMAGE_EMPTY', 'IMAGE_UNSUPPORTED', 'IMAGE_CORRUPT', 'IMAGE_TOO_LARGE', 'IMAGE_TOO_COMPLEX']) assert.match(metrics, new RegExp(`^resnet_image_failures_total\\{code="${code}"\\} 0$`, 'm'), code);
      const res = await loading.inject({ method: 'POST', url: '/predict', ...multipartBody([file(photos[0])]) });
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().code, 'NOT_READY');
      assert.equal(res.headers['retry-after'], '1');
    } finally {
      await loading.close();
    }
  });

  test('the page is served with a strict CSP and no external assets', async () => {
    const page = await app.inject('/');
    assert.equal(page.statusCode, 200);
    assert.match(page.headers['content-security-policy'] as string, /script-src 'self'/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.doesNotMatch(page.body, /<script>|https?:\/\//);
    for (const asset of ['/app.js', '/app.css', '/icon.svg']) assert.equal((await app.inject(asset)).statusCode, 200, asset);
    assert.equal((await app.inject('/../package.json')).statusCode, 404);
    assert.equal((await app.inject('/%2e%2e/package.json')).statusCode, 404);
  });
});
