import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ImageClassifier } from './classifier.js';
import { explainHeadOutputs, explainOutputs, finalLayer, headLayer, resolveClass, resolveHeadClass } from './explain.js';
import { Head, type TrainingSummary } from '../heads/head.js';
import { massInside, upsampleMap } from './cam.js';
import { readCheckpoint } from '../model/pth.js';
import { pasteOnGrey } from '../testing/canvas.js';
import { encodeOnnxModel } from '../model/onnx-proto.js';
import { ResnetServeError } from '../errors.js';
import { PRETRAINED_ONNX, REFERENCE_DIR, readFloat32, referenceCases, skipWithoutDatasets, skipWithoutReference } from '../testing/shared.js';
import { scratchDir } from '../testing/scratch.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';

let cacheDir: string;
before(async () => {
  cacheDir = await scratchDir('rs-explain-');
});

describe('class activation maps', () => {
  test('ResNet-18 seed-0: the map equals the reference input\'s feature map times the checkpoint\'s fc row, for the top class', { skip: skipWithoutReference }, async () => {
    const classifier = await ImageClassifier.create({ model: join(REFERENCE_DIR, 'resnet18-seed0.pth'), cacheDir, preprocess: 'exact' });
    const fc = (await readCheckpoint(readFileSync(join(REFERENCE_DIR, 'resnet18-seed0.pth')))).get('fc.weight')!;
    assert.deepEqual(fc.shape, [1000, 512]);
    const cases = referenceCases();
    const inputs = readFloat32(join(REFERENCE_DIR, 'inputs.f32'));
    const per = 3 * 224 * 224;
    const layer = await finalLayer(classifier.model);
    const picked = cases.map((c, row) => ({ c, row })).filter(({ c }) => c.truth !== undefined).slice(0, 8);
    for (const { c, row } of picked) {
      const [analyzed] = await classifier.analyzeBatch([join(REFERENCE_DIR, 'images', c.file)], ['feature_map']);
      assert.ok(analyzed.ok);
      const explanation = explainOutputs(analyzed.outputs, layer, classifier.model.labels, { topK: 5 });
      const cls = explanation.target.index;
      // Directly: torchvision's own input through the network, the feature map weighted by fc.weight[cls].
      const ref = await classifier.model.session.run(inputs.slice(row * per, (row + 1) * per), 1, ['feature_map']);
      const fm = ref.feature_map!.data;
      const direct = new Float32Array(49);
      for (let k = 0; k < 512; k++) for (let p = 0; p < 49; p++) direct[p] += fc.data[cls * 512 + k] * fm[k * 49 + p];
      const scale = Math.max(...direct.map(Math.abs));
      const worst = Math.max(...explanation.map.values.map((v, p) => Math.abs(v - direct[p])));
      assert.equal(explanation.map.width, 7);
      assert.ok(worst <= 1e-4 * scale + 1e-5, `${c.file}: map differs by ${worst} (scale ${scale})`);
    }
    await classifier.close();
  });

  test('classes by index, English or Chinese label; anything else is a clear error', { skip: skipWithoutReference }, async () => {
    const classifier = await ImageClassifier.create({ model: join(REFERENCE_DIR, 'resnet18-seed0.pth'), cacheDir });
    const labels = classifier.model.labels;
    assert.equal(resolveClass('281', labels, 1000), 281);
    assert.equal(resolveClass('Tabby', labels, 1000), 281);
    assert.equal(resolveClass('虎斑猫', labels, 1000), 281);
    assert.equal(resolveClass(undefined, labels, 1000), undefined);
    assert.throws(() => resolveClass('1000', labels, 1000), (err: unknown) => err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT');
    assert.throws(() => resolveClass('unicorn', labels, 1000), (err: unknown) => err instanceof ResnetServeError && /labels \(e\.g\. "tabby"\)/.test(err.message));
    // A near miss is named, under the caller's name for the option.
    assert.throws(() => resolveClass('tigercat', labels, 1000, '--class'), (err: unknown) => err instanceof ResnetServeError && /did you mean "tiger cat"\?\) for --class/.test(err.message));
    await classifier.close();
  });

  test('localisation with the real MobileNetV2: photos pasted at random on a grey canvas; the heat falls on the photo', { skip: skipWithoutDatasets }, async () => {
    const classifier = await ImageClassifier.create({ model: PRETRAINED_ONNX, cacheDir, preprocess: 'exact' });
    assert.ok(classifier.info.outputs.includes('feature_map'), 'MobileNetV2 exposes the input of its global average pooling');
    const layer = await finalLayer(classifier.model);
    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const photos = referenceCases().filter((c) => c.truth !== undefined);
    let judged = 0;
    let inside = 0;
    for (const c of photos) {
      const { canvas, box } = await pasteOnGrey(readFileSync(join(REFERENCE_DIR, 'images', c.file)), random);
      const [a] = await classifier.analyzeBatch([canvas], ['feature_map']);
      assert.ok(a.ok);
      const explanation = explainOutputs(a.outputs, layer, classifier.model.labels, { topK: 1 });
      if (explanation.target.index !== c.truth) continue;
      judged++;
      const share = massInside(upsampleMap(explanation.map, 224), 224, box);
      if (share >= 0.7) inside++;
    }
    await classifier.close();
    assert.ok(judged >= 20, `at least 20 photos still recognised on the canvas (got ${judged})`);
    console.log(`localisation: ${inside} of ${judged} correctly recognised photos have >= 70% of the heat on them`);
    assert.ok(inside >= 0.8 * judged, `${inside} of ${judged} photos have at least 70% of the heat inside`);
  });

  test('a model without global average pooling says explanations are not available for it', async () => {
    // An 8×8 classifier that flattens its input straight into one linear layer: no feature map to weight.
    const dir = await scratchDir('rs-nogap-');
    const model = join(dir, 'flat.onnx');
    writeFileSync(model, encodeOnnxModel({
      name: 'flat', opset: 13,
      nodes: [{ op: 'Flatten', inputs: ['input'], outputs: ['flat'] }, { op: 'Gemm', inputs: ['flat', 'w', 'b'], outputs: ['logits'], attributes: { transB: 1 } }],
      initializers: [{ name: 'w', dims: [1000, 192], data: Float32Array.from({ length: 192000 }, (_, i) => Math.sin(i)) }, { name: 'b', dims: [1000], data: new Float32Array(1000) }],
      inputs: [{ name: 'input', dims: ['batch', 3, 8, 8] }], outputs: [{ name: 'logits', dims: ['batch', 1000] }],
    }));
    writeFileSync(join(dir, 'flat.json'), JSON.stringify({ input_size: 8, resize_size: 8 }));
    const classifier = await ImageClassifier.create({ model, cacheDir });
    assert.ok(!classifier.info.outputs.includes('feature_map'));
    await assert.rejects(finalLayer(classifier.model), (err: unknown) => err instanceof ResnetServeError && err.code === 'OUTPUT_UNAVAILABLE' && /not available for flat/.test(err.message));
    await classifier.close();
  });
});

