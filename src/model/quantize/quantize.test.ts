import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ImageClassifier } from '../../classify/classifier.js';
import { ResnetServeError } from '../../errors.js';
import type { CalibrationProgress } from '../../types.js';
import { readGraph } from '../onnx-graph.js';
import { cpuHasVnni, defaultQuantizeSettings, evenlySpread, MAX_CALIBRATION_PHOTOS, quantizedModel } from './quantize.js';
import { IMAGENET_PREPROCESS } from '../../image/preprocess-config.js';
import ort from '../ort.js';
import { IMAGENET_SAMPLE_DIR, PRETRAINED_ONNX, readFloat32, REFERENCE_DIR, SHARED_DIR, skipWithoutDatasets, skipWithoutReference } from '../../testing/shared.js';
import { scratchDir } from '../../testing/scratch.js';

const RESNET18 = join(REFERENCE_DIR, 'resnet18-seed0.pth');
const RESNET50 = join(SHARED_DIR, 'models', 'resnet50-keras-fp16w.onnx');
const skipResnet50 = skipWithoutDatasets || (existsSync(RESNET50) ? false : `${RESNET50} not found (set RESNET_SERVE_SHARED to the shared folder)`);

let cacheDir: string;
before(async () => {
  cacheDir = await scratchDir('rs-int8-');
});

