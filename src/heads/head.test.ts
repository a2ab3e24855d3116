import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { seededRandom } from '../testing/random-resnet.js';
import { Head } from './head.js';
import { headDigest } from './head-file.js';
import { mixups, stratifiedFolds, trainHead, type TrainingExample } from './train.js';
import { noteText } from './training-notes.js';

const backbone = { name: 'resnet18', sha256: 'ab'.repeat(32), dim: 16 };

function examples(classes: number, perClass: number, seed = 1): TrainingExample[] {
  const rand = seededRandom(seed);
  return Array.from({ length: classes * perClass }, (_, i) => {
    const label = i % classes;
    const embedding = Float32Array.from({ length: 16 }, (_, j) => (j % classes === label ? 2 : 0) + rand() * 0.5);
    const probabilities = Float32Array.from({ length: 10 }, (_, j) => (j === label ? 0.8 : 0.2 / 9));
    return { embedding, probabilities, label };
  });
}

test('training: cross-validated accuracy, a confusion matrix that counts every photo, and a head that answers', () => {
  const data = examples(3, 20);
  const { head, summary } = trainHead('shapes', ['circle', 'square', '三角形'], data, backbone);
  assert.equal(summary.evaluation, 'cv');
  assert.equal(summary.folds, 5);
  assert.equal(summary.accuracy, 1);
  assert.equal(summary.confusion.flat().reduce((a, b) => a + b, 0), 60);
  assert.deepEqual(summary.counts, { circle: 20, square: 20, 三角形: 20 });
  const answer = head.answer(data[2].embedding, data[2].probabilities);
  assert.equal(answer.probabilities.indexOf(Math.max(...answer.probabilities)), 2);
  assert.equal(answer.unknown, false);
  const holdout = trainHead('shapes', ['a', 'b', 'c'], data, backbone, { holdout: 0.2 });
  assert.equal(holdout.summary.evaluation, 'holdout');
  assert.equal(holdout.summary.confusion.flat().reduce((a, b) => a + b, 0), 12);
  assert.deepEqual(mixups(['a', 'b', 'c'], [[5, 1, 0], [3, 4, 0], [0, 2, 9]]), [{ a: 'a', b: 'b', count: 4 }, { a: 'b', b: 'c', count: 2 }]);
});

test('folds are stratified and deterministic', () => {
  const labels = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1];
  const folds = stratifiedFolds(labels, 5, 7);
  assert.deepEqual(folds, stratifiedFolds(labels, 5, 7));
  for (let f = 0; f < 5; f++) {
    assert.deepEqual([0, 1].map((c) => labels.filter((y, i) => y === c && folds[i] === f).length), [1, 1]);
  }
});

