/**
 * Users' own ONNX classifiers in the shapes exporters really write: a model
 * ending in Softmax, features before logits, an output named like one we
 * add, float16 inside, open height and width, a fixed batch, opset 18's
 * ReduceMean, external weights, a transformer-like graph for int8.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ImageClassifier } from '../classify/classifier.js';
import { isResnetServeError } from '../errors.js';
import { testPhoto } from '../testing/fixtures.js';
import { scratchDir } from '../testing/scratch.js';
import { encodeOnnxModel, type GraphNode, type GraphSpec, type Initializer } from './onnx-proto.js';

const CLASSES = 1000;
const CHANNELS = 3;
let dir: string;
let photo: Buffer;
before(async () => {
  dir = await scratchDir('rs-user-onnx-');
  photo = await testPhoto(7, 320, 240);
});

const weight = Float32Array.from({ length: CLASSES * CHANNELS }, (_, i) => Math.sin(i * 0.37) * 60);
const bias = Float32Array.from({ length: CLASSES }, (_, i) => Math.cos(i * 0.11));

interface Shape {
  /** Appends Softmax to the answer. */
  softmax?: boolean;
  /** The features as a first output, before the answer. */
  featuresFirst?: boolean;
  /** That output's name. */
  featuresName?: string;
  outputName?: string;
  inputDims?: (number | string)[];
  /** Pool with opset 18's ReduceMean (axes as an input) instead of GlobalAveragePool. */
  reduceMean18?: boolean;
  /** Compute in float16 between a Cast in and a Cast out. */
  float16?: boolean;
  /** Keep the final layer's weights in `<file>.data`. */
  externalData?: boolean;
  /** A 1×1 convolution before the pooling. */
  conv?: boolean;
}

/** Writes `input → pool → Flatten → Gemm [→ Softmax]` as `name`.onnx (and its `.data`), returning its path. */
function writeModel(name: string, shape: Shape = {}): string {
  const path = join(dir, `${name}.onnx`);
  const t = shape.float16 ? '16' : '';
  const nodes: GraphNode[] = [];
  const initializers: Initializer[] = [
    { name: 'w', dims: [CLASSES, CHANNELS], data: weight, ...(shape.externalData ? { external: { location: `${name}.onnx.data`, offset: 0 } } : {}) },
    { name: 'b', dims: [CLASSES], data: bias },
  ];
  const inputDims = shape.inputDims ?? ['N', CHANNELS, 224, 224];
  // Channels last: a Transpose to channels first, as converters from TensorFlow write.
  const source = inputDims[3] === CHANNELS && inputDims[1] !== CHANNELS ? 'nchw' : 'input';
  if (source === 'nchw') nodes.push({ op: 'Transpose', inputs: ['input'], outputs: ['nchw'], attributes: { perm: [0, 3, 1, 2] } });
  if (shape.float16) {
    nodes.push(
      { op: 'Cast', inputs: ['input'], outputs: ['input16'], attributes: { to: 10 } },
      { op: 'Cast', inputs: ['w'], outputs: ['w16'], attributes: { to: 10 } },
      { op: 'Cast', inputs: ['b'], outputs: ['b16'], attributes: { to: 10 } },
    );
  }
  let image = shape.float16 ? 'input16' : source;
  if (shape.conv) {
    initializers.push({ name: 'k', dims: [CHANNELS, CHANNELS, 1, 1], data: Float32Array.from({ length: 9 }, (_, i) => (i % 4 === 0 ? 1 : 0.1)) });
    if (shape.float16) nodes.push({ op: 'Cast', inputs: ['k'], outputs: ['k16'], attributes: { to: 10 } });
    nodes.push({ op: 'Conv', inputs: [image, shape.float16 ? 'k16' : 'k'], outputs: ['convolved'], attributes: { kernel_shape: [1, 1] } });
    image = 'convolved';
  }
  if (shape.reduceMean18) {
    initializers.push({ name: 'axes', dims: [2], data: BigInt64Array.of(-1n, -2n), type: 'int64' });
    nodes.push({ op: 'ReduceMean', inputs: [image, 'axes'], outputs: ['pooled'], attributes: { keepdims: 1 } });
  } else {
    nodes.push({ op: 'GlobalAveragePool', inputs: [image], outputs: ['pooled'] });
  }
  const answer = shape.outputName ?? 'output';
  nodes.push(
    { op: 'Flatten', inputs: ['pooled'], outputs: ['features'], attributes: { axis: 1 } },
    { op: 'Gemm', inputs: ['features', `w${t}`, `b${t}`], outputs: [shape.softmax || shape.float16 ? 'scores' : answer], attributes: { transB: 1 } },
  );
  if (shape.float16) nodes.push({ op: 'Cast', inputs: ['scores'], outputs: [shape.softmax ? 'scores32' : answer], attributes: { to: 1 } });
  if (shape.softmax) nodes.push({ op: 'Softmax', inputs: [shape.float16 ? 'scores32' : 'scores'], outputs: [answer], attributes: { axis: 1 } });
  const outputs = [{ name: answer, dims: [inputDims[0], CLASSES] }];
  if (shape.featuresFirst) {
    const features = shape.featuresName ?? 'features_out';
    nodes.push({ op: 'Identity', inputs: ['features'], outputs: [features] });
    outputs.unshift({ name: features, dims: [inputDims[0], CHANNELS] });
  }
  const spec: GraphSpec = { name, opset: shape.reduceMean18 ? 18 : 13, nodes, initializers, inputs: [{ name: 'input', dims: inputDims }], outputs };
  writeFileSync(path, encodeOnnxModel(spec));
  if (shape.externalData) writeFileSync(`${path}.data`, new Uint8Array(weight.buffer));
  return path;
}

