import assert from 'node:assert/strict';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { isResnetServeError } from '../errors.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { ImageClassifier } from './classifier.js';
import { MAX_PHOTO_FILE_BYTES } from '../image/read-photo.js';
import { scratchDir } from '../testing/scratch.js';

let classifier: ImageClassifier;
const images: Buffer[] = [];

before(async () => {
  const { path } = await writeRandomCheckpoint('resnet18', 4);
  classifier = await ImageClassifier.create({ model: path, cacheDir: await scratchDir('rs-cls-'), threads: 2 });
  for (const [w, h, colour] of [[640, 480, '#c03020'], [300, 500, '#2080f0'], [1000, 100, '#30a050']] as const) {
    const svgLike = await sharp({ create: { width: w, height: h, channels: 3, background: colour } })
      .composite([{ input: await sharp({ create: { width: Math.floor(w / 2), height: Math.floor(h / 2), channels: 3, background: '#ffffff' } }).png().toBuffer(), left: 10, top: 10 }])
      .jpeg()
      .toBuffer();
    images.push(svgLike);
  }
});
after(() => classifier.close());

test('classify returns k sorted softmax probabilities with labels', async () => {
  const predictions = await classifier.classify(images[0], { topK: 5 });
  assert.equal(predictions.length, 5);
  for (let i = 1; i < 5; i++) assert.ok(predictions[i - 1].score >= predictions[i].score);
  assert.ok(predictions.every((p) => p.score > 0 && p.score < 1 && Number.isInteger(p.index) && p.label === classifier.model.labels.en[p.index]));
  const all = await classifier.classify(images[0], { topK: 1000 });
  assert.ok(Math.abs(all.reduce((a, p) => a + p.score, 0) - 1) < 1e-9);
  assert.deepEqual(all.slice(0, 5), predictions);
});

test('a batch gives the same answers as one image at a time', async () => {
  const batch = await classifier.classifyBatch(images, { topK: 3 });
  for (let i = 0; i < images.length; i++) {
    const single = await classifier.classify(images[i], { topK: 3 });
    const outcome = batch[i];
    assert.ok(outcome.ok);
    assert.deepEqual(outcome.predictions.map((p) => p.index), single.map((p) => p.index));
    outcome.predictions.forEach((p, j) => assert.ok(Math.abs(p.score - single[j].score) < 1e-5));
  }
});

test('a bad image in a batch gets its error in place; the others are classified', async () => {
  const outcomes = await classifier.classifyBatch([images[0], Buffer.from('not an image'), Buffer.alloc(0), images[1], '/no/such/file.jpg'], { topK: 2 });
  assert.deepEqual(outcomes.map((o) => (o.ok ? 'ok' : o.error.code)), ['ok', 'IMAGE_UNSUPPORTED', 'IMAGE_EMPTY', 'ok', 'IO_ERROR']);
  const first = outcomes[0];
  const single = await classifier.classify(images[0], { topK: 2 });
  assert.ok(first.ok);
  assert.deepEqual(first.predictions.map((p) => p.index), single.map((p) => p.index));
});

test('lang zh and both', async () => {
  const zh = await classifier.classify(images[1], { topK: 3, lang: 'zh' });
  const both = await classifier.classify(images[1], { topK: 3, lang: 'both' });
  zh.forEach((p, i) => {
    assert.equal(p.label, classifier.model.labels.zh?.[p.index]);
    assert.equal(both[i].label_zh, p.label);
    assert.equal(both[i].label, classifier.model.labels.en[p.index]);
  });
});

test('options are validated and name the parameter', async () => {
  const invalid = (err: unknown, name: string): boolean => isResnetServeError(err, 'INVALID_ARGUMENT') && err.message.includes(name);
  await assert.rejects(classifier.classify(images[0], { topK: 0 }), (e) => invalid(e, 'topK'));
  await assert.rejects(classifier.classify(images[0], { topK: 1001 }), (e) => invalid(e, 'topK'));
  await assert.rejects(classifier.classify(images[0], { lang: 'fr' as never }), (e) => invalid(e, 'lang'));
});

test('a file that is not a photo, or larger than any photo, is refused by its first bytes and size, without being read whole', async () => {
  const dir = await scratchDir('rs-cls-big-');
  // Sparse files: no disk used. Before, each was read whole first (a 1.2 GB one took 1.4 GB and 5 s).
  const disk = join(dir, 'disk-image.jpg');
  writeFileSync(disk, 'not a photo');
  truncateSync(disk, 1200 * 2 ** 20);
  const huge = join(dir, 'huge.jpg');
  writeFileSync(huge, images[0].subarray(0, 64));
  truncateSync(huge, MAX_PHOTO_FILE_BYTES + 1);
  const rssBefore = process.memoryUsage().rss;
  const [notPhoto, tooBig, fine] = await classifier.classifyBatch([disk, huge, images[1]]);
  assert.ok(!notPhoto.ok && notPhoto.error.code === 'IMAGE_UNSUPPORTED', JSON.stringify(notPhoto));
  assert.ok(!tooBig.ok && tooBig.error.code === 'IMAGE_TOO_LARGE' && /larger than any photo/.test(tooBig.error.message), JSON.stringify(tooBig));
  assert.ok(fine.ok);
  assert.ok(process.memoryUsage().rss - rssBefore < 300 * 2 ** 20, 'neither file was read whole');
});