describe('--precision int8', () => {
  test('ResNet-18: a QDQ graph with int8 weights, made once and cached; answers close to fp32, embeddings and feature maps kept', { skip: skipWithoutReference }, async () => {
    const images = readdirSync(join(REFERENCE_DIR, 'images')).filter((f) => /\.jpe?g$/i.test(f)).slice(0, 12).map((f) => join(REFERENCE_DIR, 'images', f));
    const fp32 = await ImageClassifier.create({ model: RESNET18, cacheDir });
    const int8 = await ImageClassifier.create({ model: RESNET18, cacheDir, precision: 'int8' });
    assert.equal(int8.info.precision, 'int8');
    assert.equal(fp32.info.precision, 'fp32');
    assert.match(int8.info.onnxPath ?? '', /-int8-[0-9a-f]{16}\.onnx$/);
    const graph = readGraph(readFileSync(int8.info.onnxPath as string));
    const count = (op: string): number => graph.nodes.filter((n) => n.opType === op).length;
    // 20 convolutions with int8 weights (all of ResNet-18's), each read through a DequantizeLinear; the classifier stays fp32.
    assert.equal([...graph.initializers.values()].filter((t) => t.dataType === 3 && t.dims.length === 4).length, 20);
    assert.ok(count('QuantizeLinear') >= 20 && count('DequantizeLinear') >= 40);
    assert.equal(count('Gemm'), 1);
    assert.deepEqual(int8.info.outputs, ['logits', 'embedding', 'feature_map']);
    const a = await fp32.analyzeBatch(images, ['embedding']);
    const b = await int8.analyzeBatch(images, ['embedding']);
    for (let i = 0; i < images.length; i++) {
      const ra = a[i];
      const rb = b[i];
      if (!ra.ok || !rb.ok) assert.fail(`${images[i]} was not classified`);
      const ea = ra.outputs.embedding!.data;
      const eb = rb.outputs.embedding!.data;
      let dot = 0, na = 0, nb = 0;
      for (let k = 0; k < ea.length; k++) {
        dot += ea[k] * eb[k];
        na += ea[k] ** 2;
        nb += eb[k] ** 2;
      }
      assert.ok(dot / Math.sqrt(na * nb) > 0.98, `embedding of ${images[i]} keeps its direction (cosine ${(dot / Math.sqrt(na * nb)).toFixed(4)})`);
    }
    await fp32.close();
    await int8.close();
    // The second time, the cached graph is used as it is.
    const mtime = (await import('node:fs')).statSync(int8.info.onnxPath as string).mtimeMs;
    const again = await ImageClassifier.create({ model: RESNET18, cacheDir, precision: 'int8' });
    assert.equal(again.info.onnxPath, int8.info.onnxPath);
    assert.equal((await import('node:fs')).statSync(again.info.onnxPath as string).mtimeMs, mtime);
    await again.close();
  });

  test('the first convolution runs over the image’s 2×2 blocks (12 channels, 4×4, stride 1), with every output the same bit for bit as the plain int8 graph', { skip: skipWithoutReference }, async () => {
    const fp32 = await ImageClassifier.create({ model: RESNET18, cacheDir });
    const { onnxPath, sha256 } = fp32.info;
    await fp32.close();
    const options = { modelSha256: sha256, cacheDir, preprocess: IMAGENET_PREPROCESS };
    const blocks = (await quantizedModel(onnxPath as string, { ...options, settings: defaultQuantizeSettings(true) })).path;
    const plain = (await quantizedModel(onnxPath as string, { ...options, settings: defaultQuantizeSettings(false) })).path;
    assert.notEqual(blocks, plain, 'cached apart');
    const graph = readGraph(readFileSync(blocks));
    assert.equal(graph.nodes.filter((n) => n.opType === 'SpaceToDepth').length, 1);
    const first = graph.nodes.find((n) => n.opType === 'Conv')!;
    assert.deepEqual([first.ints.kernel_shape, first.ints.strides, first.ints.pads], [[4, 4], [1, 1], [0, 0, 0, 0]]);
    assert.deepEqual(graph.initializers.get(first.inputs[1].replace(/_dq$/, '_int8'))?.dims, [64, 12, 4, 4]);
    assert.equal(readGraph(readFileSync(plain)).nodes.filter((n) => n.opType === 'SpaceToDepth').length, 0);
    const per = 3 * 224 * 224;
    const input = new ort.Tensor('float32', readFloat32(join(REFERENCE_DIR, 'inputs.f32')).slice(0, 3 * per), [3, 3, 224, 224]);
    const outputs = async (path: string): Promise<Record<string, Float32Array>> => {
      const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1 });
      try {
        const result = await session.run({ [session.inputNames[0]]: input });
        return Object.fromEntries(Object.entries(result).map(([name, t]) => [name, t.data as Float32Array]));
      } finally {
        await session.release();
      }
    };
    const [a, b] = [await outputs(blocks), await outputs(plain)];
    assert.deepEqual(Object.keys(a).sort(), ['embedding', 'feature_map', 'logits']);
    for (const name of Object.keys(a)) assert.deepEqual(a[name], b[name], `${name} the same`);
  });

  test('real ResNet-50 on 100 real photos: int8 agrees with fp32 on top-1 for at least 95 and loses at most 2 points of accuracy', { skip: skipResnet50 }, async () => {
    const files = readdirSync(IMAGENET_SAMPLE_DIR).filter((f) => /\.jpe?g$/i.test(f)).sort();
    const picked = files.map((f, i) => ({ path: join(IMAGENET_SAMPLE_DIR, f), truth: 2 * i })).filter((_, i) => i % 5 === 0);
    const answers = async (precision: 'fp32' | 'int8'): Promise<number[]> => {
      const c = await ImageClassifier.create({ model: RESNET50, cacheDir, precision });
      const out: number[] = [];
      for (let i = 0; i < picked.length; i += 20) {
        for (const r of await c.classifyBatch(picked.slice(i, i + 20).map((p) => p.path), { topK: 1 })) out.push(r.ok ? r.predictions[0].index : -1);
      }
      await c.close();
      return out;
    };
    const fp32 = await answers('fp32');
    const int8 = await answers('int8');
    const agree = fp32.filter((c, i) => c === int8[i]).length;
    const right = (a: number[]): number => a.filter((c, i) => c === picked[i].truth).length;
    assert.ok(agree >= 95, `top-1 agreement ${agree}/100`);
    assert.ok(right(int8) >= right(fp32) - 2, `accuracy int8 ${right(int8)} vs fp32 ${right(fp32)}`);
  });

  test('an already quantised model runs as it is, asked for int8 or not, and cannot be calibrated; refusals: a calibration folder without photos (broken links skipped), calibrate without int8', { skip: skipWithoutDatasets }, async () => {
    const already = await ImageClassifier.create({ model: PRETRAINED_ONNX, cacheDir });
    assert.equal(already.info.precision, 'int8', 'an already quantised model says it computes in int8');
    const photo = readFileSync(join(REFERENCE_DIR, 'images', 'seed-closeup-800x600.jpg'));
    const [plain] = await already.classifyBatch([photo], { topK: 5 });
    await already.close();
    const asked = await ImageClassifier.create({ model: PRETRAINED_ONNX, cacheDir, precision: 'int8' });
    try {
      assert.deepEqual([asked.info.precision, asked.info.sha256, asked.info.onnxPath], ['int8', already.info.sha256, already.info.onnxPath], 'the same graph, not quantised again');
      const [again] = await asked.classifyBatch([photo], { topK: 5 });
      assert.ok(plain.ok && again.ok);
      assert.deepEqual(again.predictions, plain.predictions);
    } finally {
      await asked.close();
    }
    await assert.rejects(ImageClassifier.create({ model: PRETRAINED_ONNX, cacheDir, precision: 'int8', calibrate: join(REFERENCE_DIR, 'images') }), (err: unknown) => err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT' && /^calibrate: .* is already quantised/.test(err.message));
    const empty = join(cacheDir, 'no-photos');
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, 'notes.txt'), 'not a photo');
    // A broken link named like a photo is skipped like any file that is not one.
    symlinkSync(join(empty, 'gone.jpg'), join(empty, 'broken.jpg'));
    const refused = async (folder: string, message: RegExp): Promise<void> => {
      await assert.rejects(ImageClassifier.create({ model: RESNET18, cacheDir, precision: 'int8', calibrate: folder }), (err: unknown) => {
        assert.ok(err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT', String(err));
        assert.match(err.message, message);
        assert.ok(err.message.includes(folder), err.message);
        return true;
      });
    };
    await refused(join(cacheDir, 'not-there'), /cannot be read as a folder of photos: no such folder \(ENOENT\)$/);
    await refused(join(empty, 'notes.txt'), /cannot be read as a folder of photos: not a folder \(ENOTDIR\)$/);
    const nothing = join(cacheDir, 'nothing-named-as-photos');
    mkdirSync(nothing, { recursive: true });
    writeFileSync(join(nothing, 'notes.txt'), 'not a photo');
    await refused(nothing, /has no photos \(\.jpg/);
    await refused(empty, /the one file named as a photo in .* is not an image this process can read$/);
    writeFileSync(join(empty, 'fake.jpg'), 'not a photo either');
    await refused(empty, /none of the 2 files named as photos in .* is an image this process can read$/);
    await assert.rejects(ImageClassifier.create({ model: RESNET18, cacheDir, calibrate: empty }), (err: unknown) => err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT');
    await assert.rejects(ImageClassifier.create({ model: RESNET18, cacheDir, precision: 'int4' as 'int8' }), (err: unknown) => err instanceof ResnetServeError && /precision/.test(err.message));
  });

  test('calibration reads one photo at a time: files that are not photos (a 2.5 GB one, text) are passed by unread and counted, a damaged photo skipped', { skip: skipWithoutReference }, async () => {
    const folder = join(cacheDir, 'mixed');
    mkdirSync(folder, { recursive: true });
    for (const name of ['n01440764_tench.JPEG', 'n02123045_tabby.JPEG']) symlinkSync(join(REFERENCE_DIR, 'images', name), join(folder, name));
    writeFileSync(join(folder, 'notes.jpg'), 'not a photo');
    // A JPEG cut short after its header: it looks like a photo, and fails to decode (last in the folder's order).
    writeFileSync(join(folder, 'zz-cut.jpg'), readFileSync(join(REFERENCE_DIR, 'images', 'n02123045_tabby.JPEG')).subarray(0, 600));
    // Sparse: no disk used; reading it whole would throw ERR_FS_FILE_TOO_LARGE (it crashed the CLI with a stack trace).
    writeFileSync(join(folder, 'zz-video.jpg'), '');
    truncateSync(join(folder, 'zz-video.jpg'), 2.5 * 2 ** 30);
    const calls: CalibrationProgress[] = [];
    const int8 = await ImageClassifier.create({ model: RESNET18, cacheDir, precision: 'int8', calibrate: folder, onQuantizeProgress: (p) => calls.push(p) });
    assert.equal(int8.info.precision, 'int8');
    await int8.close();
    assert.deepEqual(calls.map((p) => p.done), [1, 2, 3], 'told about every photo, the damaged last one included');
    assert.deepEqual(calls.at(-1), { done: 3, total: 3, skipped: 1, found: 3, passedBy: 2 });
    // Nothing that decodes: one error, counting every file named as a photo (the damaged one and the text).
    const broken = join(cacheDir, 'only-broken');
    mkdirSync(broken, { recursive: true });
    for (const name of ['notes.jpg', 'zz-cut.jpg']) symlinkSync(join(folder, name), join(broken, name));
    await assert.rejects(ImageClassifier.create({ model: RESNET18, cacheDir, precision: 'int8', calibrate: broken }), (err: unknown) => {
      assert.ok(err instanceof ResnetServeError && err.code === 'INVALID_ARGUMENT', String(err));
      assert.match(err.message, /^calibrate: none of the 2 files named as photos in .*only-broken is an image this process can read$/);
      return true;
    });
  });

  test('the block rewrite is the default where the CPU has VNNI, read from cpuinfo’s flags', () => {
    const cpuinfo = (flags: string): string => `processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: ${flags}\nbugs\t\t: sysret_ss_attrs\n`;
    assert.equal(cpuHasVnni(cpuinfo('fpu sse2 avx2 fma avx512f avx512_vnni avx512_bf16')), true);
    assert.equal(cpuHasVnni(cpuinfo('fpu sse2 avx2 fma avx_vnni')), true);
    assert.equal(cpuHasVnni(cpuinfo('fpu sse2 avx2 fma avx512f avx512vl')), false);
    assert.equal(cpuHasVnni('Processor\t: AArch64\nFeatures\t: fp asimd asimddp\n'), false);
    assert.equal(defaultQuantizeSettings(true).spaceToDepth, true);
    assert.equal(defaultQuantizeSettings(false).spaceToDepth, false);
    assert.deepEqual({ ...defaultQuantizeSettings(true), spaceToDepth: false }, defaultQuantizeSettings(false), 'nothing else depends on the CPU');
  });

  test('a larger folder is calibrated on at most MAX_CALIBRATION_PHOTOS of its photos, evenly spread', () => {
    const files = Array.from({ length: 1000 }, (_, i) => i);
    const chosen = evenlySpread(files, MAX_CALIBRATION_PHOTOS);
    assert.equal(chosen.length, MAX_CALIBRATION_PHOTOS);
    assert.equal(new Set(chosen).size, MAX_CALIBRATION_PHOTOS);
    assert.equal(chosen[0], 0);
    assert.ok(chosen.at(-1)! >= 990, 'reaches the end of the list');
    assert.deepEqual(evenlySpread([3, 1, 2], MAX_CALIBRATION_PHOTOS), [3, 1, 2]);
  });
});
