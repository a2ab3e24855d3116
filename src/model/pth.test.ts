import assert from 'node:assert/strict';
import { test } from 'node:test';
import yazl from 'yazl';
import { isResnetServeError } from '../errors.js';
import { stateDictPickle } from '../testing/pickle-writer.js';
import { checkpointBytes, randomResnetStateDict } from '../testing/random-resnet.js';
import { type CheckpointLimits, readCheckpoint } from './pth.js';
import { checkResnetShapes } from './resnet-graph.js';

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

test('zip entries with ".." paths or absurd sizes are refused before anything is read', async () => {
  const refused = async (bytes: Buffer, mention: RegExp, limits?: CheckpointLimits): Promise<void> => {
    await assert.rejects(readCheckpoint(bytes, { limits }), (err: unknown) => isResnetServeError(err, 'MODEL_INVALID') && mention.test(err.message));
  };
  const pickle = stateDictPickle([{ name: 'fc.bias', storageKey: '0', shape: [2] }]);
  const zip = await zipOf({ 'archive/data.pkl': pickle, 'archive/data/0': Buffer.from(new Float32Array([1, 2]).buffer) });
  const traversal = Buffer.from(zip.toString('latin1').split('archive/data/0').join('../../../etc/x'), 'latin1');
  await refused(traversal, /relative path|\.\./);
  // Central directory entry of data.pkl: declare a 4 GB file.
  const huge = Buffer.from(zip);
  const name = Buffer.from('archive/data.pkl');
  for (let i = huge.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); i >= 0; i = huge.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), i + 4)) {
    if (huge.subarray(i + 46, i + 46 + name.length).equals(name)) {
      huge.writeUInt32LE(0xfffffff0, i + 20);
      huge.writeUInt32LE(0xfffffff0, i + 24);
    }
  }
  await refused(huge, /bytes/, { maxEntries: 100, maxPickleBytes: 64 * 1024 * 1024, maxTotalBytes: 1024 * 1024 * 1024 });
  await refused(huge, /data\.pkl is \d+ bytes, above the limit/);
  const flipped = Buffer.from(zip);
  flipped[flipped.indexOf(Buffer.from(new Float32Array([1, 2]).buffer))] ^= 0xff;
  await refused(flipped, /CRC-32/);
});

test('a stride-0 view declaring a billion elements is refused from its declared shape, before anything is allocated', async () => {
  const dict = randomResnetStateDict('resnet18', 6);
  const one = Buffer.from(new Float32Array([0.5]).buffer);
  const bytes = await checkpointBytes(dict, 'archive', {
    replace: {
      'fc.weight': { entry: { shape: [2_000_000, 512], stride: [0, 0], storageNumel: 1 }, data: one },
      'fc.bias': { entry: { shape: [2_000_000], stride: [0], storageNumel: 1 }, data: one },
    },
  });
  const rss = process.memoryUsage().rss;
  const start = performance.now();
  await assert.rejects(readCheckpoint(bytes, { checkShapes: checkResnetShapes }), (err) => isResnetServeError(err, 'MODEL_INVALID') && /elements/.test(err.message));
  assert.ok(performance.now() - start < 5000);
  assert.ok(process.memoryUsage().rss - rss < 200 * 1024 * 1024);
  // A shape that is wrong for the architecture is refused by the check, also before reading weights.
  const wrongShape = await checkpointBytes(dict, 'archive', { replace: { 'layer1.0.conv1.weight': { entry: { shape: [64, 64, 3, 3], stride: [0, 0, 0, 0], storageNumel: 1 }, data: one } } });
  const seen: string[] = [];
  await assert.rejects(
    readCheckpoint(wrongShape, { checkShapes: (shapes) => (seen.push(...shapes.keys()), checkResnetShapes(new Map([...shapes, ['fc.bias', [7]]]))) }),
    (err) => isResnetServeError(err, 'MODEL_INVALID') && /fc\.bias has shape \[7\]/.test(err.message),
  );
  assert.equal(seen.length, 122);
});

test('zip entries the state_dict does not reference are never read (200 MB of junk costs nothing)', async () => {
  const dict = randomResnetStateDict('resnet18', 7);
  const junk = Buffer.alloc(200 * 1024 * 1024);
  const bytes = await checkpointBytes(dict, 'archive', { extraFiles: { 'archive/junk/a': junk, 'archive/data/999': junk } });
  assert.ok(bytes.length < 50 * 1024 * 1024);
  const rss = process.memoryUsage().rss;
  const back = await readCheckpoint(bytes, { checkShapes: checkResnetShapes });
  assert.equal(back.size, 122);
  assert.ok(process.memoryUsage().rss - rss < 150 * 1024 * 1024, `RSS grew ${((process.memoryUsage().rss - rss) / 2 ** 20).toFixed(0)} MB`);
});
