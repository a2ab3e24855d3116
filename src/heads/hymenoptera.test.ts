/**
 * The real thing: a head taught ants and bees from the hymenoptera photos
 * with the pretrained MobileNetV2 of ../shared, through our own pipeline.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ImageClassifier } from '../classify/classifier.js';
import { HYMENOPTERA_DIR, IMAGENET_SAMPLE_DIR, PRETRAINED_ONNX, REFERENCE_DIR, referenceCases, skipWithoutDatasets } from '../testing/shared.js';
import { EmbeddingCache } from './embedding-cache.js';
import { collectExamples, recipeOf, type CollectedExamples } from './examples.js';
import { Head } from './head.js';
import { readImageFolder } from './image-folder.js';
import { trainHead } from './train.js';
import { scratchDir } from '../testing/scratch.js';
import { pasteOnGrey } from '../testing/canvas.js';
import { massInside, upsampleMap } from '../classify/cam.js';
import { seededRandom } from '../seeded-random.js';

let classifier: ImageClassifier;
let cache: EmbeddingCache;
let train: CollectedExamples;
let classes: string[];
/** The head of the first test, for the tests after it. */
let trained: Head;

async function embed(photos: { path: string; label: number }[]): Promise<CollectedExamples> {
  const engine = (bytes: Buffer[]) => classifier.analyzeBatch(bytes, ['embedding'], { mirror: true });
  return collectExamples(photos.map((p) => ({ ...p, name: p.path })), engine, cache, { model: classifier.info.sha256, recipe: recipeOf(classifier.preprocessor.mode) });
}

before(async () => {
  if (skipWithoutDatasets) return;
  const dir = await scratchDir('rs-hym-');
  classifier = await ImageClassifier.create({ model: PRETRAINED_ONNX, cacheDir: dir });
  cache = new EmbeddingCache(dir);
  const folder = await readImageFolder(join(HYMENOPTERA_DIR, 'train'));
  classes = folder.classes;
  train = await embed(folder.photos);
});
after(async () => {
  cache?.close();
  await classifier?.close();
});

test('a head trained on hymenoptera/train: val accuracy ≥ 95%, unknown for photos of other things, and its file round-trips', { skip: skipWithoutDatasets }, async () => {
  assert.deepEqual(classes, ['ants', 'bees']);
  const backbone = { name: classifier.info.name, sha256: classifier.info.sha256, dim: train.examples[0].embedding.length };
  const { head, summary } = trainHead('hymenoptera', classes, train.examples, backbone);
  assert.ok((summary.accuracy ?? 0) > 0.9, `cross-validated ${summary.accuracy}`);
  const reloaded = Head.parse(JSON.stringify(head.toJSON()), 'hymenoptera.json', backbone);
  trained = reloaded;
  const val = await embed((await readImageFolder(join(HYMENOPTERA_DIR, 'val'))).photos);
  const answers = val.examples.map((e) => ({ e, a: reloaded.answer(e.embedding, e.probabilities) }));
  const correct = answers.filter(({ e, a }) => a.probabilities.indexOf(Math.max(...a.probabilities)) === e.label).length;
  const accuracy = correct / answers.length;
  assert.ok(accuracy >= 0.95, `val accuracy ${(accuracy * 100).toFixed(1)}%`);
  const valUnknown = answers.filter(({ a }) => a.unknown).length / answers.length;
  assert.ok(valUnknown <= 0.05, `val photos answered "unknown": ${(valUnknown * 100).toFixed(1)}%`);
  const others = referenceCases().filter((c) => c.truth !== undefined);
  const strangers = await embed(others.map((c) => ({ path: join(REFERENCE_DIR, 'images', c.file), label: 0 })));
  const rejected = strangers.examples.filter((e) => reloaded.answer(e.embedding, e.probabilities).unknown).length / strangers.examples.length;
  assert.ok(rejected >= 0.9, `ImageNet photos answered "unknown": ${(rejected * 100).toFixed(1)}%`);

  // The library's classify says it too: "unknown" first, then the head's classes; a photo of a bee is answered as one.
  const stranger = (strangers.examples.find((e) => reloaded.answer(e.embedding, e.probabilities).unknown) as { name: string }).name;
  const refused = await classifier.classify(stranger, { head: reloaded });
  assert.equal(refused[0].label, 'unknown');
  assert.equal(refused[0].index, -1);
  assert.deepEqual(refused.slice(1).map((p) => p.label).sort(), ['ants', 'bees']);
  const [batched] = await classifier.classifyBatch([stranger], { head: reloaded });
  assert.ok(batched.ok && batched.unknown === true);
  assert.ok(Math.abs(refused[0].score - (1 - (batched.typicality ?? 0))) < 1e-9);
  const bee = (answers.find(({ e, a }) => e.label === 1 && !a.unknown && a.probabilities[1] > 0.9) as (typeof answers)[number]).e.name;
  const beeAnswer = await classifier.classify(bee, { head: reloaded });
  assert.equal(beeAnswer[0].label, 'bees');
});

test('retraining after adding photos embeds only the new ones', { skip: skipWithoutDatasets }, async () => {
  const folder = await readImageFolder(join(HYMENOPTERA_DIR, 'train'));
  const again = await embed(folder.photos);
  assert.equal(again.embedded, 0);
  assert.equal(again.cached, folder.photos.length);
  // Five photos never embedded before (the first test embedded train, val and the reference photos).
  const extra = readdirSync(IMAGENET_SAMPLE_DIR).slice(0, 5).map((f) => ({ path: join(IMAGENET_SAMPLE_DIR, f), label: 0 }));
  const more = await embed([...folder.photos, ...extra]);
  assert.equal(more.embedded, 5);
});

test("where the head looked: ants and bees pasted on grey; most of the heat of its answer falls on the photo", { skip: skipWithoutDatasets }, async () => {
  const random = seededRandom(7);
  const val = (await readImageFolder(join(HYMENOPTERA_DIR, 'val'))).photos;
  // Every fourth photo: about 40, of both classes.
  const picked = val.filter((_, i) => i % 4 === 0);
  const shares: number[] = [];
  const areas: number[] = [];
  for (const photo of picked) {
    const { canvas, box } = await pasteOnGrey(readFileSync(photo.path), random);
    const explanation = await classifier.explain(canvas, { head: trained, topK: 1 });
    assert.equal(explanation.predictions[0].label, explanation.target.label, 'its top class by default');
    if (explanation.target.index !== photo.label) continue;
    shares.push(massInside(upsampleMap(explanation.map, 224), 224, box));
    const clip = (v: number): number => Math.min(224, Math.max(0, v));
    areas.push(((clip(box.x1) - clip(box.x0)) * (clip(box.y1) - clip(box.y0))) / 224 ** 2);
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const most = shares.filter((s) => s >= 0.5).length;
  console.log(`head localisation: ${most} of ${shares.length} correctly answered photos have >= 50% of the heat on them (median ${median(shares).toFixed(2)}, where the photo is a median ${median(areas).toFixed(2)} of the crop)`);
  assert.ok(shares.length >= 0.8 * picked.length, `${shares.length} of ${picked.length} still answered right on the canvas`);
  assert.ok(most >= 0.8 * shares.length, `${most} of ${shares.length} photos have at least half the heat inside`);
  assert.ok(median(shares) >= 2 * median(areas), 'the heat is on the photo, not spread over the canvas');
});
