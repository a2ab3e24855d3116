import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ImageClassifier } from '../classify/classifier.js';
import { loadModel } from '../model/load-model.js';
import { seededRandom } from '../testing/random-resnet.js';
import { tinyClassifierOnnx } from '../testing/tiny-onnx.js';
import { formatTally, runFuzz } from './fuzz.js';
import { MUTATORS } from './mutate.js';
import { fuzzSeeds } from './seeds.js';
import { scratchDir } from '../testing/scratch.js';

test('mutators change the bytes and are reproducible from the seed', async () => {
  const [, jpeg] = (await fuzzSeeds()).find(([n]) => /\.(jpe?g|JPEG)$/.test(n)) ?? [];
  assert.ok(jpeg);
  for (const [name, fn] of Object.entries(MUTATORS)) {
    const a = fn(jpeg, seededRandom(3));
    const b = fn(jpeg, seededRandom(3));
    assert.deepEqual(a, b, name);
    assert.ok(!a.equals(jpeg) || name === 'shuffleStructure', name);
  }
});

test('500 mutants through decode and classify: a result or a typed error for each, no hang, no unhandled rejection', async (t) => {
  const dir = await scratchDir('rs-fuzz-');
  const modelPath = join(dir, 'tiny.onnx');
  await writeFile(modelPath, tinyClassifierOnnx(['n', 3, 224, 224], 1000));
  const classifier = new ImageClassifier(await loadModel({ model: modelPath, cacheDir: dir, threads: 1 }));
  try {
    const tally = await runFuzz(classifier, await fuzzSeeds(), { count: 500, seconds: 240, seed: 20261127 });
    t.diagnostic(formatTally(tally));
    assert.equal(tally.mutants, 500);
    assert.deepEqual(tally.hangs, []);
    assert.deepEqual(tally.untyped, []);
    assert.equal(tally.unhandledRejections, 0);
    assert.ok(tally.classified > 0 && Object.keys(tally.errors).length > 0, 'mutants both pass and fail');
  } finally {
    await classifier.close();
  }
});
