import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { ImageClassifier } from '../classify/classifier.js';
import { isResnetServeError } from '../errors.js';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { PRETRAINED_ONNX, REFERENCE_DIR, readFloat32, skipWithoutDatasets, skipWithoutReference } from '../testing/shared.js';
import { convClassifierOnnx, tinyClassifierOnnx } from '../testing/tiny-onnx.js';
import { loadModel } from './load-model.js';
import { classifierWeights, locateOutputs, withExtraOutputs } from './model-outputs.js';
import { readGraph } from './onnx-graph.js';
import { ClassifierSession } from './session.js';
import { scratchDir } from '../testing/scratch.js';

const PER = 3 * 224 * 224;
let cacheDir: string;
before(async () => {
  cacheDir = await scratchDir('rs-outputs-');
});

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test('our ResNet graph gives the embedding (the pooled feature map) and the feature map in the same run as the logits', async () => {
  const { path, dict } = await writeRandomCheckpoint('resnet18', 31);
  const model = await loadModel({ model: path, cacheDir, threads: 1 });
  try {
    assert.deepEqual(model.info.outputs, ['logits', 'embedding', 'feature_map']);
    const input = Float32Array.from({ length: 2 * PER }, (_, i) => Math.sin(i * 0.001));
    const out = await model.session.run(input, 2, ['embedding', 'feature_map']);
    assert.deepEqual(out.embedding?.dims, [2, 512]);
    assert.deepEqual(out.feature_map?.dims, [2, 512, 7, 7]);
    const map = out.feature_map?.data as Float32Array;
    const embedding = out.embedding?.data as Float32Array;
    for (const c of [0, 100, 511]) {
      const mean = map.subarray((512 + c) * 49, (512 + c + 1) * 49).reduce((a, b) => a + b, 0) / 49;
      assert.ok(Math.abs(mean - embedding[512 + c]) < 1e-4, `channel ${c}`);
    }
    // logits = fc(embedding)
    const w = dict.get('fc.weight')?.data as Float32Array;
    const b = dict.get('fc.bias')?.data as Float32Array;
    for (const k of [0, 281, 999]) {
      let z = b[k];
      for (let j = 0; j < 512; j++) z += w[k * 512 + j] * embedding[512 + j];
      assert.ok(Math.abs(z - out.logits.data[1000 + k]) < 1e-3, `class ${k}`);
    }
  } finally {
    await model.session.release();
  }
});

test("PyTorch's own ONNX export: the embedding found by reading its graph equals ours from the .pth", { skip: skipWithoutReference }, async () => {
  const exported = readFileSync(join(REFERENCE_DIR, 'resnet18-seed0.onnx'));
  const edited = withExtraOutputs(exported, readGraph(exported));
  assert.ok(edited.bytes, 'found');
  assert.deepEqual(edited.outputs, ['embedding', 'feature_map']);
  const theirs = await ClassifierSession.open(edited.bytes, { threads: 1 });
  const ours = await loadModel({ model: join(REFERENCE_DIR, 'resnet18-seed0.pth'), cacheDir, threads: 1 });
  try {
    const inputs = readFloat32(join(REFERENCE_DIR, 'inputs.f32')).subarray(0, 2 * PER);
    const a = await theirs.run(inputs, 2, ['embedding']);
    const b = await ours.session.run(inputs, 2, ['embedding']);
    assert.ok(maxDiff(a.embedding?.data as Float32Array, b.embedding?.data as Float32Array) < 1e-4);
    const weights = classifierWeights(readGraph(exported), locateOutputs(readGraph(exported)).classifier as never);
    assert.equal(weights?.classes, 1000);
    assert.equal(weights?.dim, 512);
  } finally {
    await theirs.release();
    await ours.session.release();
  }
});

