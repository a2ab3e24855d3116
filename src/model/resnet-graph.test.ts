import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { naiveResnetForward } from '../testing/naive-resnet.js';
import { randomResnetStateDict, seededRandom } from '../testing/random-resnet.js';
import { encodeOnnxModel } from './onnx-proto.js';
import type { StateDict } from './pth.js';
import { buildResnetGraph, detectArchitecture } from './resnet-graph.js';
import { ClassifierSession } from './session.js';

function invalid(dict: StateDict, mention: RegExp): void {
  assert.throws(() => buildResnetGraph(dict), (err: unknown) => isResnetServeError(err) && err.code === 'MODEL_INVALID' && mention.test(err.message));
}

test('detects ResNet-18, -34 and -50 from their keys', () => {
  assert.deepEqual(detectArchitecture(randomResnetStateDict('resnet18')), { name: 'resnet18', block: 'basic', blocks: [2, 2, 2, 2], numClasses: 1000 });
  assert.deepEqual(detectArchitecture(randomResnetStateDict('resnet34')), { name: 'resnet34', block: 'basic', blocks: [3, 4, 6, 3], numClasses: 1000 });
  assert.deepEqual(detectArchitecture(randomResnetStateDict('resnet50')), { name: 'resnet50', block: 'bottleneck', blocks: [3, 4, 6, 3], numClasses: 1000 });
});

for (const arch of ['resnet18', 'resnet34', 'resnet50'] as const) {
  test(`the ONNX graph of ${arch} computes what torchvision's definition computes`, async () => {
    const dict = randomResnetStateDict(arch, 11);
    const size = 32;
    const { spec } = buildResnetGraph(dict, size);
    const session = await ClassifierSession.open(encodeOnnxModel(spec), { inputSize: size, threads: 1 });
    const rand = seededRandom(2);
    const image = Float32Array.from({ length: 2 * 3 * size * size }, () => rand() * 4 - 2);
    const logits = (await session.run(image, 2)).logits.data;
    await session.release();
    for (let b = 0; b < 2; b++) {
      const expected = naiveResnetForward(dict, image.subarray(b * 3 * size * size, (b + 1) * 3 * size * size), size);
      const scale = Math.max(...expected.map(Math.abs));
      let maxDiff = 0;
      for (let i = 0; i < 1000; i++) maxDiff = Math.max(maxDiff, Math.abs(logits[b * 1000 + i] - expected[i]));
      assert.ok(maxDiff <= 1e-4 * Math.max(1, scale), `${arch} image ${b}: max |Δ| ${maxDiff} for logits up to ${scale}`);
    }
  });
}

test('a missing key is named', () => {
  const dict = randomResnetStateDict('resnet18');
  dict.delete('layer3.1.bn2.running_var');
  invalid(dict, /missing layer3\.1\.bn2\.running_var/);
  const noShortcut = randomResnetStateDict('resnet18');
  for (const k of [...noShortcut.keys()]) if (k.startsWith('layer2.0.downsample')) noShortcut.delete(k);
  invalid(noShortcut, /layer2\.0\.downsample\.0\.weight/);
});

test('a wrong shape is named with what was expected', () => {
  const dict = randomResnetStateDict('resnet18');
  const t = dict.get('layer1.0.conv2.weight');
  assert.ok(t);
  dict.set('layer1.0.conv2.weight', { ...t, shape: [64, 32, 3, 3], data: t.data.subarray(0, 64 * 32 * 9) });
  invalid(dict, /layer1\.0\.conv2\.weight has shape \[64, 32, 3, 3\], expected \[out, 64, k, k\]/);
  const fc = randomResnetStateDict('resnet18');
  const bias = fc.get('fc.bias');
  assert.ok(bias);
  fc.set('fc.bias', { ...bias, shape: [999], data: bias.data.subarray(0, 999) });
  invalid(fc, /fc\.bias has shape \[999\], expected \[1000\]/);
});

test('unexpected keys and non-ResNets are refused', () => {
  const dict = randomResnetStateDict('resnet18');
  dict.set('classifier.extra.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) });
  invalid(dict, /does not use: classifier\.extra\.weight/);
  invalid(new Map([['features.0.weight', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]]), /not a torchvision ResNet/);
});
