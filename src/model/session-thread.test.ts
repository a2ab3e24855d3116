import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { seededRandom } from '../seeded-random.js';
import { scratchDir } from '../testing/scratch.js';
import { tinyClassifierOnnx } from '../testing/tiny-onnx.js';
import { ClassifierSession } from './session.js';
import { ThreadedSession } from './session-thread.js';

const PER = 3 * 224 * 224;
let threaded: ThreadedSession;
let local: ClassifierSession;
const inputs: Float32Array[] = [];

function shared(values: Float32Array): Float32Array {
  const out = new Float32Array(new SharedArrayBuffer(values.byteLength));
  out.set(values);
  return out;
}

before(async () => {
  const path = join(await scratchDir('rs-thread-'), 'tiny.onnx');
  await writeFile(path, tinyClassifierOnnx(['n', 3, 224, 224], 10));
  threaded = await ThreadedSession.open(path, { threads: 1 });
  local = await ClassifierSession.open(path, { threads: 1 });
  const rand = seededRandom(4);
  for (let i = 0; i < 4; i++) inputs.push(Float32Array.from({ length: PER }, () => rand() * 2 - 1 + i * 0.2));
});
after(async () => {
  await threaded.release();
  await local.release();
});

test('input in shared memory gives the same logits as a plain array, in the thread and in process, and is left as it was', async () => {
  const plain = (await local.run(inputs[0], 1)).logits.data;
  const input = shared(inputs[0]);
  for (const session of [threaded, local]) {
    const logits = (await session.run(input, 1)).logits.data;
    assert.deepEqual(Array.from(logits), Array.from(plain));
  }
  assert.deepEqual(Array.from(input.subarray(0, 8)), Array.from(inputs[0].subarray(0, 8)));
  // A plain array is copied for the thread, not taken from the caller.
  await threaded.run(inputs[1], 1);
  assert.equal(inputs[1].length, PER);
});

test('concurrent runs from shared memory each get their own logits (the staging copy is not shared between runs)', async () => {
  const expected = await Promise.all(inputs.map(async (t) => Array.from((await local.run(t, 1)).logits.data)));
  for (const session of [threaded, local]) {
    const results = await Promise.all(inputs.map((t) => session.run(shared(t), 1)));
    results.forEach((r, i) => assert.deepEqual(Array.from(r.logits.data), expected[i], `image ${i}`));
  }
});

test('a batch runs as one call, laid out in one array or given one tensor per image, shared or not', async () => {
  const expected = await Promise.all(inputs.slice(0, 3).map(async (t) => Array.from((await local.run(t, 1)).logits.data)));
  const laidOut = new Float32Array(new SharedArrayBuffer(3 * PER * 4));
  inputs.slice(0, 3).forEach((t, i) => laidOut.set(t, i * PER));
  const forms = [laidOut, inputs.slice(0, 3).map(shared), inputs.slice(0, 3)];
  for (const session of [threaded, local]) {
    for (const form of forms) {
      const out = await session.run(form, 3);
      assert.equal(out.logits.data.length, 30);
      expected.forEach((row, i) => assert.deepEqual(Array.from(out.logits.data.subarray(i * 10, (i + 1) * 10)), row));
    }
  }
  // The caller's plain tensors were copied, not moved to the thread.
  assert.equal(inputs[0].length, PER);
  for (const session of [threaded, local]) {
    await assert.rejects(session.run(inputs.slice(0, 2), 3), RangeError);
    await assert.rejects(session.run(inputs.slice(0, 2).map(shared), 3), RangeError);
  }
});