test('the quantised MobileNetV2: embedding and feature map dequantised from its int8 graph, its logits unchanged', { skip: skipWithoutDatasets }, async () => {
  const original = readFileSync(PRETRAINED_ONNX);
  const edited = withExtraOutputs(original, readGraph(original));
  assert.ok(edited.bytes);
  const before = await ClassifierSession.open(original, { threads: 1 });
  const after = await ClassifierSession.open(edited.bytes, { threads: 1 });
  try {
    const input = Float32Array.from({ length: PER }, (_, i) => Math.cos(i * 0.002));
    const a = await before.run(input, 1);
    const b = await after.run(input, 1, ['embedding', 'feature_map']);
    assert.deepEqual(Array.from(b.logits.data), Array.from(a.logits.data));
    assert.deepEqual(b.embedding?.dims, [1, 1280]);
    assert.deepEqual(b.feature_map?.dims, [1, 1280, 7, 7]);
    assert.ok((b.embedding?.data as Float32Array).some((v) => v > 0));
    // Every byte of the original graph is still there: its nodes and initializers come through unchanged.
    const g0 = readGraph(original);
    const g1 = readGraph(edited.bytes);
    assert.deepEqual(g1.nodes.slice(0, g0.nodes.length), g0.nodes);
    assert.equal(g1.nodes.length, g0.nodes.length + 2);
    assert.deepEqual([...g1.initializers.keys()], [...g0.initializers.keys()]);
    assert.deepEqual(g1.outputs, ['output', 'embedding', 'feature_map']);
  } finally {
    await before.release();
    await after.release();
  }
});

test('a graph without a final Gemm or MatMul: a clear error when embeddings are asked for, and it still classifies', async () => {
  const dir = await scratchDir('rs-conv-');
  const path = join(dir, 'conv-head.onnx');
  writeFileSync(path, convClassifierOnnx(1000));
  const bytes = readFileSync(path);
  const edited = withExtraOutputs(bytes, readGraph(bytes));
  assert.equal(edited.bytes, null);
  assert.match((edited as { reason: string }).reason, /final Gemm or MatMul/);
  const classifier = await ImageClassifier.create({ model: path, cacheDir });
  try {
    const photo = await testPhoto(3, 96, 64);
    assert.equal((await classifier.classify(photo, { topK: 2 })).length, 2);
    await assert.rejects(classifier.embed(photo), (err) => isResnetServeError(err, 'OUTPUT_UNAVAILABLE') && /final Gemm or MatMul/.test(err.message) && /still classify/.test(err.message));
  } finally {
    await classifier.close();
  }
  // The tiny Gemm classifier, by contrast, has one.
  const tiny = tinyClassifierOnnx(['N', 3, 224, 224], 10);
  const found = withExtraOutputs(tiny, readGraph(tiny));
  assert.deepEqual((found as { outputs: string[] }).outputs, ['embedding', 'feature_map']);
});

test('a cache folder that cannot be written: the model still classifies, and embeddings and explanations say why they are missing', async () => {
  const dir = await scratchDir('rs-nocache-');
  const path = join(dir, 'tiny.onnx');
  writeFileSync(path, tinyClassifierOnnx(['N', 3, 224, 224], 10));
  writeFileSync(`${path}.json`, JSON.stringify({ labels: Array.from({ length: 10 }, (_, i) => `part ${i}`) }));
  const notAFolder = join(dir, 'cache-is-a-file');
  writeFileSync(notAFolder, '');
  const classifier = await ImageClassifier.create({ model: path, cacheDir: notAFolder });
  try {
    const photo = await testPhoto(5, 96, 64);
    assert.equal((await classifier.classify(photo, { topK: 3 })).length, 3);
    const why = /could not be saved in the cache folder .*cache-is-a-file \(ENOTDIR\)/;
    await assert.rejects(classifier.embed(photo), (err) => isResnetServeError(err, 'OUTPUT_UNAVAILABLE') && why.test(err.message));
    await assert.rejects(classifier.explain(photo), (err) => isResnetServeError(err, 'OUTPUT_UNAVAILABLE') && why.test(err.message));
  } finally {
    await classifier.close();
  }
});