test("a graph deleted from the cache after the model loaded: explanations say so and how to mend it (they failed with a 500 and a stack)", async () => {
  const { path } = await writeRandomCheckpoint('resnet18', 5);
  const own = await scratchDir('rs-explain-gone-');
  const classifier = await ImageClassifier.create({ model: path, cacheDir: own, threads: 1 });
  try {
    rmSync(join(own, 'onnx'), { recursive: true });
    await assert.rejects(finalLayer(classifier.model), (err: unknown) => err instanceof ResnetServeError && err.code === 'MODEL_INVALID' && /cannot be read now \(no such file \(ENOENT\)\); restart to make it again$/.test(err.message));
  } finally {
    await classifier.close();
  }
});

describe("a head's maps", () => {
  // Two classes over two channels on a 2×2 grid: channel 0 lights the top-left cell, channel 1 the bottom-right one.
  const head = new Head('corners', { name: 'm', sha256: 'x', dim: 2 }, ['top-left', 'bottom-right'], { classes: 2, dim: 2, weights: Float64Array.from([1, 0, 0, 1]), bias: Float64Array.from([0, 0]) }, null, {} as TrainingSummary);
  const featureMap = Float32Array.from([8, 0, 0, 0, 0, 0, 0, 4]);
  const outputs = { logits: { data: new Float32Array(1000), dims: [1, 1000] }, embedding: { data: Float32Array.from([2, 1]), dims: [1, 2] }, feature_map: { data: featureMap, dims: [1, 2, 2, 2] } };

  test('weights centred over the classes; the map is their sum over the feature map, scaled as the head sees the embedding', () => {
    assert.deepEqual(Array.from(headLayer(head).weights), [0.5, -0.5, -0.5, 0.5]);
    const explanation = explainHeadOutputs(outputs, head, { topK: 5 });
    assert.equal(explanation.target.label, 'top-left', 'its top class by default');
    assert.deepEqual(explanation.predictions.map((p) => p.label), ['top-left', 'bottom-right'], 'top_k beyond its classes gives them all');
    assert.equal(explanation.unknown, false);
    const n = Math.sqrt(5);
    const expected = [(0.5 * 8) / n, 0, 0, (-0.5 * 4) / n];
    explanation.map.values.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-6, `cell ${i}: ${v}, not ${expected[i]}`));
    // Its mean over the grid is the class's centred score for the normalised embedding.
    const mean = explanation.map.values.reduce((a, b) => a + b, 0) / 4;
    assert.ok(Math.abs(mean - (0.5 * 2 - 0.5 * 1) / n) < 1e-6);
    const other = explainHeadOutputs(outputs, head, { cls: 1, topK: 1 });
    assert.equal(other.target.label, 'bottom-right');
    assert.ok(other.map.values[3] > 0 && other.map.values[0] < 0, 'the other class has its evidence in the other corner');
  });

  test("its classes by index or name (any case); anything else names them", () => {
    assert.equal(resolveHeadClass('1', head), 1);
    // A class named like a number is found by its name first.
    const numbered = new Head('parts', { name: 'm', sha256: 'x', dim: 2 }, ['OK', '2', '1'], { classes: 3, dim: 2, weights: new Float64Array(6), bias: new Float64Array(3) }, null, {} as TrainingSummary);
    assert.equal(resolveHeadClass('1', numbered), 2);
    assert.equal(resolveHeadClass('0', numbered), 0);
    assert.equal(resolveHeadClass('TOP-LEFT', head), 0);
    assert.equal(resolveHeadClass(undefined, head), undefined);
    assert.throws(() => resolveHeadClass('2', head), (err: unknown) => err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT' && /from 0 to 1/.test(err.message));
    assert.throws(() => resolveHeadClass('tabby', head), (err: unknown) => err instanceof ResnetServeError && /top-left, bottom-right/.test(err.message));
  });

  test('outputs without the feature map or the embedding are refused', () => {
    assert.throws(() => explainHeadOutputs({ logits: outputs.logits, embedding: outputs.embedding }, head, { topK: 1 }), (err: unknown) => err instanceof ResnetServeError && err.code === 'OUTPUT_UNAVAILABLE');
  });
});
