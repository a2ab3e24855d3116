import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, utimesSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { isResnetServeError, type ErrorCode } from '../errors.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { tinyClassifierOnnx } from '../testing/tiny-onnx.js';
import { loadModel } from './load-model.js';
import { OFFICIAL_CHECKPOINTS } from './weights.js';
import { scratchDir } from '../testing/scratch.js';

let checkpoint: { dir: string; path: string };
let cacheDir: string;

before(async () => {
  checkpoint = await writeRandomCheckpoint('resnet18', 3);
  cacheDir = await scratchDir('rs-cache-');
});

async function fails(promise: Promise<unknown>, code: ErrorCode, mention: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => isResnetServeError(err, code) && mention.test(err.message));
}

test('a .pth state_dict is converted once and cached as <sha256>-g2.onnx in our cache', async () => {
  const sha = createHash('sha256').update(readFileSync(checkpoint.path)).digest('hex');
  const model = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 });
  assert.equal(model.info.name, 'resnet18');
  assert.equal(model.info.source, 'checkpoint');
  assert.equal(model.info.sha256, sha);
  assert.equal(model.info.onnxPath, join(cacheDir, 'onnx', `${sha}-g2.onnx`));
  assert.deepEqual(model.info.outputs, ['logits', 'embedding', 'feature_map']);
  assert.equal(model.info.numClasses, 1000);
  assert.equal(model.info.threads, 1);
  assert.equal(model.labels.en[281], 'tabby');
  await model.session.release();
  const before = statSync(model.info.onnxPath as string).mtimeMs;
  const again = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 });
  assert.equal(statSync(again.info.onnxPath as string).mtimeMs, before);
  await again.session.release();
});

test('a cached graph that cannot be read (cut short, emptied) is made again instead of failing every run', async () => {
  const model = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 });
  await model.session.release();
  const onnx = model.info.onnxPath as string;
  const size = statSync(onnx).size;
  for (const damage of [(f: string) => truncateSync(f, 5_000_000), (f: string) => writeFileSync(f, '')]) {
    for (const f of [onnx, ...optimizedFiles(model.info.sha256)]) damage(f);
    const again = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 });
    assert.equal(statSync(onnx).size, size, 'made again whole');
    assert.equal(again.session.numClasses, 1000);
    await again.session.release();
  }
});

/** The optimised graph of the model of `sha256` and its weights file, as the cache holds them now. */
function optimizedFiles(sha256: string): string[] {
  return readdirSync(join(cacheDir, 'onnx'))
    .filter((n) => n.startsWith(`${sha256}-`) && n.includes('-opt2-'))
    .map((n) => join(cacheDir, 'onnx', n));
}

test("the optimised graph's weights are in a file of their own, which cut short, emptied, gone or overwritten in place is made again, in a thread too", async () => {
  const model = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 });
  const input = Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i));
  const expected = Array.from((await model.session.run(input, 1)).logits.data);
  await model.session.release();
  const sha = model.info.sha256;
  const weightsOf = (): string[] => optimizedFiles(sha).filter((f) => f.endsWith('.weights'));
  const [weights] = weightsOf();
  assert.equal(weightsOf().length, 1);
  const graph = optimizedFiles(sha).find((f) => f.endsWith('.onnx')) as string;
  assert.ok(statSync(weights).size > 40_000_000 && statSync(graph).size < 1_000_000, 'the weights beside the graph, not in it');
  const size = statSync(weights).size;
  const damages: [string, (f: string) => void][] = [
    ['cut short', (f) => truncateSync(f, size / 2)],
    ['emptied', (f) => writeFileSync(f, '')],
    ['gone', (f) => rmSync(f)],
    // The same size, other bytes (a copy gone wrong, a disk's fault): its scores are not numbers.
    ['overwritten in place', (f) => writeFileSync(f, Buffer.alloc(size, 0xff))],
  ];
  for (const [what, damage] of damages) {
    for (const thread of [false, true]) {
      damage(weightsOf()[0]);
      const again = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 }, { thread });
      assert.equal(again.session.numClasses, 1000, `${what}, ${thread ? 'in a thread' : 'in process'}`);
      const logits = Array.from((await again.session.run(Float32Array.from(input), 1)).logits.data);
      assert.ok(logits.every((v, i) => Math.abs(v - expected[i]) < 1e-4), `${what}: the same scores as before the damage`);
      await again.session.release();
      assert.deepEqual(weightsOf().map((f) => statSync(f).size), [size], `${what}: made again whole, the damaged one removed`);
    }
  }
});

