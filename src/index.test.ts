/** The library as a user's script calls it: through the package entry, with the types it ships. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { Head, ImageClassifier, isResnetServeError, trainHeadFromFolder } from './index.js';
import { testPhoto } from './testing/fixtures.js';
import { writeRandomCheckpoint } from './testing/random-resnet.js';
import { scratchDir } from './testing/scratch.js';

let root: string;
let classifier: ImageClassifier;

before(async () => {
  root = await scratchDir('rs-library-api-');
  const { path } = await writeRandomCheckpoint('resnet18', 61);
  classifier = await ImageClassifier.create({ model: path, cacheDir: join(root, 'cache') });
  for (const [name, seeds] of [['warm', [0, 11, 16, 27]], ['cold', [3, 8, 19, 24]]] as const) {
    mkdirSync(join(root, 'set', name), { recursive: true });
    for (const s of seeds) writeFileSync(join(root, 'set', name, `${s}.jpg`), await testPhoto(s, 160, 120));
  }
});
after(async () => {
  await classifier?.close();
});

describe('the library API', () => {
  test('package.json names the entry and its type declarations, and both are built', () => {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { main: string; types: string };
    for (const file of [pkg.main, pkg.types]) assert.ok(existsSync(fileURLToPath(new URL(`../${file}`, import.meta.url))), file);
  });

  test('an image as a Buffer, a Uint8Array, a path or a file: URL gets the same answer; anything else a typed error', async () => {
    const path = join(root, 'set', 'warm', '0.jpg');
    const bytes = readFileSync(path);
    const answers = await Promise.all([bytes, new Uint8Array(bytes), path, pathToFileURL(path)].map((image) => classifier.classify(image, { topK: 3 })));
    for (const a of answers) assert.deepEqual(a, answers[0]);
    await assert.rejects(classifier.classify(42 as unknown as string), (err) => isResnetServeError(err) && err.code === 'INVALID_ARGUMENT' && /a Buffer, a Uint8Array, a file path or a file: URL/.test(err.message));
  });

  test('a head trained from a folder answers with its classes, and survives its file', async () => {
    const trained = await trainHeadFromFolder(classifier, join(root, 'set'), { folds: 2, cacheDir: join(root, 'cache') });
    assert.equal(trained.head.name, 'set');
    assert.deepEqual(trained.head.classes, ['cold', 'warm']);
    assert.equal(trained.summary.counts.warm, 4);
    assert.ok(trained.warnings.some((w) => /only 4 photos/.test(w)), trained.warnings.join('\n'));
    const file = join(root, 'set.head.json');
    writeFileSync(file, JSON.stringify(trained.head.toJSON()));
    const head = await classifier.loadHead(file);
    assert.ok(head instanceof Head);
    const [top] = await classifier.classify(join(root, 'set', 'cold', '3.jpg'), { head: head.withoutRejection() });
    assert.ok(['cold', 'warm'].includes(top.label), top.label);
    await assert.rejects(classifier.loadHead(join(root, 'none.json')), /Cannot read the head file .*none\.json: no such file \(ENOENT\)/);
  });

  test('an explanation: the class asked for, its map over the feature grid, and PNG overlays', async () => {
    const [first, second] = await classifier.classify(join(root, 'set', 'warm', '11.jpg'), { topK: 2 });
    const top = await classifier.explain(join(root, 'set', 'warm', '11.jpg'));
    assert.equal(top.target.index, first.index);
    const asked = await classifier.explain(join(root, 'set', 'warm', '11.jpg'), { class: second.label, topK: 3 });
    assert.equal(asked.target.index, second.index);
    assert.equal(asked.predictions.length, 3);
    assert.deepEqual([asked.map.width, asked.map.height], [7, 7]);
    const crop = await sharp(asked.overlays.crop).metadata();
    assert.deepEqual([crop.format, crop.width, crop.height], ['png', 224, 224]);
    assert.equal((await sharp(asked.overlays.photo).metadata()).format, 'png');
    await assert.rejects(classifier.explain(join(root, 'set', 'warm', '11.jpg'), { class: 'no such class' }), (err) => isResnetServeError(err) && err.code === 'INVALID_ARGUMENT');
  });
});
