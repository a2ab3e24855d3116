/** The v2 protocol, driven over real HTTP by a client written from the specification and Triton's client's request shapes. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { softmax, topK } from '../../classify/postprocess.js';
import type { ClassificationService } from '../../classify/service.js';
import { startTestService, testPhoto } from '../../testing/fixtures.js';
import { OipClient } from '../../testing/oip-client.js';
import { seededRandom } from '../../testing/random-resnet.js';
import { buildApp, type ResnetApp } from '../app.js';
import { parsesInChild } from './routes.js';
import { scratchDir } from '../../testing/scratch.js';

let service: ClassificationService;
let app: ResnetApp;
let client: OipClient;
let base: string;
let photo: Buffer;
let tensor: Float32Array;
let expectedLogits: Float32Array;

before(async () => {
  service = await startTestService();
  app = await buildApp({ service, processMetrics: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  base = `http://127.0.0.1:${port}`;
  client = new OipClient(base);
  photo = await testPhoto(5);
  tensor = (await service.preprocess(photo)).tensor;
  expectedLogits = (await service.infer(tensor)).logits.data;
});
after(async () => {
  await app.close();
  await service.close();
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]) < 1e-4);
const lengthPrefixed = (bytes: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(bytes.length);
  return Buffer.concat([len, bytes]);
};

describe('metadata', () => {
  test('the model repository index lists every model served, as tritonclient asks for it', async () => {
    // tritonclient's get_model_repository_index() posts an empty body.
    const index = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: '' });
    assert.equal(index.statusCode, 200, index.body);
    assert.deepEqual(index.json(), [
      { name: 'resnet18', version: '1', state: 'READY' },
      { name: 'resnet18-image', version: '1', state: 'READY' },
    ]);
    const ready = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: '{"ready": true}', headers: { 'content-type': 'application/json' } });
    assert.deepEqual(ready.json(), index.json());
    // Not in the protocol, and what people try first: the 404 says where the list is.
    const listing = await app.inject({ method: 'GET', url: '/v2/models' });
    assert.deepEqual([listing.statusCode, listing.json().code], [404, 'NOT_FOUND']);
    assert.match(listing.json().error, /^No route GET \/v2\/models: .* POST \/v2\/repository\/index .* GET \/v1\/models$/);
    const bad = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: '{"ready": "yes"}', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.json().error, /optional boolean "ready"/);
    // Bodies it can never use are not read or parsed: over 64 KB (as on the shared-memory routes), or built of many arrays.
    for (const url of ['/v2/repository/index', '/v2/systemsharedmemory/unregister']) {
      const large = await app.inject({ method: 'POST', url, payload: '['.repeat(100_000), headers: { 'content-type': 'application/json' } });
      assert.deepEqual([large.statusCode, large.json().error], [413, "The request body is larger than this endpoint's limit of 64 KB"], url);
    }
    const nested = await app.inject({ method: 'POST', url: '/v2/repository/index', payload: `${'['.repeat(30_000)}${']'.repeat(30_000)}`, headers: { 'content-type': 'application/json' } });
    assert.deepEqual([nested.statusCode, nested.json().code], [400, 'BAD_REQUEST']);
  });

  test('health, server metadata, and two models with exactly one input each', async () => {
    assert.equal((await client.get('/v2/health/live')).status, 200);
    assert.equal((await client.get('/v2/health/ready')).status, 200);
    const server = await client.get('/v2');
    assert.equal(server.json.name, 'resnet-serve');
    assert.ok((server.json.extensions as string[]).includes('binary_tensor_data'));
    const meta = await client.get('/v2/models/resnet18');
    assert.equal(meta.status, 200);
    assert.deepEqual(meta.json.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }]);
    assert.deepEqual(meta.json.outputs, [{ name: 'logits', datatype: 'FP32', shape: [-1, 1000] }]);
    assert.equal((meta.json.parameters as { onnxruntime_threads: number }).onnxruntime_threads, 2);
    assert.equal((meta.json.parameters as { precision: string }).precision, 'fp32');
    // The embedding is asked for by name on the FP32 model (unlisted, so one-output clients keep working), listed on the image model.
    assert.equal((meta.json.parameters as { extra_outputs: string }).extra_outputs, 'embedding');
    const image = await client.get('/v2/models/resnet18-image');
    assert.deepEqual(image.json.inputs, [{ name: 'image', datatype: 'BYTES', shape: [-1, 1] }]);
    assert.deepEqual(image.json.outputs, [...(meta.json.outputs as object[]), { name: 'embedding', datatype: 'FP32', shape: [-1, -1] }]);
    // What the image model does to a photo, fast mode's reduced-scale decoding included.
    assert.match((image.json.parameters as { preprocessing: string }).preprocessing, service.mode === 'fast' ? /^torchvision Resize\(256\), CenterCrop\(224\), Normalize; fast mode: photos of 512 px and more decoded at reduced scale$/ : /bit for bit \(exact mode\)$/);
    assert.deepEqual((await client.get('/v2/models/resnet18/ready')).json, { name: 'resnet18', ready: true });
    assert.equal((await client.get('/v2/models/resnet18/versions/1')).status, 200);
    assert.equal((await client.get('/v2/models/resnet18/versions/2')).status, 404);
    const unknown = await client.get('/v2/models/vgg16');
    assert.equal(unknown.status, 404);
    assert.match(unknown.json.error as string, /resnet18-image/);
  });

  test("model configuration as Triton gives it, enough for image_client.py's checks", async () => {
    const config = (await client.get('/v2/models/resnet18/config')).json as Record<string, any>;
    const meta = (await client.get('/v2/models/resnet18')).json as Record<string, any>;
    // image_client.py's parse_model(), step by step.
    assert.equal(meta.inputs.length, 1);
    assert.equal(meta.outputs.length, 1);
    assert.equal(config.input.length, 1);
    assert.equal(meta.outputs[0].datatype, 'FP32');
    assert.ok(config.max_batch_size > 0);
    assert.equal(meta.inputs[0].shape.length, 3 + 1);
    assert.equal(config.input[0].format, 'FORMAT_NCHW');
    assert.deepEqual(config.input[0].dims, [3, 224, 224]);
    assert.equal(config.input[0].data_type, 'TYPE_FP32');
    assert.deepEqual(config.output, [{ name: 'logits', data_type: 'TYPE_FP32', dims: [1000], label_filename: '' }]);
    assert.equal(config.max_batch_size, 32);
    assert.deepEqual(config.dynamic_batching, { preferred_batch_size: [16], max_queue_delay_microseconds: 0 });
    assert.deepEqual(config.parameters.precision, { string_value: 'fp32' });
    assert.deepEqual(config.parameters.max_request_bytes, { string_value: String(20 * 1024 * 1024) });
    const image = (await client.get('/v2/models/resnet18-image/versions/1/config')).json as Record<string, any>;
    assert.deepEqual(image.input, [{ name: 'image', data_type: 'TYPE_STRING', format: 'FORMAT_NONE', dims: [1] }]);
  });
});

describe('inference', () => {
  test('FP32 input as JSON data returns the logits, and echoes the id', async () => {
    const r = await client.infer('resnet18', { id: 'req-42', inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: Array.from(tensor) }] });
    assert.equal(r.status, 200);
    assert.equal(r.json.id, 'req-42');
    assert.equal(r.json.model_name, 'resnet18');
    const [out] = r.json.outputs ?? [];
    assert.deepEqual([out.name, out.datatype, out.shape], ['logits', 'FP32', [1, 1000]]);
    assert.ok(close(out.data as number[], expectedLogits));
  });

  test('FP32 input as binary data, with binary output', async () => {
    const batch = new Float32Array(tensor.length * 2);
    batch.set(tensor, 0);
    const rand = seededRandom(1);
    for (let i = tensor.length; i < batch.length; i++) batch[i] = rand() - 0.5;
    const r = await client.infer(
      'resnet18',
      { inputs: [{ name: 'input', shape: [2, 3, 224, 224], datatype: 'FP32' }], outputs: [{ name: 'logits', parameters: { binary_data: true } }] },
      { input: Buffer.from(batch.buffer) },
    );
    assert.equal(r.status, 200);
    const logits = r.binary.logits as Float32Array;
    assert.equal(logits.length, 2000);
    assert.ok(close(logits.subarray(0, 1000), expectedLogits));
    assert.ok(!close(logits.subarray(1000), expectedLogits));
  });

  test('classification: the raw output value by default as Triton does, probabilities when asked', async () => {
    const expected = topK(softmax(expectedLogits), 3);
    const raw = await client.infer('resnet18-image', {
      inputs: [{ name: 'image', shape: [2, 1], datatype: 'BYTES', data: [photo.toString('base64'), photo.toString('base64')] }],
      outputs: [{ name: 'logits', parameters: { classification: 3 } }],
    });
    assert.equal(raw.status, 200);
    const [out] = raw.json.outputs ?? [];
    assert.equal(out.datatype, 'BYTES');
    assert.deepEqual(out.shape, [2, 3]);
    const strings = out.data as string[];
    strings.slice(0, 3).forEach((s, i) => {
      const [value, index, ...label] = s.split(':');
      assert.equal(Number(index), expected[i].index);
      assert.ok(Math.abs(Number(value) - expectedLogits[expected[i].index]) < 1e-4, s);
      assert.equal(label.join(':'), service.model.labels.en[expected[i].index]);
    });
    const probabilities = await client.infer('resnet18-image', {
      inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [photo.toString('base64')] }],
      outputs: [{ name: 'logits', parameters: { classification: 3, classification_probabilities: true } }],
    });
    (probabilities.json.outputs?.[0].data as string[]).forEach((s, i) => assert.ok(Math.abs(Number(s.split(':')[0]) - expected[i].score) < 1e-4, s));
    const bin = await client.infer('resnet18-image', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES' }], parameters: { classification: 2, binary_data_output: true } }, { image: lengthPrefixed(photo) });
    assert.equal(bin.status, 200);
    assert.deepEqual(bin.binary.logits, strings.slice(0, 2));
  });

  test('gzip and deflate request bodies (Triton client request_compression_algorithm) give the same answer', async () => {
    const request = { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: Array.from(tensor) }] };
    for (const compression of ['gzip', 'deflate'] as const) {
      const r = await client.infer('resnet18', request, {}, { compression });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.ok(close(r.json.outputs?.[0].data as number[], expectedLogits), compression);
    }
    const binary = await client.infer('resnet18-image', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES' }] }, { image: lengthPrefixed(photo) }, { compression: 'gzip' });
    assert.equal(binary.status, 200);
  });

  test('a gzip bomb is refused with 413 at the limit, never inflated into memory', async () => {
    const bomb = gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20));
    assert.ok(bomb.length < 1024 * 1024);
    const rss = process.memoryUsage().rss;
    const r = await client.send('resnet18', bomb, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(r.status, 413);
    assert.equal(r.json.code, 'PAYLOAD_TOO_LARGE');
    assert.ok(process.memoryUsage().rss - rss < 120 * 1024 * 1024, 'memory grew by the decompressed size');
    const broken = await client.send('resnet18', Buffer.from('not gzip at all'), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(broken.status, 400);
    const unknownEncoding = await client.send('resnet18', Buffer.from('{}'), { 'content-type': 'application/json', 'content-encoding': 'br' });
    assert.equal(unknownEncoding.status, 415);
  });
});

describe('refusals, each before any work', () => {
  const refused = async (model: string, request: Parameters<OipClient['infer']>[1], status: number, message: RegExp, binary: Record<string, Buffer> = {}): Promise<void> => {
    const r = await client.infer(model, request, binary);
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.match(r.json.error as string, message);
    assert.equal(typeof r.json.code, 'string');
  };
  const image = { name: 'image', shape: [1], datatype: 'BYTES', data: [] as string[] };

  test('unknown inputs, as Triton answers them; encoded images belong to the -image model', async () => {
    image.data = [photo.toString('base64')];
    await refused('resnet18', { inputs: [image] }, 400, /Unexpected inference input 'image' for model 'resnet18'/);
    await refused('resnet18-image', { inputs: [{ name: 'pixels', shape: [1], datatype: 'BYTES', data: [] }] }, 400, /Unexpected inference input 'pixels'/);
    await refused('resnet18-image', { inputs: [image, image] }, 400, /takes one input/);
  });

  test('BYTES that are not base64 are a 400 that says so, not a corrupt image', async () => {
    await refused('resnet18-image', { inputs: [{ ...image, data: ['!!!not base64!!!'] }] }, 400, /BYTES element 0 \(counting from 0\) is not base64/);
    // Line breaks (MIME-style base64) and URL-safe base64 are still base64.
    const wrapped = photo.toString('base64').replace(/.{76}/g, '$&\n');
    const ok = await client.infer('resnet18-image', { inputs: [{ ...image, data: [wrapped] }] });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
  });

  test('shared memory is refused, not ignored', async () => {
    await refused('resnet18-image', { inputs: [{ ...image, parameters: { shared_memory_region: 'in0', shared_memory_byte_size: 10 } }] }, 400, /shared memory/);
    await refused('resnet18-image', { inputs: [image], outputs: [{ name: 'logits', parameters: { shared_memory_region: 'out0', shared_memory_byte_size: 4000 } }] }, 400, /shared memory/);
  });

  test('an output asked for 20,000 times is refused at once, and the server stays well', async () => {
    const rss = process.memoryUsage().rss;
    const outputs = Array.from({ length: 20_000 }, () => ({ name: 'logits' }));
    await refused('resnet18-image', { inputs: [image], outputs }, 400, /output\(s\); 20000 were asked for/);
    await refused('resnet18-image', { inputs: [image], outputs: [{ name: 'logits' }, { name: 'logits' }] }, 400, /output\(s\)|twice/);
    await refused('resnet18-image', { inputs: [image], outputs: [{ name: 'probabilities' }] }, 400, /Unexpected inference output 'probabilities'/);
    assert.ok(process.memoryUsage().rss - rss < 100 * 1024 * 1024);
    assert.equal((await client.infer('resnet18-image', { inputs: [image] })).status, 200);
  });

  test('NaN and infinity are refused in binary tensors as in JSON', async () => {
    const poisoned = new Float32Array(tensor);
    poisoned[7] = Number.NaN;
    await refused('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32' }] }, 400, /finite/, { input: Buffer.from(poisoned.buffer) });
    poisoned[7] = Number.POSITIVE_INFINITY;
    await refused('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32' }] }, 400, /finite/, { input: Buffer.from(poisoned.buffer) });
    const json = Array.from(tensor) as (number | string)[];
    json[3] = 'NaN';
    await refused('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: json }] }, 400, /numbers/);
  });

  test('data nested 100,000 deep is a 400, not a crash', async () => {
    const deep = `{"inputs":[{"name":"input","shape":[1,3,224,224],"datatype":"FP32","data":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`;
    const r = await client.send('resnet18', Buffer.from(deep), { 'content-type': 'application/json' });
    assert.equal(r.status, 400);
    assert.match(r.json.error as string, /nested|JSON/);
  });

  test('malformed requests', async () => {
    await refused('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 32, 32], datatype: 'FP32', data: new Array(3 * 32 * 32).fill(0) }] }, 400, /must have shape/);
    await refused('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: [1, 2, 3] }] }, 400, /needs 150528 values, got 3/);
    await refused('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'INT8', data: [] }] }, 400, /has datatype FP32, not INT8$/);
    await refused('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FLOAT', data: [] }] }, 400, /not "FLOAT", which is not a datatype of the protocol \(BOOL, .*FP32/);
    await refused('resnet18', { inputs: [{ name: 'input', shape: [100_000_000, 3, 224, 224], datatype: 'FP32', data: [] }] }, 413, /a batch of 100000000; at most \d+ images/);
    await refused('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], data: [] }] as never }, 400, /Input 'input' of model 'resnet18' needs "datatype": "FP32"$/);
    await refused('resnet18', { inputs: [] }, 400, /needs "inputs"/);
    // In a batch, the image that failed is named by its place (from 0).
    const truncated = photo.subarray(0, Math.floor(photo.length / 2)).toString('base64');
    await refused('resnet18-image', { inputs: [{ name: 'image', shape: [2], datatype: 'BYTES', data: [photo.toString('base64'), truncated] }] }, 422, /^Element 1 of the batch: /);
    await refused('resnet18-image', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: ['aGVsbG8='] }] }, 415, /supported format/);
    await refused('resnet18-image', { inputs: [{ name: 'image', shape: [2], datatype: 'BYTES', data: [photo.toString('base64')] }] }, 400, /shape says 2 images, 1 was sent$/);
    await refused('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', parameters: { binary_data_size: null } }] }, 400, /binary_data_size must be a whole number of bytes, not null$/);
    const notJson = await client.send('resnet18', Buffer.from('{nope'), { 'content-type': 'application/json' });
    assert.equal(notJson.status, 400);
    assert.match(notJson.json.error as string, /not valid JSON: Expected property name or '\}' in JSON at position 1/);
    // A photo sent as the body: told where it goes, and none of its bytes comes back (nor goes to the log).
    const image = await client.send('resnet18', photo, { 'content-type': 'application/json' });
    assert.equal(image.status, 400);
    assert.match(image.json.error as string, /does not start with "\{" \(an image file goes base64-encoded in the BYTES input of the model's "-image" model/);
    assert.doesNotMatch(image.json.error as string, /JFIF|\\u0000|\u0000/);
    // Whatever its bytes: a photo whose data happens to hold many '[' is told the same, not "nested too deep".
    const brackets = await client.send('resnet18', Buffer.concat([photo.subarray(0, 4), Buffer.alloc(200, '['), photo.subarray(4)]), { 'content-type': 'image/jpeg' });
    assert.deepEqual([brackets.status, brackets.json.error], [image.status, image.json.error]);
    const empty = await client.send('resnet18', Buffer.alloc(0), { 'content-type': 'application/json' });
    assert.equal(empty.status, 400);
    assert.match(empty.json.error as string, /not valid JSON: the body is empty \(send the inference request, a JSON object with "inputs"\)$/);
    const cut = await client.send('resnet18', Buffer.from('{"inputs": ['), { 'content-type': 'application/json' });
    assert.match(cut.json.error as string, /not valid JSON: /);
  });
});

describe('statistics and shared memory, as tritonclient asks for them', () => {
  type Duration = { count: number; ns: number };
  type ModelStat = { name: string; version: string; last_inference: number; inference_count: number; execution_count: number; inference_stats: Record<string, Duration>; batch_stats: { batch_size: number; compute_infer: Duration }[] };
  const statsOf = async (path: string): Promise<ModelStat[]> => {
    const r = await client.get(path);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json.model_stats as ModelStat[];
  };

  test('get_inference_statistics(): requests, images, failures and where the time went, per model', async () => {
    const all = await statsOf('/v2/models/stats');
    assert.deepEqual(all.map((m) => m.name), ['resnet18', 'resnet18-image']);
    const before = all[0];
    // The tests above sent this model answered requests and refused ones.
    assert.ok(before.execution_count >= 1 && before.inference_stats.fail.count >= 1, JSON.stringify(before));
    assert.equal(before.inference_stats.success.count, before.execution_count);
    const pair = new Float32Array(2 * tensor.length);
    pair.set(tensor);
    pair.set(tensor, tensor.length);
    const r = await client.infer('resnet18', { inputs: [{ name: 'input', shape: [2, 3, 224, 224], datatype: 'FP32' }] }, { input: Buffer.from(pair.buffer) });
    assert.equal(r.status, 200);
    const [after] = await statsOf('/v2/models/resnet18/versions/1/stats');
    assert.equal(after.name, 'resnet18');
    assert.equal(after.inference_count, before.inference_count + 2, 'images');
    assert.equal(after.execution_count, before.execution_count + 1, 'requests');
    assert.ok(after.last_inference >= before.last_inference && after.last_inference <= Date.now());
    for (const part of ['success', 'compute_input', 'compute_infer', 'compute_output']) assert.ok(after.inference_stats[part].ns > before.inference_stats[part].ns, part);
    // The whole request is at least its parts.
    const s = after.inference_stats;
    assert.ok(s.success.ns >= s.compute_input.ns + s.compute_infer.ns + s.compute_output.ns - 1000 * s.success.count);
    assert.ok(after.batch_stats.some((b) => b.batch_size === 2 && b.compute_infer.count >= 1), JSON.stringify(after.batch_stats));
    assert.equal((await client.get('/v2/models/vgg16/stats')).status, 404);
    assert.ok(((await client.get('/v2')).json.extensions as string[]).includes('statistics'));
  });

  test('no shared memory: an empty status, registering refused with what to do instead, unregistering a no-op', async () => {
    for (const kind of ['systemsharedmemory', 'cudasharedmemory']) {
      const status = await client.get(`/v2/${kind}/status`);
      assert.equal(status.status, 200);
      assert.deepEqual(status.json, []);
      const register = await fetch(`${base}/v2/${kind}/region/in0/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ key: '/in0', offset: 0, byte_size: 64 }) });
      assert.equal(register.status, 400);
      assert.match((await register.json()).error, /does not use .*shared memory; send tensors in the request body/);
      assert.equal((await fetch(`${base}/v2/${kind}/unregister`, { method: 'POST' })).status, 200);
      assert.equal((await client.get(`/v2/${kind}/region/in0/status`)).status, 404);
    }
  });
});

describe('large JSON bodies', () => {
  test('the event loop parses only small JSON of few arrays, objects and strings; the rest goes to the child process', () => {
    const text = (s: string) => new TextEncoder().encode(s);
    const request = (data: string) => text(`{"inputs":[{"name":"input","shape":[1,3,224,224],"datatype":"FP32","data":[${data}]}]}`);
    assert.equal(parsesInChild(request('0.5,'.repeat(20_000) + '0.5')), false, '80 KB of numbers');
    assert.equal(parsesInChild(request('0.5,'.repeat(70_000) + '0.5')), true, '280 KB of numbers');
    assert.equal(parsesInChild(request('[],'.repeat(5_000) + '[]')), true, '15 KB of empty arrays');
    assert.equal(parsesInChild(request('"a",'.repeat(5_000) + '"a"')), true, '20 KB of strings');
    const image = text(JSON.stringify({ inputs: [{ name: 'image', shape: [2], datatype: 'BYTES', data: ['a'.repeat(90_000), 'b'.repeat(90_000)] }] }));
    assert.equal(parsesInChild(image), false, 'two base64 images in 180 KB');
  });

  test('a body built to need far more memory than its size (16 MB of nested empty arrays) is refused with 400 before it is parsed; the next request is answered', async () => {
    const bomb = `{"inputs":[{"name":"input","shape":[1,3,224,224],"datatype":"FP32","data":[${'[],'.repeat(5_500_000)}[]]}]}`;
    const res = await fetch(`${base}/v2/models/resnet18/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bomb });
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /holds more than \d+ arrays and objects/);
    const next = await client.infer('resnet18', { inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: Array.from(tensor) }] });
    assert.equal(next.status, 200);
  });

  // A liveness bound, not a speed goal (timings live in the bench): the JSON is parsed and checked in a worker,
  // and on this 2-core machine probes under this load took up to 155 ms, so the bound is Kubernetes' probe timeout.
  test('health checks keep answering within a probe timeout while four 9 MB FP32-as-JSON requests are parsed and run', async () => {
    const rand = seededRandom(3);
    const images = 6;
    const data = Array.from({ length: images * tensor.length }, () => Math.round((rand() * 4 - 2) * 1e6) / 1e6);
    const body = JSON.stringify({ inputs: [{ name: 'input', shape: [images, 3, 224, 224], datatype: 'FP32', data }] });
    assert.ok(body.length > 8 * 1024 * 1024, `${body.length} bytes`);
    const dir = await scratchDir('rs-v2-load-');
    writeFileSync(join(dir, 'body.json'), body);
    // The load comes from another process, as it would in production; this process is only the server and the prober.
    const script = `
      const body = require('node:fs').readFileSync(${JSON.stringify(join(dir, 'body.json'))});
      Promise.all(Array.from({ length: 4 }, () => fetch(${JSON.stringify(`${base}/v2/models/resnet18/infer`)}, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        .then(async (r) => ({ status: r.status, shape: (await r.json()).outputs?.[0].shape }))))
        .then((results) => console.log(JSON.stringify(results)));`;
    const load = spawn(process.execPath, ['-e', script]);
    let output = '';
    load.stdout.on('data', (d) => (output += d));
    const finished = new Promise<void>((resolve) => load.on('close', () => resolve()));
    const latencies: number[] = [];
    let loading = true;
    void finished.then(() => (loading = false));
    while (loading) {
      const t0 = performance.now();
      const res = await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      latencies.push(performance.now() - t0);
      assert.equal(res.status, 200);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const results = JSON.parse(output) as { status: number; shape: number[] }[];
    assert.deepEqual(results, Array.from({ length: 4 }, () => ({ status: 200, shape: [images, 1000] })));
    assert.ok(latencies.length >= 20, `${latencies.length} probes`);
    const slowest = Math.max(...latencies);
    assert.ok(slowest < 1000, `/healthz took ${slowest.toFixed(1)} ms once over ${latencies.length} probes (Kubernetes' default probe timeout is 1 s)`);
  });
});