test('an optimised graph deleted by hand: its weights file, older than any build, is removed when the graph is made again', async () => {
  const model = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 });
  await model.session.release();
  const files = optimizedFiles(model.info.sha256);
  const [graph, weights] = ['.onnx', '.weights'].map((end) => files.find((f) => f.endsWith(end)) as string);
  rmSync(graph);
  // Built 20 minutes ago: no build of the same graph takes that long.
  const past = new Date(Date.now() - 20 * 60 * 1000);
  utimesSync(weights, past, past);
  const again = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 });
  await again.session.release();
  const now = optimizedFiles(model.info.sha256);
  assert.equal(now.filter((f) => f.endsWith('.weights')).length, 1, now.join(', '));
  assert.ok(!existsSync(weights), 'the old weights are gone');
});

test('an optimised graph of the earlier layout (its weights inside) is removed once the new one is made', async () => {
  const model = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 });
  await model.session.release();
  const [graph, weights] = ['.onnx', '.weights'].map((end) => optimizedFiles(model.info.sha256).find((f) => f.endsWith(end)) as string);
  const earlier = graph.replace('-opt2-', '-opt-');
  writeFileSync(earlier, 'the earlier layout');
  rmSync(graph);
  rmSync(weights);
  const again = await loadModel({ model: checkpoint.path, cacheDir, threads: 1 });
  await again.session.release();
  assert.equal(existsSync(earlier), false);
  assert.equal(optimizedFiles(model.info.sha256).length, 2);
});

test("official weights found in PyTorch's hub cache are used once their hash matches the name, and nothing is written there", async () => {
  // Real official weights cannot be downloaded here: register the random checkpoint under a name that carries its own hash prefix.
  const sha = createHash('sha256').update(readFileSync(checkpoint.path)).digest('hex');
  const fileName = `resnet18-${sha.slice(0, 8)}.pth`;
  OFFICIAL_CHECKPOINTS['resnet18-under-test'] = fileName;
  const torchHome = await scratchDir('rs-torch-');
  const hub = join(torchHome, 'hub', 'checkpoints');
  mkdirSync(hub, { recursive: true });
  writeFileSync(join(hub, fileName), readFileSync(checkpoint.path));
  const saved = process.env.TORCH_HOME;
  process.env.TORCH_HOME = torchHome;
  try {
    const model = await loadModel({ model: 'resnet18-under-test', cacheDir, offline: true, threads: 1 });
    assert.equal(model.info.source, 'torchvision');
    assert.equal(model.info.path, join(hub, fileName));
    assert.ok(model.info.onnxPath?.startsWith(cacheDir));
    await model.session.release();
    assert.deepEqual(readdirSync(hub), [fileName]);
  } finally {
    delete OFFICIAL_CHECKPOINTS['resnet18-under-test'];
    if (saved === undefined) delete process.env.TORCH_HOME;
    else process.env.TORCH_HOME = saved;
  }
});