async function withModel<T>(path: string, use: (c: ImageClassifier) => Promise<T>): Promise<T> {
  const classifier = await ImageClassifier.create({ model: path, cacheDir: join(dir, 'cache'), threads: 1 });
  try {
    return await use(classifier);
  } finally {
    await classifier.close();
  }
}

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isResnetServeError(err), String(err));
    return { code: err.code, message: err.message };
  }
  assert.fail('expected a refusal');
}

const topOf = (path: string) => withModel(path, (c) => c.classify(photo, { topK: 3 }));

test('a model that ends in Softmax gives its own probabilities, not a softmax of them', async () => {
  const plain = await topOf(writeModel('plain'));
  const softmaxed = await topOf(writeModel('softmaxed', { softmax: true }));
  assert.deepEqual(softmaxed.map((p) => p.index), plain.map((p) => p.index));
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(softmaxed[i].score - plain[i].score) < 1e-5, `${softmaxed[i].score} against ${plain[i].score}`);
  assert.ok(plain[0].score > 0.01, 'the scores are not flat, so a second softmax would show');
});

test('features before the logits: the [N, 1000] output is the answer, and the embedding is found behind it', async () => {
  const plain = await topOf(writeModel('plain2'));
  await withModel(writeModel('features-first', { featuresFirst: true }), async (c) => {
    const answer = await c.classify(photo, { topK: 3 });
    assert.deepEqual(answer.map((p) => p.index), plain.map((p) => p.index));
    assert.equal((await c.embed(photo)).length, CHANNELS);
  });
});

test('an output named "embedding" classifies, and asking for an embedding is refused with what to do, never a crash', async () => {
  for (const outputName of ['embedding', 'feature_map']) {
    await withModel(writeModel(`named-${outputName}`, { outputName }), async (c) => {
      assert.equal((await c.classify(photo, { topK: 3 })).length, 3);
      const refused = await refusal(c.embed(photo));
      assert.equal(refused.code, 'OUTPUT_UNAVAILABLE');
      assert.match(refused.message, new RegExp(`its output is named ${outputName}, .*output_names=\\["logits"\\]`));
    });
  }
});

test('a model that gives its own "embedding" output keeps it, and gets the feature map added for heatmaps', async () => {
  await withModel(writeModel('own-embedding', { featuresFirst: true, featuresName: 'embedding' }), async (c) => {
    assert.deepEqual(c.model.info.outputs, ['logits', 'embedding', 'feature_map']);
    assert.equal((await c.embed(photo)).length, CHANNELS);
    const explained = await c.explain(photo);
    assert.ok(explained.map.width > 0);
  });
});

test('float16 inside, float32 at its edges: it classifies, its embedding comes out float32, and int8 says it needs a float32 model', async () => {
  const path = writeModel('half', { float16: true, conv: true });
  await withModel(path, async (c) => {
    assert.equal((await c.classify(photo, { topK: 3 })).length, 3);
    const embedding = await c.embed(photo);
    assert.ok(embedding instanceof Float32Array && embedding.length === CHANNELS);
  });
  const int8 = await refusal(ImageClassifier.create({ model: path, cacheDir: join(dir, 'cache'), precision: 'int8' }));
  assert.match(int8.message, /its convolutions have no float32 constant weights \(a float16 model\?\); int8 is made from a float32 model/);
});