test('bad training sets are refused: one class, a class without photos, more than 1,000 classes', () => {
  const refused = (fn: () => unknown, mention: RegExp): void => assert.throws(fn, (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && mention.test(err.message));
  refused(() => trainHead('x', ['only'], examples(1, 5), backbone), /at least 2 classes/);
  refused(() => trainHead('x', ['a', 'b', 'empty'], examples(2, 5), backbone), /no photos in "empty"/);
  refused(() => trainHead('x', Array.from({ length: 1001 }, (_, i) => `c${i}`), examples(2, 5), backbone), /at most 1000 classes/);
  refused(() => trainHead('x', ['a', 'b'], examples(2, 5), backbone, { holdout: 1.5 }), /holdout/);
});

test('a head of two photos per class trains, with rejection, and its file reads back (it failed as "rejection.examples must hold at least k vectors")', () => {
  for (const perClass of [1, 2]) {
    const { head } = trainHead('few', ['a', 'b'], examples(2, perClass), backbone);
    const back = Head.parse(JSON.stringify(head.toJSON()), 'few.json', { name: 'resnet18', sha256: backbone.sha256 });
    assert.deepEqual(back.classes, ['a', 'b'], `${perClass} per class`);
  }
});

test('head files round-trip; tampered, garbled or another model\'s files are refused', () => {
  const { head } = trainHead('shapes', ['circle', 'square'], examples(2, 15), backbone);
  const text = JSON.stringify(head.toJSON());
  const back = Head.parse(text, 'shapes.json', { name: 'resnet18', sha256: backbone.sha256 });
  assert.deepEqual(back.classes, ['circle', 'square']);
  const probe = examples(2, 1, 99)[1];
  const a = head.answer(probe.embedding, probe.probabilities);
  const b = back.answer(probe.embedding, probe.probabilities);
  assert.ok(Math.abs(a.probabilities[1] - b.probabilities[1]) < 1e-5);
  assert.equal(a.unknown, b.unknown);
  const refused = (t: string, mention: RegExp, model = { name: 'resnet18', sha256: backbone.sha256 }): void =>
    assert.throws(() => Head.parse(t, 'shapes.json', model), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && mention.test(err.message));
  refused(text.replace('"square"', '"squares"'), /changed or damaged/);
  refused(text.slice(0, text.length / 2), /not valid JSON/);
  // A JPEG given by mistake (read as UTF-8, as a file is): said in words, its bytes not echoed.
  const jpegText = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]).toString('utf8');
  assert.throws(() => Head.parse(jpegText, 'cat.jpg', { name: 'resnet18', sha256: backbone.sha256 }), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && err.message === 'cat.jpg is not a usable head file: it is binary data, not the JSON text of a head file (a photo or a model given in its place?)');
  refused('{"format": \f}', /not valid JSON \(Unexpected token '\?'/);
  refused('{"format":"something-else"}', /not a resnet-serve-head file/);
  refused(text, /trained on resnet18 .* not on resnet50/, { name: 'resnet50', sha256: 'cd'.repeat(32) });
  const json = JSON.parse(text);
  json.version = 99;
  refused(JSON.stringify(json), /version 99/);
  const { sha256: _seal, ...unsealed } = JSON.parse(text);
  refused(JSON.stringify(unsealed), /it has no SHA-256 of its content \("sha256" is undefined\)/);
  // Without rejection, nothing is "unknown".
  const far = Float32Array.from({ length: 16 }, () => -5);
  assert.equal(head.withoutRejection().answer(far, new Float32Array(10).fill(0.1)).unknown, false);
  assert.equal(head.answer(far, Float32Array.from({ length: 10 }, (_, i) => (i === 9 ? 1 : 0))).unknown, true);
});

