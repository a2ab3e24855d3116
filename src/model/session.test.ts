import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomResnetStateDict, seededRandom } from '../testing/random-resnet.js';
import { encodeOnnxModel } from './onnx-proto.js';
import { buildResnetGraph } from './resnet-graph.js';
import { ClassifierSession, RUN_IMAGES } from './session.js';

test(`a batch larger than ${RUN_IMAGES} images runs in turns and gives every output of every image, in order, as each alone`, async () => {
  const size = 32;
  const per = 3 * size * size;
  const session = await ClassifierSession.open(encodeOnnxModel(buildResnetGraph(randomResnetStateDict('resnet18', 5), size).spec), { inputSize: size, threads: 1 });
  try {
    assert.deepEqual(session.extraOutputs, ['embedding', 'feature_map']);
    const batch = 2 * RUN_IMAGES + 1;
    const rand = seededRandom(9);
    const images = Float32Array.from({ length: batch * per }, () => rand() * 4 - 2);
    const together = await session.run(images, batch, ['embedding', 'feature_map']);
    for (const name of ['logits', 'embedding', 'feature_map'] as const) assert.equal(together[name]?.dims[0], batch, name);
    for (let b = 0; b < batch; b++) {
      const alone = await session.run(images.slice(b * per, (b + 1) * per), 1, ['embedding', 'feature_map']);
      for (const name of ['logits', 'embedding', 'feature_map'] as const) {
        const one = alone[name]?.data as Float32Array;
        const part = (together[name]?.data as Float32Array).subarray(b * one.length, (b + 1) * one.length);
        let maxDiff = 0;
        for (let i = 0; i < one.length; i++) maxDiff = Math.max(maxDiff, Math.abs(part[i] - one[i]));
        assert.ok(maxDiff <= 1e-4 * Math.max(1, ...one.map(Math.abs)), `image ${b}, ${name}: max |Δ| ${maxDiff}`);
      }
    }
  } finally {
    await session.release();
  }
});
