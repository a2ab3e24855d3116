/** The v2 protocol, driven over real HTTP by a client written from the specification. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { softmax, topK } from '../classify/postprocess.js';
import type { ClassificationService } from '../classify/service.js';
import { startTestService, testPhoto } from '../testing/fixtures.js';
import { OipClient } from '../testing/oip-client.js';
import { seededRandom } from '../testing/random-resnet.js';
import { buildApp, type ResnetApp } from './app.js';

let service: ClassificationService;
let app: ResnetApp;
let client: OipClient;
let photo: Buffer;
let tensor: Float32Array;
let expectedLogits: Float32Array;

before(async () => {
  service = await startTestService();
  app = await buildApp({ service, processMetrics: false });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  client = new OipClient(`http://127.0.0.1:${port}`);
  photo = await testPhoto(5);
  tensor = (await service.preprocess(photo)).tensor;
  expectedLogits = await service.infer(tensor);
});
after(async () => {
  await app.close();
  await service.close();
});

const close = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.from(a).every((v, i) => Math.abs(v - b[i]) < 1e-4);

test('health, server metadata and model metadata', async () => {
  assert.equal((await client.get('/v2/health/live')).status, 200);
  assert.equal((await client.get('/v2/health/ready')).status, 200);
  const server = await client.get('/v2');
  assert.equal(server.json.name, 'resnet-serve');
  assert.ok(Array.isArray(server.json.extensions) && server.json.extensions.includes('binary_tensor_data'));
  const meta = await client.get('/v2/models/resnet18');
  assert.equal(meta.status, 200);
  assert.equal(meta.json.name, 'resnet18');
  assert.deepEqual((meta.json.inputs as { shape: number[] }[])[0].shape, [-1, 3, 224, 224]);
  assert.deepEqual(meta.json.outputs, [{ name: 'logits', datatype: 'FP32', shape: [-1, 1000] }]);
  assert.equal((meta.json.parameters as { onnxruntime_threads: number }).onnxruntime_threads, 2);
  assert.deepEqual((await client.get('/v2/models/resnet18/ready')).json, { name: 'resnet18', ready: true });
  assert.equal((await client.get('/v2/models/resnet18/versions/1')).status, 200);
  const unknown = await client.get('/v2/models/vgg16');
  assert.equal(unknown.status, 404);
  assert.equal(typeof unknown.json.error, 'string');
});

test('FP32 input as JSON data returns the logits, and echoes the id', async () => {
  const r = await client.infer('resnet18', { id: 'req-42', inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: Array.from(tensor) }] });
  assert.equal(r.status, 200);
  assert.equal(r.json.id, 'req-42');
  assert.equal(r.json.model_name, 'resnet18');
  const [out] = r.json.outputs ?? [];
  assert.equal(out.name, 'logits');
  assert.equal(out.datatype, 'FP32');
  assert.deepEqual(out.shape, [1, 1000]);
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

test('BYTES input of encoded images with the classification extension', async () => {
  const expected = topK(softmax(expectedLogits), 3);
  const json = await client.infer('resnet18', {
    inputs: [{ name: 'image', shape: [2], datatype: 'BYTES', data: [photo.toString('base64'), photo.toString('base64')] }],
    outputs: [{ name: 'logits', parameters: { classification: 3 } }],
  });
  assert.equal(json.status, 200);
  const [out] = json.json.outputs ?? [];
  assert.equal(out.datatype, 'BYTES');
  assert.deepEqual(out.shape, [2, 3]);
  const strings = out.data as string[];
  strings.slice(0, 3).forEach((s, i) => {
    const [score, index, ...label] = s.split(':');
    assert.equal(Number(index), expected[i].index);
    assert.ok(Math.abs(Number(score) - expected[i].score) < 1e-4);
    assert.equal(label.join(':'), service.model.labels.en[expected[i].index]);
  });
  const lengthPrefixed = Buffer.concat([Buffer.alloc(4), photo]);
  lengthPrefixed.writeUInt32LE(photo.length);
  const bin = await client.infer('resnet18', { inputs: [{ name: 'image', shape: [1], datatype: 'BYTES' }], parameters: { classification: 2, binary_data_output: true } }, { image: lengthPrefixed });
  assert.equal(bin.status, 200);
  assert.deepEqual(bin.binary.logits, strings.slice(0, 2));
});

test('malformed requests get 4xx with {"error": "…"}', async () => {
  const bad = async (request: Parameters<OipClient['infer']>[1], status = 400): Promise<void> => {
    const r = await client.infer('resnet18', request);
    assert.equal(r.status, status, JSON.stringify(r.json));
    assert.equal(typeof r.json.error, 'string');
  };
  await bad({ inputs: [{ name: 'input', shape: [1, 3, 32, 32], datatype: 'FP32', data: new Array(3 * 32 * 32).fill(0) }] });
  await bad({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'FP32', data: [1, 2, 3] }] });
  await bad({ inputs: [{ name: 'input', shape: [1, 3, 224, 224], datatype: 'INT8', data: [] }] });
  await bad({ inputs: [] });
  await bad({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: ['aGVsbG8='] }] }, 415);
  await bad({ inputs: [{ name: 'image', shape: [1], datatype: 'BYTES', data: [photo.toString('base64')] }], outputs: [{ name: 'probabilities' }] });
  const notJson = await fetch(`${(client as unknown as { base: string }).base}/v2/models/resnet18/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{nope' });
  assert.equal(notJson.status, 400);
  assert.equal(typeof (await notJson.json()).error, 'string');
});
