/**
 * Fidelity against torchvision, on the reference set made by the seed's own
 * stack (PyTorch 1.13.1, torchvision 0.14.1, Pillow 9.4): our input tensors,
 * our converted checkpoint's logits and our answers must match theirs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Preprocessor } from '../image/preprocess.js';
import { loadModel, type LoadedModel } from '../model/load-model.js';
import { PRETRAINED_ONNX, REFERENCE_DIR, readFloat32, referenceCases, skipWithoutReference, type ReferenceCase } from '../testing/shared.js';
import { softmax, topK } from './postprocess.js';
import { ImageClassifier } from './classifier.js';
import { scratchDir } from '../testing/scratch.js';

const PER_IMAGE = 3 * 224 * 224;

describe('reference fidelity', { skip: skipWithoutReference }, () => {
  let cases: ReferenceCase[];
  let inputs: Float32Array;
  let logits: Float32Array;
  let fromPth: LoadedModel;
  let fromOnnx: LoadedModel;
  const ours = new Float32Array(68 * PER_IMAGE);

  before(async () => {
    cases = referenceCases();
    inputs = readFloat32(join(REFERENCE_DIR, 'inputs.f32'));
    logits = readFloat32(join(REFERENCE_DIR, 'logits.f32'));
    const cacheDir = await scratchDir('rs-ref-');
    fromPth = await loadModel({ model: join(REFERENCE_DIR, 'resnet18-seed0.pth'), cacheDir });
    fromOnnx = await loadModel({ model: join(REFERENCE_DIR, 'resnet18-seed0.onnx'), cacheDir });
    const pre = new Preprocessor();
    for (let i = 0; i < cases.length; i++) await pre.imageToTensor(readFileSync(join(REFERENCE_DIR, 'images', cases[i].file)), ours, i * PER_IMAGE);
  });
  after(async () => {
    await fromPth?.session.release();
    await fromOnnx?.session.release();
  });

  test('input tensors match torchvision to 1e-5 on at least 60 of the 67 non-CMYK images', (t) => {
    const misses: string[] = [];
    cases.forEach((c, i) => {
      if (c.file === 'cmyk.jpg') return;
      let max = 0;
      for (let j = i * PER_IMAGE; j < (i + 1) * PER_IMAGE; j++) max = Math.max(max, Math.abs(ours[j] - inputs[j]));
      if (max > 1e-5) misses.push(`${c.file} (max |Δ| ${max.toExponential(2)})`);
    });
    t.diagnostic(`${67 - misses.length}/67 exact to 1e-5${misses.length ? `; misses: ${misses.join(', ')}` : ''}`);
    assert.ok(misses.length <= 7, misses.join(', '));
  });

  for (const which of ['converted .pth', 'exported .onnx'] as const) {
    test(`${which}: logits on torchvision's own inputs within 1e-3 for all 68 rows`, async (t) => {
      const model = which === 'converted .pth' ? fromPth : fromOnnx;
      const out = (await model.session.run(inputs, cases.length)).logits.data;
      let worst = 0;
      for (let r = 0; r < cases.length; r++) {
        let max = 0;
        for (let j = r * 1000; j < (r + 1) * 1000; j++) max = Math.max(max, Math.abs(out[j] - logits[j]));
        assert.ok(max <= 1e-3, `row ${r} (${cases[r].file}): max |Δ| ${max}`);
        worst = Math.max(worst, max);
      }
      t.diagnostic(`worst max |Δ| over 68 rows: ${worst.toExponential(2)}`);
    });
  }

  test('from image file to answer: top-5 equals torchvision on at least 64 of 67, and CMYK shares 3 of 5', async (t) => {
    const out = (await fromPth.session.run(ours, cases.length)).logits.data;
    const mismatches: string[] = [];
    cases.forEach((c, i) => {
      const top5 = topK(softmax(out, i * 1000, 1000), 5).map((r) => r.index);
      if (c.file === 'cmyk.jpg') {
        const shared = top5.filter((k) => c.top5.includes(k)).length;
        t.diagnostic(`cmyk.jpg shares ${shared} of 5 top classes`);
        assert.ok(shared >= 3);
      } else if (top5.join() !== c.top5.join()) {
        mismatches.push(c.file);
      }
    });
    t.diagnostic(`top-5 identical on ${67 - mismatches.length}/67`);
    assert.ok(mismatches.length <= 3, mismatches.join(', '));
  });

  test('fast preprocessing: top-1 agrees with exact on >= 99% of the photos, accuracy within 1 in 50', async (t) => {
    for (const model of [PRETRAINED_ONNX, join(REFERENCE_DIR, 'resnet18-seed0.pth')]) {
      const classifier = await ImageClassifier.create({ model, cacheDir: await scratchDir('rs-fast-') });
      try {
        const top1: Record<string, number[]> = {};
        for (const mode of ['exact', 'fast'] as const) {
          const pre = new Preprocessor(classifier.model.preprocess, undefined, mode);
          const batch = new Float32Array(cases.length * PER_IMAGE);
          for (let i = 0; i < cases.length; i++) await pre.imageToTensor(readFileSync(join(REFERENCE_DIR, 'images', cases[i].file)), batch, i * PER_IMAGE);
          const out = (await classifier.model.session.run(batch, cases.length)).logits.data;
          top1[mode] = cases.map((_, i) => topK(softmax(out, i * 1000, 1000), 1)[0].index);
        }
        const agree = cases.filter((_, i) => top1.exact[i] === top1.fast[i]).length;
        const photos = cases.map((c, i) => [c, i] as const).filter(([c]) => c.truth !== undefined);
        const right = (mode: string): number => photos.filter(([c, i]) => top1[mode][i] === c.truth).length;
        t.diagnostic(`${model.split('/').pop()}: top-1 agreement ${agree}/${cases.length}; accuracy exact ${right('exact')}/${photos.length}, fast ${right('fast')}/${photos.length}`);
        assert.ok(agree >= 0.99 * cases.length, `agreement ${agree}/${cases.length}`);
        assert.ok(right('fast') >= right('exact') - photos.length / 50);
      } finally {
        await classifier.close();
      }
    }
  });

  test('the real pretrained MobileNetV2 names the true class of the ImageNet photos', async (t) => {
    const classifier = await ImageClassifier.create({ model: PRETRAINED_ONNX });
    try {
      const photos = cases.filter((c) => c.truth !== undefined);
      const outcomes = await classifier.classifyBatch(photos.map((c) => join(REFERENCE_DIR, 'images', c.file)), { topK: 5 });
      let top1 = 0;
      let top5 = 0;
      outcomes.forEach((o, i) => {
        assert.ok(o.ok);
        if (o.predictions[0].index === photos[i].truth) top1++;
        if (o.predictions.some((p) => p.index === photos[i].truth)) top5++;
      });
      t.diagnostic(`MobileNetV2 int8: top-1 ${top1}/${photos.length}, top-5 ${top5}/${photos.length}`);
      assert.ok(top1 >= photos.length * 0.6 && top5 >= photos.length * 0.8, `top-1 ${top1}, top-5 ${top5} of ${photos.length}`);
    } finally {
      await classifier.close();
    }
  });
});