test('a wrong file where the official weights belong is refused, not served as torchvision\'s', async () => {
  const ours = await scratchDir('rs-wrong-');
  mkdirSync(join(ours, 'checkpoints'));
  const wrong = join(ours, 'checkpoints', 'resnet18-f37072fd.pth');
  writeFileSync(wrong, readFileSync(checkpoint.path));
  const saved = process.env.TORCH_HOME;
  process.env.TORCH_HOME = await scratchDir('rs-torch-empty-');
  try {
    await fails(loadModel({ cacheDir: ours, offline: true, threads: 1 }), 'MODEL_CHECKSUM', /is not torchvision's resnet18-f37072fd\.pth[\s\S]*does not begin with f37072fd[\s\S]*--model/);
    // The same file given as the user's own checkpoint loads, under its own hash.
    const model = await loadModel({ model: wrong, cacheDir: ours, threads: 1 });
    assert.equal(model.info.source, 'checkpoint');
    assert.equal(model.info.sha256, createHash('sha256').update(readFileSync(wrong)).digest('hex'));
    await model.session.release();
  } finally {
    if (saved === undefined) delete process.env.TORCH_HOME;
    else process.env.TORCH_HOME = saved;
  }
});

test('offline with nothing cached: MODEL_NOT_FOUND that says what to download and where', async () => {
  const saved = process.env.TORCH_HOME;
  process.env.TORCH_HOME = await scratchDir('rs-torch-empty-');
  try {
    await fails(loadModel({ cacheDir: await scratchDir('rs-empty-'), offline: true }), 'MODEL_NOT_FOUND', /resnet18-f37072fd\.pth[\s\S]*Put it at[\s\S]*--model/);
  } finally {
    if (saved === undefined) delete process.env.TORCH_HOME;
    else process.env.TORCH_HOME = saved;
  }
});

test('a user ONNX model must take [N,3,224,224] and return [N,1000]', async () => {
  const dir = await scratchDir('rs-onnx-');
  const good = join(dir, 'good.onnx');
  writeFileSync(good, tinyClassifierOnnx(['batch', 3, 224, 224], 1000));
  const model = await loadModel({ model: good, cacheDir, threads: 1 });
  assert.equal(model.info.source, 'onnx');
  assert.equal(model.info.name, 'good');
  assert.equal(model.session.maxBatch, Number.MAX_SAFE_INTEGER);
  await model.session.release();

  const wrongSize = join(dir, 'wrong-size.onnx');
  writeFileSync(wrongSize, tinyClassifierOnnx([1, 3, 299, 299], 1000));
  await fails(loadModel({ model: wrongSize, cacheDir }), 'MODEL_INVALID', /must take one float32 input \[N, 3, 224, 224\]; it takes 'input' float32 \[1, 3, 299, 299\]/);
  const wrongChannels = join(dir, 'gray.onnx');
  writeFileSync(wrongChannels, tinyClassifierOnnx(['n', 1, 224, 224], 1000));
  await fails(loadModel({ model: wrongChannels, cacheDir }), 'MODEL_INVALID', /\[n, 1, 224, 224\]/);
  const tenClasses = join(dir, 'ten.onnx');
  writeFileSync(tenClasses, tinyClassifierOnnx(['n', 3, 224, 224], 10));
  await fails(loadModel({ model: tenClasses, cacheDir }), 'MODEL_INVALID', /10 classes/);
});

test('a sidecar JSON gives input size, normalisation and labels', async () => {
  const dir = await scratchDir('rs-sidecar-');
  const path = join(dir, 'parts.onnx');
  writeFileSync(path, tinyClassifierOnnx([1, 3, 160, 160], 3));
  writeFileSync(join(dir, 'parts.labels.txt'), 'bolt\nnut\nwasher\n');
  writeFileSync(`${path}.json`, JSON.stringify({ name: 'parts', input_size: 160, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], labels: 'parts.labels.txt', labels_zh: ['螺栓', '螺母', '垫圈'] }));
  const model = await loadModel({ model: path, cacheDir, threads: 1 });
  assert.equal(model.info.name, 'parts');
  assert.deepEqual(model.preprocess, { cropSize: 160, resizeShortSide: 183, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
  assert.deepEqual(model.labels.en, ['bolt', 'nut', 'washer']);
  assert.equal(model.session.maxBatch, 1);
  await model.session.release();
  writeFileSync(`${path}.json`, JSON.stringify({ mean: [0.5, 0.5] }));
  await fails(loadModel({ model: path, cacheDir }), 'MODEL_INVALID', /an array of 3 numbers for "mean" in .*parts\.onnx\.json but received array of length 2/);
  // A mistyped key is refused, not ignored.
  writeFileSync(`${path}.json`, JSON.stringify({ labels: 'parts.labels.txt', labels_cn: ['螺栓', '螺母', '垫圈'] }));
  await fails(loadModel({ model: path, cacheDir }), 'MODEL_INVALID', /parts\.onnx\.json has "labels_cn", which it cannot have; its keys are name, input_size, resize_size, mean, std, labels, labels_zh$/);
  // A label file that is not there: named, with the sidecar that names it.
  writeFileSync(`${path}.json`, JSON.stringify({ labels: 'nope.txt' }));
  await fails(loadModel({ model: path, cacheDir }), 'MODEL_INVALID', /parts\.onnx\.json names "nope\.txt" as its labels, but .*nope\.txt cannot be read \(ENOENT\)$/);
  writeFileSync(`${path}.json`, '["bolt", "nut", "washer"]');
  await fails(loadModel({ model: path, cacheDir }), 'MODEL_INVALID', /must be a JSON object/);
  // parts.json may be shared with another tool (TensorFlow.js names its models model.json): our keys read, the others passed by.
  rmSync(`${path}.json`);
  writeFileSync(join(dir, 'parts.json'), JSON.stringify({ format: 'graph-model', input_size: 160, labels: 'parts.labels.txt', weightsManifest: [] }));
  const beside = await loadModel({ model: path, cacheDir, threads: 1 });
  assert.equal(beside.preprocess.cropSize, 160);
  await beside.session.release();
  // A folder is not a model.
  await fails(loadModel({ model: dir, cacheDir }), 'INVALID_ARGUMENT', /is a folder: a model is a \.pth or \.onnx file/);
});

test('missing, foreign and unwritable paths give clear errors', async () => {
  await fails(loadModel({ model: '/nonexistent/model.pth', cacheDir }), 'MODEL_NOT_FOUND', /No model file at \/nonexistent\/model\.pth/);
  const dir = await scratchDir('rs-foreign-');
  writeFileSync(join(dir, 'notes.pth'), 'just some text');
  await fails(loadModel({ model: join(dir, 'notes.pth'), cacheDir }), 'MODEL_INVALID', /neither a PyTorch checkpoint/);
  // ONNX Runtime's reason once, after the model named once: not its own copy of the path, nor its C++ source location.
  const garbage = join(dir, 'garbage.onnx');
  writeFileSync(garbage, Buffer.from([0x08, 0x07, ...Buffer.from('not a graph')]));
  await fails(loadModel({ model: garbage, cacheDir }), 'MODEL_INVALID', new RegExp(`^${garbage} is not a valid ONNX model: Protobuf parsing failed\\.$`));
  const empty = join(dir, 'empty.onnx');
  writeFileSync(empty, '');
  await assert.rejects(loadModel({ model: empty, cacheDir }), (err: unknown) => isResnetServeError(err, 'MODEL_INVALID') && err.message.split(empty).length === 2 && !/\.cc:\d+|onnxruntime::/.test(err.message));
  writeFileSync(join(dir, 'blocker'), 'a file where a folder should be');
  await fails(loadModel({ model: checkpoint.path, cacheDir: join(dir, 'blocker', 'cache') }), 'IO_ERROR', /cache folder/);
  await fails(loadModel({ model: checkpoint.path, threads: 0 }), 'INVALID_ARGUMENT', /threads/);
  assert.ok(!existsSync(join(dir, 'blocker', 'cache')));
});