test('a hand-made head file with a recomputed seal is still checked field by field', () => {
  const { head } = trainHead('shapes', ['circle', 'square'], examples(2, 15), backbone);
  const good = head.toJSON();
  const model = { name: 'resnet18', sha256: backbone.sha256 };
  const sealed = (change: (file: Record<string, any>) => void): string => {
    const file = JSON.parse(JSON.stringify(good));
    change(file);
    delete file.sha256;
    return JSON.stringify({ ...file, sha256: headDigest(file) });
  };
  const refused = (change: (file: Record<string, any>) => void, mention: RegExp): void =>
    assert.throws(() => Head.parse(sealed(change), 'made.json', model), (err) => isResnetServeError(err, 'INVALID_ARGUMENT') && mention.test(err.message), String(change));
  refused((f) => (f.backbone = null), /"backbone" must be/);
  refused((f) => (f.backbone.precision = 'int4'), /"backbone.precision" must be fp32 or int8, got "int4"/);
  refused((f) => (f.weights = 123), /"weights" must be base64/);
  refused((f) => (f.weights = Buffer.alloc(8).toString('base64')), /"weights" must hold 2×16/);
  refused((f) => (f.bias = ['x', 'y']), /"bias" must be a list of finite numbers/);
  refused((f) => (f.bias = [0]), /"bias" must have 2 values/);
  refused((f) => (f.classes = ['same', 'same']), /appears twice/);
  refused((f) => (f.classes = ['ok', ' ']), /non-empty/);
  refused((f) => (f.rejection.dim = 3), /"rejection.dim" must be the backbone's 16/);
  refused((f) => (f.rejection.k = 0), /"rejection.k" must be an integer/);
  refused((f) => (f.rejection.thresholds = { neighbours: 'low' }), /thresholds/);
  refused((f) => (f.rejection.heldOut.combined = [3, 2, 1]), /"rejection.heldOut.combined" must be in ascending order/);
  refused((f) => delete f.rejection.heldOut.combined, /"rejection.heldOut.combined" must be a list/);
  // Version 1 (a threshold per signal, before Fisher's sum) still reads, and refuses by its own thresholds.
  const v1 = (thresholds: { neighbours: number; profile: number }) =>
    Head.parse(sealed((f) => {
      f.version = 1;
      delete f.rejection.heldOut.combined;
      f.rejection.thresholds = thresholds;
    }), 'old.json', model);
  const probe = examples(2, 1, 99)[0];
  assert.equal(v1({ neighbours: -1, profile: 0 }).answer(probe.embedding, probe.probabilities).unknown, false);
  assert.equal(v1({ neighbours: 1.1, profile: 0 }).answer(probe.embedding, probe.probabilities).unknown, true);
  refused((f) => {
    f.version = 1;
    f.rejection.thresholds = { combined: -3 };
  }, /"rejection.thresholds" must be \{neighbours, profile\}/);
  // The seal recomputed over an unchanged file still reads.
  assert.deepEqual(Head.parse(sealed(() => undefined), 'made.json', model).classes, ['circle', 'square']);
});

test('the same photo twice in a class counts once; in two classes it is kept and warned about', () => {
  const data = examples(2, 3).map((e, i) => ({ ...e, photo: `p${i}`, name: `p${i}.jpg` }));
  const repeated = [...data, { ...data[0], name: 'again.jpg' }, { ...data[1], label: 0, name: 'moved.jpg' }];
  const { summary } = trainHead('x', ['a', 'b'], repeated, backbone, { folds: 2 });
  assert.deepEqual(summary.counts, { a: 4, b: 3 });
  assert.ok(summary.warnings.some((w) => /the same photo is 2 times in "a" \(counted once\): p0\.jpg, again\.jpg/.test(w)), summary.warnings.join('\n'));
  assert.ok(summary.warnings.some((w) => /the same photo is in "b" and "a"/.test(w)), summary.warnings.join('\n'));
  assert.ok(summary.warnings.some((w) => /class "b" has only 3 photos/.test(w)));
  assert.deepEqual(summary.classes, ['a', 'b']);
  // The same facts as codes, one per warning, for readers in other languages.
  assert.deepEqual(summary.warnings, summary.notes?.map(noteText));
  assert.deepEqual(summary.notes?.find((n) => n.code === 'REPEATED_IN_CLASS'), { code: 'REPEATED_IN_CLASS', class: 'a', count: 2, names: ['p0.jpg', 'again.jpg'] });
  assert.deepEqual(summary.notes?.find((n) => n.code === 'IN_SEVERAL_CLASSES'), { code: 'IN_SEVERAL_CLASSES', classes: ['b', 'a'], names: ['p1.jpg', 'moved.jpg'] });
  assert.deepEqual(summary.notes?.filter((n) => n.code === 'FEW_PHOTOS'), [{ code: 'FEW_PHOTOS', class: 'a', count: 4, min: 5 }, { code: 'FEW_PHOTOS', class: 'b', count: 3, min: 5 }]);
  // One file name in two class folders is named once.
  const sameName = trainHead('x', ['a', 'b'], [...data, { ...data[1], label: 0, name: 'p1.jpg' }], backbone, { folds: 2 }).summary;
  assert.match(sameName.warnings.find((w) => /in "b" and "a"/.test(w)) ?? '', /: p1\.jpg$/);
});

test('a class named like the head\'s own "unknown" answer is noted, when the head answers "unknown"', () => {
  const data = examples(3, 10);
  for (const name of ['unknown', ' Unknown ', '未知']) {
    const { summary } = trainHead('odd', ['a', name, 'c'], data, backbone);
    assert.deepEqual(summary.notes?.filter((n) => n.code === 'NAMED_UNKNOWN'), [{ code: 'NAMED_UNKNOWN', class: name }], name);
    assert.ok(summary.warnings.some((w) => w.startsWith(`class "${name}" is named like the head's own "unknown" answer`)), summary.warnings.join('\n'));
  }
  const { summary: plain } = trainHead('plain', ['a', 'unknown things', 'c'], data, backbone);
  assert.equal(plain.notes?.some((n) => n.code === 'NAMED_UNKNOWN'), false, 'a name that only contains the word');
  const { summary: off } = trainHead('off', ['a', 'unknown', 'c'], data, backbone, { reject: false });
  assert.equal(off.notes?.some((n) => n.code === 'NAMED_UNKNOWN'), false, 'without "unknown" answers there is nothing to mix up');
});

test('photos of a class that the head, trained without them, confidently answers as another class are named: perhaps in the wrong folder', () => {
  const data = examples(3, 20).map((e, i) => ({ ...e, name: `p${i}.jpg` }));
  const clean = trainHead('x', ['a', 'b', 'c'], data, backbone).summary;
  assert.equal(clean.notes?.filter((n) => n.code === 'ANSWERED_AS_OTHER').length, 0, 'well-separated classes: nothing named');
  // Two photos of "b" (label 1) filed under "a".
  const misfiled = [...data, { ...data[1], label: 0, name: 'wrong1.jpg', photo: 'w1' }, { ...data[4], label: 0, name: 'wrong2.jpg', photo: 'w2' }];
  const { summary } = trainHead('x', ['a', 'b', 'c'], misfiled, backbone);
  const named = summary.notes?.filter((n) => n.code === 'ANSWERED_AS_OTHER');
  assert.deepEqual(named, [{ code: 'ANSWERED_AS_OTHER', class: 'a', other: 'b', count: 2, names: ['wrong1.jpg', 'wrong2.jpg'], min: 0.8 }]);
  assert.ok(summary.warnings.includes('"a" has 2 photos that the head, trained without them, answered "b" (80% or more): check they are in the right class: wrong1.jpg, wrong2.jpg'), summary.warnings.join('\n'));
  // Without an evaluation (one photo in a class), nothing is held out and nothing is named.
  const unevaluated = trainHead('x', ['a', 'b'], [...examples(2, 1), { ...examples(2, 1)[1], label: 0 }], backbone).summary;
  assert.equal(unevaluated.notes?.filter((n) => n.code === 'ANSWERED_AS_OTHER').length, 0);
});

test('"unknown" needs 2 photos in every class: with fewer it is off, and said so, never silently', () => {
  const far = Float32Array.from({ length: 16 }, (_, j) => (j === 15 ? 5 : 0));
  const elsewhere = Float32Array.from({ length: 10 }, (_, j) => (j === 9 ? 0.99 : 0.01 / 9));
  const one = trainHead('one', ['ants', 'bees'], examples(2, 1), backbone);
  assert.equal(one.summary.rejectedHeldOut, undefined);
  assert.deepEqual(one.summary.notes?.filter((n) => n.code === 'UNKNOWN_OFF'), [{ code: 'UNKNOWN_OFF', classes: ['ants', 'bees'], min: 2 }]);
  assert.ok(one.summary.warnings.includes('"unknown" is off, so every photo is answered as one of the classes: it is learned from photos held out of each class, and "ants" and "bees" have only 1 photo; give every class 2 or more and train again'), one.summary.warnings.join('\n'));
  assert.equal(one.summary.notes?.some((n) => n.code === 'FEW_FOR_UNKNOWN'), false, 'no note about how "unknown" was learned: it was not');
  assert.deepEqual(one.head.answer(far, elsewhere).unknown, false);
  // One class of one photo is enough to turn it off, and is the one named.
  const uneven = trainHead('uneven', ['ants', 'bees'], [...examples(2, 3)].filter((e, i) => e.label === 1 || i === 0), backbone).summary;
  assert.deepEqual(uneven.notes?.find((n) => n.code === 'UNKNOWN_OFF'), { code: 'UNKNOWN_OFF', classes: ['ants'], min: 2 });
  assert.match(uneven.warnings.join('\n'), /and "ants" has only 1 photo;/);
  // Asked off, nothing to say; with 2 photos each, it is on and refuses a photo unlike both classes.
  assert.equal(trainHead('off', ['ants', 'bees'], examples(2, 1), backbone, { reject: false }).summary.notes?.some((n) => n.code === 'UNKNOWN_OFF'), false);
  const two = trainHead('two', ['ants', 'bees'], examples(2, 2), backbone);
  assert.notEqual(two.summary.rejectedHeldOut, undefined);
  assert.equal(two.summary.notes?.some((n) => n.code === 'UNKNOWN_OFF'), false);
  assert.equal(two.head.answer(far, elsewhere).unknown, true);
});

test('the precision a head was trained in is kept; used in the other, a note says its scores may differ (older files, which do not say, none)', () => {
  const { head } = trainHead('shapes', ['circle', 'square'], examples(2, 15), { ...backbone, precision: 'int8' });
  const back = Head.parse(JSON.stringify(head.toJSON()), 'shapes.json', { name: 'resnet18', sha256: backbone.sha256 });
  assert.equal(back.backbone.precision, 'int8');
  assert.equal(back.precisionNote('int8', 'shapes.json'), null);
  assert.match(back.precisionNote('fp32', 'shapes.json') ?? '', /^shapes\.json was trained on int8 embeddings and the model runs in fp32 now: .*--precision int8/);
  const { head: older } = trainHead('shapes', ['circle', 'square'], examples(2, 15), backbone);
  assert.equal(older.precisionNote('fp32', 'old.json'), null);
  assert.equal(older.precisionNote('int8', 'old.json'), null);
});