test('open height and width run at the expected size; a fixed batch of 2 and another fixed size are refused with what to do', async () => {
  await withModel(writeModel('open-hw', { inputDims: ['N', CHANNELS, 'h', 'w'] }), async (c) => {
    assert.equal(c.model.session.inputSize, 224);
    assert.equal((await c.classify(photo, { topK: 3 })).length, 3);
  });
  const batch2 = await refusal(topOf(writeModel('batch2', { inputDims: [2, CHANNELS, 224, 224] })));
  assert.equal(batch2.code, 'MODEL_INVALID');
  assert.match(batch2.message, /takes batches of exactly 2 images.*dynamic_axes=\{"input": \{0: "batch"\}\}/);
  const at299 = writeModel('at299', { inputDims: ['N', CHANNELS, 299, 299] });
  const size = await refusal(topOf(at299));
  assert.match(size.message, new RegExp(`say so in a sidecar file ${at299.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.json: \\{"input_size": 299\\}`));
  writeFileSync(`${at299}.json`, JSON.stringify({ input_size: 299 }));
  assert.equal((await topOf(at299)).length, 3, 'the sidecar does it');
  const nhwc = await refusal(topOf(writeModel('nhwc', { inputDims: ['N', 224, 224, CHANNELS] })));
  assert.match(nhwc.message, /channels last \(NHWC\)/);
});

test("opset 18's ReduceMean (axes as an input): heatmaps find the feature map", async () => {
  await withModel(writeModel('reduce18', { reduceMean18: true }), async (c) => {
    const explained = await c.explain(photo);
    assert.ok(explained.map.width > 0 && explained.map.height > 0);
  });
});

test('weights in a file beside the model: it classifies from where it is; embeddings and int8 say what to do', async () => {
  const path = writeModel('outside', { externalData: true });
  const plain = await topOf(writeModel('inside'));
  for (let round = 0; round < 2; round++) {
    await withModel(path, async (c) => {
      assert.deepEqual((await c.classify(photo, { topK: 3 })).map((p) => p.index), plain.map((p) => p.index), `round ${round}`);
      assert.match((await refusal(c.embed(photo))).message, /separate file \(external data.*external_data=False/);
    });
  }
  const int8 = await refusal(ImageClassifier.create({ model: path, cacheDir: join(dir, 'cache'), precision: 'int8' }));
  assert.equal(int8.code, 'MODEL_INVALID');
  assert.match(int8.message, /cannot be quantised to int8: its weights are in a separate file/);
});

test('a sidecar with a zero std is refused as the sidecar\'s mistake', async () => {
  const path = writeModel('zero-std');
  writeFileSync(`${path}.json`, JSON.stringify({ std: [0.2, 0, 0.2] }));
  const refused = await refusal(topOf(path));
  assert.equal(refused.code, 'MODEL_INVALID');
  assert.match(refused.message, /"std" in .*zero-std\.onnx\.json has 0 at position 2: each of its 3 numbers must be above 0/);
});

test('int8 of a model that works mostly in matrix products (a transformer) is refused: it would stay fp32 and run no faster', async () => {
  const path = join(dir, 'products.onnx');
  const square = (seed: number) => Float32Array.from({ length: 9 }, (_, i) => Math.sin(i + seed));
  const spec: GraphSpec = {
    name: 'products',
    opset: 13,
    nodes: [
      { op: 'Conv', inputs: ['input', 'k'], outputs: ['patches'], attributes: { kernel_shape: [1, 1] } },
      { op: 'GlobalAveragePool', inputs: ['patches'], outputs: ['pooled'] },
      { op: 'Flatten', inputs: ['pooled'], outputs: ['f0'], attributes: { axis: 1 } },
      { op: 'MatMul', inputs: ['f0', 'm1'], outputs: ['f1'] },
      { op: 'MatMul', inputs: ['f1', 'm2'], outputs: ['f2'] },
      { op: 'MatMul', inputs: ['f2', 'm3'], outputs: ['features'] },
      { op: 'Gemm', inputs: ['features', 'w', 'b'], outputs: ['output'], attributes: { transB: 1 } },
    ],
    initializers: [
      { name: 'k', dims: [3, 3, 1, 1], data: square(0) },
      { name: 'm1', dims: [3, 3], data: square(1) },
      { name: 'm2', dims: [3, 3], data: square(2) },
      { name: 'm3', dims: [3, 3], data: square(3) },
      { name: 'w', dims: [CLASSES, CHANNELS], data: weight },
      { name: 'b', dims: [CLASSES], data: bias },
    ],
    inputs: [{ name: 'input', dims: ['N', CHANNELS, 224, 224] }],
    outputs: [{ name: 'output', dims: ['N', CLASSES] }],
  };
  writeFileSync(path, encodeOnnxModel(spec));
  assert.equal((await topOf(path)).length, 3, 'fp32 runs');
  const refused = await refusal(ImageClassifier.create({ model: path, cacheDir: join(dir, 'cache'), precision: 'int8' }));
  assert.equal(refused.code, 'MODEL_INVALID');
  assert.match(refused.message, /cannot usefully be quantised to int8: .*4 matrix products \(MatMul, Gemm\) against 1 convolution, .*run it in fp32/);
});
