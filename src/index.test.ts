/** The library as a user's script calls it: through the package entry, with the types it ships. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { Head, ImageClassifier, isResnetServeError, trainHeadFromFolder, type ErrorCode } from './index.js';
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

/** Asserts that `promise` rejects with a ResnetServeError of `code` whose message matches `message`. */
async function refused(promise: Promise<unknown>, code: ErrorCode, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err) => isResnetServeError(err, code) && message.test(err.message));
}

describe('the library as a guest in your process', () => {
  const entry = fileURLToPath(new URL('./index.js', import.meta.url));
  /** Whether `sharp` in a fresh process loads an SVG after importing the library ("svg") or refuses it, before and after `restrict`. */
  const svgLoads = (env: Record<string, string>, restrict: boolean): string => {
    const script = `
      const { restrictImageLoaders } = await import(${JSON.stringify(entry)});
      const { default: sharp } = await import('sharp');
      const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>');
      const load = () => sharp(svg).metadata().then((m) => m.format, () => 'refused');
      const first = await load();
      if (${restrict}) restrictImageLoaders();
      console.log(first, await load());`;
    const environment: Record<string, string | undefined> = { ...process.env, ...env };
    if (!('RESNET_SERVE_RESTRICT_LOADERS' in env)) delete environment.RESNET_SERVE_RESTRICT_LOADERS;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: fileURLToPath(new URL('..', import.meta.url)), env: environment, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    return run.stdout.trim();
  };

  test("importing it leaves the app's own sharp as it was; restrictImageLoaders() or RESNET_SERVE_RESTRICT_LOADERS=1 limits libvips to the photo loaders", () => {
    assert.equal(svgLoads({}, false), 'svg svg');
    assert.equal(svgLoads({}, true), 'svg refused');
    assert.equal(svgLoads({ RESNET_SERVE_RESTRICT_LOADERS: '1' }, false), 'refused refused');
  });

  test('a device or a named pipe is refused before a byte is read (never read forever, never waits for a writer)', async (t) => {
    if (!existsSync('/dev/zero')) return t.skip('no /dev/zero here');
    await refused(classifier.classify('/dev/zero'), 'IMAGE_UNSUPPORTED', /Not a regular file \(a device\)/);
    const fifo = join(root, 'pipe.jpg');
    const made = spawnSync('mkfifo', [fifo]);
    if (made.status !== 0) return t.skip('mkfifo is not available');
    await refused(classifier.classify(fifo), 'IMAGE_UNSUPPORTED', /Not a regular file \(a named pipe\)/);
    await refused(classifier.classify(join(root, 'set')), 'IO_ERROR', /is a folder \(EISDIR\)/);
  });

  test('options that are not what they should be are INVALID_ARGUMENT naming them, from plain JavaScript too', async () => {
    const photo = join(root, 'set', 'warm', '0.jpg');
    const untyped = classifier as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    await refused(untyped.classify.call(classifier, photo, null), 'INVALID_ARGUMENT', /for options but received null/);
    await refused(untyped.classify.call(classifier, photo, { head: 'bugs' }), 'INVALID_ARGUMENT', /a Head .* for head but received string "bugs"/);
    await refused(untyped.explain.call(classifier, photo, null), 'INVALID_ARGUMENT', /for options/);
    await refused(untyped.classifyBatch.call(classifier, 'abc'), 'INVALID_ARGUMENT', /an array of images for images/);
    await refused(untyped.embedBatch.call(classifier, null), 'INVALID_ARGUMENT', /an array of images for images/);
    await refused(classifier.classify(''), 'INVALID_ARGUMENT', /for image but received string ""/);
    await refused(ImageClassifier.create(null as never), 'INVALID_ARGUMENT', /for options/);
    await refused(ImageClassifier.create({ cacheDir: '' }), 'INVALID_ARGUMENT', /a folder path for cacheDir/);
    await refused(classifier.loadHead(42 as never), 'INVALID_ARGUMENT', /a head file path or a file: URL for path but received number 42/);
    await refused(classifier.loadHead(new URL('https://example.org/bugs.json')), 'INVALID_ARGUMENT', /for path but received URL "https:\/\/example\.org\/bugs\.json"/);
    await refused(classifier.classify(new URL('http://example.org/cat.jpg')), 'INVALID_ARGUMENT', /a file path or a file: URL for image but received URL "http:\/\/example\.org\/cat\.jpg"$/);
    await refused(classifier.classify(new URL('file://otherhost/cat.jpg')), 'INVALID_ARGUMENT', /a file: URL of this machine .* for image but received URL "file:\/\/otherhost\/cat\.jpg"$/);
    await refused(classifier.classify(new ArrayBuffer(8) as never), 'INVALID_ARGUMENT', /for image but received an ArrayBuffer of 8 bytes$/);
    await refused(trainHeadFromFolder(classifier, 5 as never), 'INVALID_ARGUMENT', /a folder path for root/);
    // A misspelt option is named, with the one it probably is, never ignored.
    await refused(classifier.classify(photo, { topk: 2 } as never), 'INVALID_ARGUMENT', /Unknown option "topk" of classify \(did you mean topK\?\)/);
    await refused(classifier.classify(photo, { language: 'zh' } as never), 'INVALID_ARGUMENT', /Unknown option "language" of classify; its options are topK, lang, head/);
    await refused(classifier.explain(photo, { klass: 'tabby' } as never), 'INVALID_ARGUMENT', /Unknown option "klass" of explain \(did you mean class\?\)/);
    await refused(ImageClassifier.create({ modle: 'x.onnx' } as never), 'INVALID_ARGUMENT', /Unknown option "modle" of ImageClassifier.create \(did you mean model\?\)/);
    await refused(trainHeadFromFolder(classifier, join(root, 'set'), { fold: 3 } as never), 'INVALID_ARGUMENT', /Unknown option "fold" of training \(did you mean folds\?\)/);
    const set = join(root, 'set');
    for (const [option, value, expected] of [
      ['lambda', NaN, /a positive finite number for lambda/],
      ['lambda', -1, /for lambda/],
      ['folds', 0, /an integer of at least 2 for folds/],
      ['folds', 1.5, /for folds/],
      ['rejectRate', 5, /a fraction between 0 and 0.5 for rejectRate/],
      ['name', '', /a non-empty string for name/],
    ] as const) {
      await refused(trainHeadFromFolder(classifier, set, { [option]: value }), 'INVALID_ARGUMENT', expected);
    }
  });

  test('a long list is taken a batch at a time, with the answers each image gets alone', async () => {
    const photos = [...[3, 8, 19, 24].map((n) => join(root, 'set', 'cold', `${n}.jpg`)), ...[0, 11, 16, 27].map((n) => join(root, 'set', 'warm', `${n}.jpg`))];
    const files = Array.from({ length: 20 }, (_, i) => photos[i % photos.length]);
    files[17] = join(root, 'nothing-here.jpg');
    const together = await classifier.classifyBatch(files, { topK: 2 });
    assert.equal(together.length, 20);
    for (const [i, outcome] of together.entries()) {
      if (i === 17) {
        assert.equal(outcome.ok, false);
        continue;
      }
      assert.ok(outcome.ok);
      assert.deepEqual(outcome.predictions, await classifier.classify(files[i], { topK: 2 }));
    }
  });

  test('close waits for the calls in progress, may be called twice, and a call after it is NOT_READY', async () => {
    const { path } = await writeRandomCheckpoint('resnet18', 61);
    const own = await ImageClassifier.create({ model: path, cacheDir: join(root, 'cache') });
    const photo = join(root, 'set', 'warm', '0.jpg');
    const calls = Array.from({ length: 6 }, () => own.classify(photo, { topK: 1 }));
    // An explanation is in progress from its call on, before its photo is read.
    const explained = own.explain(photo, { topK: 2 });
    await Promise.all([own.close(), own.close()]);
    for (const answer of await Promise.all(calls)) assert.equal(answer.length, 1);
    assert.equal((await explained).predictions.length, 2);
    await own.close();
    await refused(own.classify(photo), 'NOT_READY', /closed/);
  });
});

