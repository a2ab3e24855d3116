import assert from 'node:assert/strict';
import { test } from 'node:test';
import yazl from 'yazl';
import { isResnetServeError } from '../errors.js';
import { stateDictPickle } from '../testing/pickle-writer.js';
import { checkpointBytes, randomResnetStateDict } from '../testing/random-resnet.js';
import { readCheckpoint } from './pth.js';

async function zipOf(files: Record<string, Buffer>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(files)) zip.addBuffer(data, name, { compress: false });
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

test('a torch.save zip of a ResNet-18 state_dict reads back key for key, value for value', async () => {
  const dict = randomResnetStateDict('resnet18', 5);
  const back = await readCheckpoint(await checkpointBytes(dict, 'resnet18-random'));
  assert.deepEqual([...back.keys()], [...dict.keys()]);
  assert.equal(back.size, 122);
  for (const [k, t] of dict) {
    const r = back.get(k);
    assert.deepEqual(r?.shape, t.shape, k);
    assert.deepEqual(r?.data, t.data, k);
  }
  assert.equal(back.get('bn1.num_batches_tracked')?.dtype, 'int64');
});

test('strided (non-contiguous) tensors are gathered in row-major order', async () => {
  // A 2×3 view with strides (1, 2) over storage [0..5] is the transpose of a 3×2 matrix.
  const transposed = stateDictPickle([{ name: 't', storageKey: '0', shape: [2, 3], stride: [1, 2] }]);
  const storage = Buffer.from(new Float32Array([0, 1, 2, 3, 4, 5]).buffer);
  const back = await readCheckpoint(await zipOf({ 'archive/data.pkl': transposed, 'archive/data/0': storage }));
  assert.deepEqual([...(back.get('t')?.data ?? [])], [0, 2, 4, 1, 3, 5]);
});

test('broken checkpoints are refused with MODEL_INVALID naming the problem', async () => {
  const invalid = async (bytes: Buffer, mention: RegExp): Promise<void> => {
    await assert.rejects(readCheckpoint(bytes), (err: unknown) => isResnetServeError(err) && err.code === 'MODEL_INVALID' && mention.test(err.message));
  };
  await invalid(Buffer.from('not a zip at all'), /zip/);
  await invalid(await zipOf({ 'archive/other.txt': Buffer.from('x') }), /data\.pkl/);
  const pickle = stateDictPickle([{ name: 'fc.weight', storageKey: '0', shape: [4, 4] }]);
  await invalid(await zipOf({ 'archive/data.pkl': pickle }), /data\/0.*missing/);
  await invalid(await zipOf({ 'archive/data.pkl': pickle, 'archive/data/0': Buffer.alloc(8) }), /shorter/);
  const bytes = await checkpointBytes(randomResnetStateDict('resnet18', 2));
  await invalid(bytes.subarray(0, bytes.length - 100), /zip/);
});
