/** The photo-library commands, end to end through the CLI on generated folders. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { testPhoto } from '../testing/fixtures.js';
import { interruptWhileQuantising } from '../testing/interrupt-quantising.js';
import { startServe } from '../testing/serve-process.js';
import { convClassifierOnnx } from '../testing/tiny-onnx.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { scratchDir } from '../testing/scratch.js';
import { PRETRAINED_ONNX, skipWithoutDatasets } from '../testing/shared.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
let env: NodeJS.ProcessEnv;
let model: string;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 180_000, maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
    );
  });
}

function rows(db: string): { path: string; sha256: string; tags_key: string; model_sha256: string }[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT path, sha256, tags_key, model_sha256 FROM files ORDER BY path').all() as { path: string; sha256: string; tags_key: string; model_sha256: string }[];
  } finally {
    d.close();
  }
}

function labelsOf(db: string, path: string): string[] {
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare("SELECT label_en FROM tags t JOIN files f ON f.id = t.file_id WHERE f.path = ? AND kind = 'label' ORDER BY score DESC").all(path) as { label_en: string }[]).map((r) => r.label_en);
  } finally {
    d.close();
  }
}

before(async () => {
  const root = await scratchDir('rs-tag-');
  chmodSync(root, 0o777);
  const cache = join(root, 'cache');
  mkdirSync(cache, { mode: 0o777 });
  chmodSync(cache, 0o777);
  env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: cache };
  model = (await writeRandomCheckpoint('resnet18', 77)).path;
  chmodSync(join(model, '..'), 0o755);
  chmodSync(model, 0o644);
});

async function library(files: number): Promise<string> {
  const dir = await scratchDir('rs-lib-');
  mkdirSync(join(dir, 'Holiday 2024', '北京 trip'), { recursive: true });
  for (let i = 0; i < files; i++) {
    const sub = i % 3 === 0 ? '' : i % 3 === 1 ? 'Holiday 2024' : join('Holiday 2024', '北京 trip');
    writeFileSync(join(dir, sub, `IMG ${String(i).padStart(4, '0')}.jpg`), await testPhoto(i + 1, 320, 240));
  }
  for (const d of [dir, join(dir, 'Holiday 2024'), join(dir, 'Holiday 2024', '北京 trip')]) chmodSync(d, 0o777);
  return dir;
}

describe('resnet-serve tag', () => {
  test('nested folders, unicode, non-images and videos by content, copies, a loop, unreadable and broken files, a name that is not UTF-8; then a second run skips', async () => {
    const dir = await library(6);
    writeFileSync(join(dir, 'letter.jpg'), 'not a photo, despite the name');
    writeFileSync(join(dir, 'readme.txt'), 'notes');
    writeFileSync(join(dir, 'empty.JPG'), '');
    // Videos: an MP4 and a QuickTime file (the first bytes of real ones), named like photos.
    writeFileSync(join(dir, 'clip.mp4'), Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom\0\0\x02\0isomiso2'), Buffer.alloc(64)]));
    writeFileSync(join(dir, 'IMG_0001.MOV'), Buffer.concat([Buffer.from([0, 0, 0, 0x14]), Buffer.from('ftypqt  \0\0\0\0qt  '), Buffer.alloc(64)]));
    writeFileSync(join(dir, 'copy of IMG 0000.jpg'), readFileSync(join(dir, 'IMG 0000.jpg')));
    writeFileSync(join(dir, 'broken.jpg'), readFileSync(join(dir, 'IMG 0000.jpg')).subarray(0, 700));
    symlinkSync(dir, join(dir, 'Holiday 2024', 'loop'));
    symlinkSync(join(dir, 'moved away.jpg'), join(dir, 'gone.jpg'));
    // A Latin-1 name from an old camera: é is one byte, 0xE9, not UTF-8.
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9]), Buffer.from('.jpg')]), await testPhoto(40, 320, 240));
    const first = await run(['tag', dir, '--model', model, '--top-k', '3', '--min-score', '0']);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /Tagged 8, skipped 0 unchanged, 1 copy of a photo already seen, 5 not images \(2 videos\), 1 failed, 1 link to nothing passed by/);
    // Files named like photos are named (readme.txt and the videos are not: they were never taken for photos).
    assert.match(first.stderr, /\n {2}not an image: .*empty\.JPG: an empty file\n/);
    assert.match(first.stderr, /\n {2}not an image: .*letter\.jpg: named like a photo, but not an image\n/);
    assert.doesNotMatch(first.stderr, /not an image: .*(readme|clip|MOV)/);
    assert.match(first.stderr, /failed: .*broken\.jpg: Image data is damaged/);
    // A link whose target is missing is said, not failed: every later run would fail for it.
    assert.match(first.stderr, /\n {2}link to nothing: .*gone\.jpg \(its target is missing/);
    assert.doesNotMatch(first.stderr, /failed: .*gone\.jpg/);
    assert.doesNotMatch(first.stderr, /caf/, 'the Latin-1 name is read like any other');
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    const stored = rows(db);
    assert.equal(stored.length, 8);
    assert.ok(stored.some((r) => r.path.includes('北京 trip')));
    const dup = stored.filter((r) => r.path.endsWith('IMG 0000.jpg'));
    assert.equal(dup.length, 2);
    assert.equal(dup[0].sha256, dup[1].sha256);
    // A new copy of a photo already seen is tagged without the model: no speed is claimed for it.
    writeFileSync(join(dir, 'another copy.jpg'), readFileSync(join(dir, 'IMG 0000.jpg')));
    const second = await run(['tag', dir, '--model', model, '--top-k', '3', '--min-score', '0']);
    assert.match(second.stderr, /Tagged 1, skipped 8 unchanged, 1 copy of a photo already seen[^\n]*, in \d+:\d\d\.\n/);
    assert.match(first.stderr, /Tagged 8[^\n]* \(\d+\.\d images\/s\)\.\n/);
    // With the damaged photo gone, the link to nothing alone does not fail the run.
    rmSync(join(dir, 'broken.jpg'));
    const third = await run(['tag', dir, '--model', model, '--top-k', '3', '--min-score', '0']);
    assert.equal(third.code, 0, third.stderr);
    assert.match(third.stderr, /, 0 failed, 1 link to nothing passed by, in /);
    const found = await run(['search', labelsOf(db, stored[0].path)[0], '--db', db, '--limit', '100']);
    assert.equal(found.code, 0, found.stderr);
    // --lang is checked as classify and tag check it (French was taken silently and answered in English).
    const french = await run(['search', labelsOf(db, stored[0].path)[0], '--db', db, '--lang', 'fr']);
    assert.equal(french.code, 2);
    assert.match(french.stderr, /--lang must be en, zh or both, got "fr"/);
    assert.equal(french.stdout, '');
    const exported = JSON.parse((await run(['export', '--db', db])).stdout) as { path: string }[];
    // The index keeps the raw byte (the file is found again); output names it as ls -b and classify do.
    assert.ok(stored.some((r) => r.path.endsWith('caf\u{10ffe9}.jpg')), 'the raw byte is kept in the path key');
    assert.ok(exported.some((e) => e.path.endsWith('caf\\xe9.jpg')), 'exported as ls -b shows it');
  });

  test('the same folder by another path (., a link, ../x) is one library; moved photos keep their tags, deleted ones leave the index', async () => {
    const dir = await library(4);
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    assert.match((await run(['tag', dir, '--model', model])).stderr, /Tagged 4/);
    const link = join(await scratchDir('rs-lib-link-'), 'library');
    symlinkSync(dir, link);
    for (const other of [link, `${dir}/Holiday 2024/..`]) {
      const again = await run(['tag', other, '--model', model, '--db', db]);
      assert.match(again.stderr, /Tagged 0, skipped 4 unchanged/, other);
    }
    assert.equal(rows(db).length, 4);
    const before = rows(db).find((r) => r.path.endsWith('IMG 0001.jpg')) as { path: string };
    const labels = labelsOf(db, before.path);
    mkdirSync(join(dir, 'Sorted'));
    renameSync(join(dir, 'Holiday 2024', 'IMG 0001.jpg'), join(dir, 'Sorted', 'kept.jpg'));
    rmSync(join(dir, 'IMG 0000.jpg'));
    const after = await run(['tag', dir, '--model', model]);
    assert.match(after.stderr, /Tagged 0, skipped 2 unchanged, 1 moved, .*1 photo no longer in the folders taken out of the index/);
    assert.match(after.stderr, /^3\/3 photos, – images\/s, ETA –$/m, 'a move, once found, is no work for the model');
    const paths = rows(db).map((r) => r.path);
    assert.equal(paths.length, 3);
    assert.ok(paths.some((p) => p.endsWith(join('Sorted', 'kept.jpg'))));
    assert.deepEqual(labelsOf(db, paths.find((p) => p.endsWith('kept.jpg')) as string), labels);
  });

  test('with --xmp, a renamed photo takes its sidecar along, with what other tools wrote in it', async () => {
    const dir = await library(2);
    assert.equal((await run(['tag', dir, '--model', model, '--xmp'])).code, 0);
    const old = join(dir, 'IMG 0000.jpg.xmp');
    // A rating another program added to our sidecar.
    writeFileSync(old, readFileSync(old, 'utf8').replace('</rdf:RDF>', '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"/></rdf:RDF>'));
    renameSync(join(dir, 'IMG 0000.jpg'), join(dir, 'taxi.jpg'));
    const again = await run(['tag', dir, '--model', model, '--xmp']);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /1 moved/);
    assert.ok(!existsSync(old), 'no sidecar left beside a photo that is not there');
    const sidecar = readFileSync(join(dir, 'taxi.jpg.xmp'), 'utf8');
    assert.match(sidecar, /xmp:Rating="4"/);
    assert.match(sidecar, /dc:subject/);
    // The whole library moved: every photo followed, and sidecars that already say it all are not written again.
    const sidecars = readdirSync(dir).filter((n) => n.endsWith('.xmp'));
    const mtimes = (root: string): number[] => sidecars.map((n) => statSync(join(root, n)).mtimeMs);
    const before = mtimes(dir);
    const moved = join(await scratchDir('rs-lib-moved-'), 'library');
    renameSync(dir, moved);
    const afterMove = await run(['tag', moved, '--model', model, '--xmp']);
    assert.equal(afterMove.code, 0, afterMove.stderr);
    assert.match(afterMove.stderr, /2 moved/);
    assert.doesNotMatch(afterMove.stderr, /sidecars? written/);
    assert.deepEqual(mtimes(moved), before, 'photo managers see no change to re-read');
  });

  test("a moved photo takes its own sidecar, not a deleted copy's; a move seen by a run without --xmp is followed by the next run with it", async () => {
    const dir = await scratchDir('rs-lib-move-');
    for (const sub of ['Copies', 'Misc', 'Best of', 'old', 'new']) mkdirSync(join(dir, sub));
    const photo = await testPhoto(5, 320, 240);
    writeFileSync(join(dir, 'Misc', 'cat.jpg'), photo);
    writeFileSync(join(dir, 'Copies', 'cat copy.jpg'), photo);
    // The user's sidecar, named as exiftool names it, with a keyword and a rating.
    const users = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4">
 <dc:subject><rdf:Bag><rdf:li>Grandma</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF></x:xmpmeta>`;
    writeFileSync(join(dir, 'Misc', 'cat.xmp'), users);
    writeFileSync(join(dir, 'old', 'sea.jpg'), await testPhoto(6, 320, 240));
    writeFileSync(join(dir, 'old', 'sea.jpg.xmp'), users.replace('Grandma', 'Cornwall'));
    assert.equal((await run(['tag', dir, '--model', model, '--xmp'])).code, 0);
    assert.ok(existsSync(join(dir, 'Copies', 'cat copy.jpg.xmp')));

    renameSync(join(dir, 'Misc', 'cat.jpg'), join(dir, 'Best of', 'Mimi.jpg'));
    rmSync(join(dir, 'Copies', 'cat copy.jpg'));
    const moved = await run(['tag', dir, '--model', model, '--xmp']);
    assert.match(moved.stderr, /1 moved/);
    assert.ok(!existsSync(join(dir, 'Misc', 'cat.xmp')), "the user's sidecar went with the photo");
    const mimi = readFileSync(join(dir, 'Best of', 'Mimi.jpg.xmp'), 'utf8');
    assert.match(mimi, /Grandma/);
    assert.match(mimi, /xmp:Rating="4"/);

    renameSync(join(dir, 'old', 'sea.jpg'), join(dir, 'new', 'sea.jpg'));
    assert.match((await run(['tag', dir, '--model', model])).stderr, /1 moved/);
    assert.ok(existsSync(join(dir, 'old', 'sea.jpg.xmp')), 'without --xmp no sidecar is touched');
    assert.equal((await run(['tag', dir, '--model', model, '--xmp'])).code, 0);
    assert.ok(!existsSync(join(dir, 'old', 'sea.jpg.xmp')));
    assert.match(readFileSync(join(dir, 'new', 'sea.jpg.xmp'), 'utf8'), /Cornwall/);
  });

  test('new settings are derived again from stored scores, without the model; a changed file and another model are tagged again', async () => {
    const dir = await library(3);
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    await run(['tag', dir, '--model', model, '--top-k', '2', '--min-score', '0']);
    const photo = rows(db)[0].path;
    assert.equal(labelsOf(db, photo).length, 2);
    const more = await run(['tag', dir, '--model', model, '--top-k', '7', '--min-score', '0']);
    assert.match(more.stderr, /Tagged 0, skipped 3 unchanged, tags of 3 derived again/);
    assert.equal(labelsOf(db, photo).length, 7);
    const categories = join(dir, 'mine.json');
    writeFileSync(categories, JSON.stringify({ fallback: { en: 'other', zh: '其他' }, categories: [{ en: 'low', zh: '低', classes: ['0-499'] }] }));
    const mapped = await run(['tag', dir, '--model', model, '--top-k', '7', '--min-score', '0', '--labels', categories]);
    assert.match(mapped.stderr, /tags of 3 derived again/);
    const tooMany = await run(['tag', dir, '--model', model, '--top-k', '60']);
    assert.equal(tooMany.code, 2);
    assert.match(tooMany.stderr, /--top-k is at most 50/);
    writeFileSync(join(dir, 'IMG 0000.jpg'), await testPhoto(99, 320, 240));
    assert.match((await run(['tag', dir, '--model', model, '--top-k', '7', '--min-score', '0', '--labels', categories])).stderr, /Tagged 1, skipped 2 unchanged/);
    const other = (await writeRandomCheckpoint('resnet18', 78)).path;
    const switched = (await run(['tag', dir, '--model', other])).stderr;
    assert.match(switched, /Tagged 3, skipped 0 unchanged/);
    // Often a forgotten --model: said first.
    assert.match(switched, /The library was tagged with \S+ \(sha256 [0-9a-f]{12}\); this run uses \S+ \(sha256 [0-9a-f]{12}\), so each photo is classified again \(to keep the library's model, stop now and give that model with --model\)/);
    // The other precision is another model's answers: classified again, then unchanged in it.
    const int8 = (await run(['tag', dir, '--model', other, '--precision', 'int8'])).stderr;
    assert.match(int8, /Tagged 3, skipped 0 unchanged/);
    assert.match(int8, /The library was tagged with \S+ in fp32; this run uses int8, calibrated on the built-in photos, so each photo is classified again \(to keep the library's model, stop now and give --precision fp32\)/);
    const exported = (await run(['export', '--library', dir, '--format', 'jsonl'])).stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(exported.every((e) => /^[0-9a-f]{64}$/.test(e.modelSha256) && e.precision === 'int8'), 'the weights\' SHA-256 and the precision apart');
    const same = (await run(['tag', dir, '--model', other, '--precision', 'int8'])).stderr;
    assert.match(same, /Tagged 0, skipped 3 unchanged/);
    assert.doesNotMatch(same, /The library was tagged with/);
    // Without --model (or --precision), tag keeps the library's model and precision rather than classifying it all again with resnet18.
    const kept = await run(['tag', dir]);
    assert.equal(kept.code, 0, kept.stderr);
    assert.match(kept.stderr, /Tagging with the model the library was tagged with: .*\.pth \(int8, calibrated on the built-in photos\)/);
    assert.match(kept.stderr, /Tagged 0, skipped 3 unchanged/);
    // A photo from outside the library is compared in the precision the library was tagged in.
    const outside = join(await scratchDir('rs-outside-'), 'new.jpg');
    writeFileSync(outside, await testPhoto(98, 320, 240));
    const like = await run(['search', '--like', outside, '--library', dir, '--model', other, '--precision', 'int8']);
    assert.equal(like.code, 0, like.stderr);
    assert.equal(like.stdout.trim().split('\n').length, rows(db).length, like.stdout);
    const fp32 = await run(['search', '--like', outside, '--library', dir, '--model', other]);
    assert.equal(fp32.code, 2);
    assert.match(fp32.stderr, /tagged with .* in int8, calibrated on the built-in photos; this run uses fp32: give --precision int8 to compare a new photo with it/);
    // Without --model: the model tag ran with, where it was read, in its precision.
    const remembered = await run(['search', '--like', outside, '--library', dir]);
    assert.equal(remembered.code, 0, remembered.stderr);
    assert.equal(remembered.stdout, like.stdout);
    assert.match(remembered.stderr, /Comparing with the model the library was tagged with: .*\.pth \(int8, calibrated on the built-in photos\)/);
    renameSync(other, `${other}.moved`);
    try {
      const gone = await run(['search', '--like', outside, '--library', dir]);
      assert.equal(gone.code, 2);
      assert.match(gone.stderr, /read from .*\.pth, which is no longer there: give that model with --model/);
      const tagGone = await run(['tag', dir]);
      assert.equal(tagGone.code, 2);
      assert.match(tagGone.stderr, /read from .*\.pth, which is no longer there: give that model with --model to keep it, or --model resnet18 to classify every photo again with that\n/);
      assert.doesNotMatch(tagGone.stderr, /Tagged/);
    } finally {
      renameSync(`${other}.moved`, other);
    }
    // Another calibration gives other answers too: classified again, and without --calibrate a later run keeps the library's.
    const calibration = await scratchDir('rs-calibration-');
    for (let i = 0; i < 3; i++) writeFileSync(join(calibration, `cal ${i}.jpg`), await testPhoto(70 + i, 320, 240));
    const recalibrated = await run(['tag', dir, '--model', other, '--precision', 'int8', '--calibrate', calibration]);
    assert.equal(recalibrated.code, 0, recalibrated.stderr);
    assert.match(recalibrated.stderr, /Tagged 3, skipped 0 unchanged/);
    assert.match(recalibrated.stderr, /The library was tagged with \S+ in int8, calibrated on the built-in photos; this run uses int8, calibrated on \S*rs-calibration-\S*, so each photo is classified again \(to keep the library's model, stop now and give --precision int8 without --calibrate \(the built-in photos\)\)/);
    writeFileSync(join(dir, 'IMG later.jpg'), await testPhoto(97, 320, 240));
    const followed = await run(['tag', dir]);
    assert.equal(followed.code, 0, followed.stderr);
    assert.match(followed.stderr, /Tagging with the model the library was tagged with: .*\.pth \(int8, calibrated on \S*rs-calibration-\S*\)/);
    assert.match(followed.stderr, /Tagged 1, skipped 3 unchanged/);
    const keys = new Set(rows(db).map((r) => r.model_sha256));
    assert.equal(keys.size, 1, `one model key for every photo: ${[...keys].join(', ')}`);
    assert.match([...keys][0] as string, /^[0-9a-f]{64}\+int8:[0-9a-f]{16}$/);
    // A photo from outside compared under another calibration would find look-alikes a little off: refused, saying what to give.
    const otherCalibration = await run(['search', '--like', outside, '--library', dir, '--model', other, '--precision', 'int8']);
    assert.equal(otherCalibration.code, 2, otherCalibration.stderr);
    assert.match(otherCalibration.stderr, /tagged with \S+ in int8, calibrated on \S*rs-calibration-\S*; this run uses int8, calibrated on the built-in photos: give --precision int8 --calibrate \S*rs-calibration-\S* to compare a new photo with it/);
    const sameCalibration = await run(['search', '--like', outside, '--library', dir]);
    assert.equal(sameCalibration.code, 0, sameCalibration.stderr);
    // The same folder with other photos is another calibration too: classified again, saying why.
    writeFileSync(join(calibration, 'cal 9.jpg'), await testPhoto(79, 320, 240));
    const changed = await run(['tag', dir]);
    assert.equal(changed.code, 0, changed.stderr);
    assert.match(changed.stderr, /this run uses int8, calibrated on \S*rs-calibration-\S* \(the same folder, whose photos or quantisation changed since\), so each photo is classified again\.\n/);
    renameSync(calibration, `${calibration}.moved`);
    const calibrationGone = await run(['tag', dir]);
    assert.equal(calibrationGone.code, 2);
    assert.match(calibrationGone.stderr, /calibrated on \S*rs-calibration-\S*, which is no longer there: give --precision int8 --calibrate DIR with a folder of photos like the library's \(its photos are then classified again\), or --precision fp32/);
    const searchGone = await run(['search', '--like', outside, '--library', dir]);
    assert.equal(searchGone.code, 2);
    assert.match(searchGone.stderr, /which is no longer there: tag the library again/);
  });

  test('a library tagged with a model quantised already (MobileNetV2 int8): a photo from outside is compared without naming it again', { skip: skipWithoutDatasets }, async () => {
    const dir = await scratchDir('rs-lib-int8-');
    for (let i = 0; i < 3; i++) writeFileSync(join(dir, `IMG ${i}.jpg`), await testPhoto(40 + i, 320, 240));
    const tagged = await run(['tag', dir, '--model', PRETRAINED_ONNX]);
    assert.equal(tagged.code, 0, tagged.stderr);
    const outside = join(await scratchDir('rs-outside-'), 'new.jpg');
    writeFileSync(outside, readFileSync(join(dir, 'IMG 0.jpg')));
    // Before, the remembered model was asked for with --precision int8 and refused as "already quantised".
    const remembered = await run(['search', '--like', outside, '--library', dir, '--json']);
    assert.equal(remembered.code, 0, remembered.stderr);
    assert.match(remembered.stderr, /Comparing with the model the library was tagged with: .*mobilenetv2-12-int8\.onnx \(int8\)/);
    const hits = remembered.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(hits.length, 3);
    assert.ok(hits[0].path.endsWith('IMG 0.jpg') && hits[0].similarity > 0.99, remembered.stdout);
    for (const extra of [[], ['--precision', 'int8']]) {
      const named = await run(['search', '--like', outside, '--library', dir, '--model', PRETRAINED_ONNX, ...extra, '--json']);
      assert.equal(named.code, 0, named.stderr);
      assert.equal(named.stdout, remembered.stdout, extra.join(' '));
    }
  });

  test('Ctrl-C while the model is made ready (quantised to int8): the stop is said and no index is left behind', async () => {
    const dir = await library(3);
    const { endedBy, stderr } = await interruptWhileQuantising(BIN, ['tag', dir], env, 81);
    assert.equal(endedBy, 'SIGINT', stderr);
    assert.match(stderr, /Stopped \(SIGINT\) while the model was being made ready: no photo was tagged\./);
    assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith('.')), [], 'no .resnet-serve folder, no index files');
  });

  test('killed with SIGKILL mid-run, then rerun: every file tagged exactly once, index intact', async () => {
    const dir = await library(60);
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    const child = spawn(process.execPath, [BIN, 'tag', dir, '--model', model], { env, stdio: 'ignore' });
    const started = Date.now();
    const tagged = (): number => (existsSync(db) ? (() => { try { return rows(db).length; } catch { return 0; } })() : 0);
    while (Date.now() - started < 60_000 && tagged() < 12) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const partial = rows(db).length;
    assert.ok(partial > 0 && partial < 60, `killed after ${partial} files`);
    const rerun = await run(['tag', dir, '--model', model]);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, new RegExp(`Tagged ${60 - partial}, skipped ${partial} unchanged`));
    const all = rows(db);
    assert.equal(all.length, 60);
    assert.equal(new Set(all.map((r) => r.path)).size, 60);
    const d = new Database(db, { readonly: true });
    assert.equal(d.pragma('integrity_check', { simple: true }), 'ok');
    d.close();
  });

  test('a read-only library without --db: the index goes to the cache folder, search finds it with --library, and no sidecar is written (root too)', async () => {
    const dir = await library(2);
    const before = readdirSync(dir).sort();
    chmodSync(dir, 0o555);
    try {
      // Root passes every permission check: the folder's mode is what says read-only.
      const r = await run(['tag', dir, '--model', model]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /is read-only: the index is kept in .*libraries/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.ok(!existsSync(join(dir, '.resnet-serve')));
      const found = await run(['export', '--library', dir, '--format', 'jsonl']);
      assert.equal(found.stdout.trim().split('\n').length, 2, found.stderr);
      const xmp = await run(['tag', dir, '--model', model, '--xmp']);
      assert.equal(xmp.code, 1, xmp.stderr);
      assert.match(xmp.stderr, /failed: .*IMG 0000\.jpg\.xmp: cannot write it \(its folder is read-only\)/);
      assert.deepEqual(readdirSync(dir).sort(), before, 'nothing was written into the folder');
    } finally {
      chmodSync(dir, 0o777);
    }
  });
});

describe('resnet-serve tag --xmp', () => {
  test('sidecars: written with digiKam tags, rewritten when --lang changes (without the model), failures reported under the .xmp and retried, broken sidecars left alone; originals untouched', async () => {
    const dir = await library(3);
    const photo = join(dir, 'IMG 0000.jpg');
    const original = { bytes: readFileSync(photo), mtime: statSync(photo).mtimeMs };
    writeFileSync(join(dir, 'IMG 0000.png'), await testPhoto(50, 320, 240, 'png'));
    // A folder where the sidecar should go: writing it fails.
    mkdirSync(join(dir, 'Holiday 2024', 'IMG 0001.jpg.xmp'));
    // A sidecar that is not XML.
    writeFileSync(join(dir, 'IMG 0003.jpg.xmp'), '<x:xmpmeta><rdf:RDF>');
    writeFileSync(join(dir, 'IMG 0003.jpg'), await testPhoto(60, 320, 240));
    const first = await run(['tag', dir, '--model', model, '--xmp', '--lang', 'en']);
    assert.equal(first.code, 1);
    assert.match(first.stderr, /failed: .*IMG 0001\.jpg\.xmp: cannot (read|write) it/);
    assert.match(first.stderr, /failed: .*IMG 0003\.jpg\.xmp: not well-formed XMP .*left as it is/);
    assert.doesNotMatch(first.stderr, /\[xmldom/);
    assert.equal(readFileSync(join(dir, 'IMG 0003.jpg.xmp'), 'utf8'), '<x:xmpmeta><rdf:RDF>');
    const xmp = readFileSync(`${photo}.xmp`, 'utf8');
    assert.match(xmp, /<digiKam:TagsList>/);
    assert.match(xmp, /<rdf:li>resnet-serve\|[^<|]+\|[^<]+<\/rdf:li>/);
    assert.doesNotMatch(xmp, /[\u4e00-\u9fff]/u);
    assert.ok(existsSync(join(dir, 'IMG 0000.png.xmp')));

    rmSync(join(dir, 'Holiday 2024', 'IMG 0001.jpg.xmp'), { recursive: true });
    const second = await run(['tag', dir, '--model', model, '--xmp', '--lang', 'both']);
    assert.match(second.stderr, /Tagged 0, skipped 5 unchanged, 4 sidecars written/);
    assert.match(readFileSync(`${photo}.xmp`, 'utf8'), /[\u4e00-\u9fff]/u);
    assert.ok(existsSync(join(dir, 'Holiday 2024', 'IMG 0001.jpg.xmp')));
    const third = await run(['tag', dir, '--model', model, '--xmp', '--lang', 'both']);
    assert.match(third.stderr, /Tagged 0, skipped 5 unchanged, 0 not images, 1 failed/);

    // --xmp-name replace: IMG 0000.jpg and IMG 0000.png keep their own sidecars; a new photo gets the short name.
    writeFileSync(join(dir, 'IMG 0009.jpg'), await testPhoto(70, 320, 240));
    const replaced = await run(['tag', dir, '--model', model, '--xmp', '--xmp-name', 'replace', '--db', join(dir, 'other.sqlite')]);
    assert.ok(!existsSync(join(dir, 'IMG 0000.xmp')), 'no shared IMG 0000.xmp');
    assert.ok(existsSync(join(dir, 'IMG 0009.xmp')));
    assert.ok(!existsSync(join(dir, 'Holiday 2024', '北京 trip', 'IMG 0002.xmp')), 'its existing long-named sidecar is used');
    assert.ok(!existsSync(join(dir, 'Holiday 2024', 'IMG 0001.xmp')), 'its existing long-named sidecar is used');
    assert.equal(replaced.code, 1);
    assert.deepEqual(readFileSync(photo), original.bytes);
    assert.equal(statSync(photo).mtimeMs, original.mtime);
  });
});

describe('resnet-serve search, export, dupes', () => {
  let dir: string;
  let db: string;
  before(async () => {
    dir = await library(9);
    db = join(dir, '.resnet-serve', 'tags.sqlite');
    await run(['tag', dir, '--model', model, '--min-score', '0']);
  });

  test('search shows the tags that matched, says how many there are, and refuses what would match everything', async () => {
    const label = labelsOf(db, rows(db)[0].path)[0];
    const word = label.split(' ').pop() as string;
    const r = await run(['search', word, '--db', db, '--limit', '1']);
    assert.equal(r.code, 0, r.stderr);
    const [line] = r.stdout.trim().split('\n');
    assert.match(line, /^\d\.\d{3}  \S.* (<0\.1|\d+(\.\d)?)%/);
    assert.match(r.stderr, /^(1 of \d+ photos|1 photo) matching/m);
    // The same class named in English and in Chinese is shown once.
    const d = new Database(db, { readonly: true });
    const { label_zh: zh } = d.prepare('SELECT label_zh FROM tags WHERE label_en = ? LIMIT 1').get(label) as { label_zh: string };
    d.close();
    const mixed = await run(['search', word, zh, '--db', db, '--json']);
    assert.equal(mixed.code, 0, mixed.stderr);
    const hits = mixed.stdout.trim().split('\n').map((l) => JSON.parse(l) as { matched: { index: number; en: string }[] });
    assert.ok(hits.some((h) => h.matched.some((m) => m.en === label)), mixed.stdout);
    for (const h of hits) assert.equal(new Set(h.matched.map((m) => m.index)).size, h.matched.length, JSON.stringify(h.matched));
    // Two words for the same classes are asked once: no more tags than for one of them.
    const [en, zhWord] = await Promise.all([run(['search', 'dog', '--db', db, '--json']), run(['search', 'dog', '狗', '--db', db, '--json'])]);
    assert.equal(zhWord.stdout.replace(/"term":"[^"]*"/g, ''), en.stdout.replace(/"term":"[^"]*"/g, ''));
    for (const bad of ['%', '_', '', 'a', '  ']) {
      const refused = await run(['search', bad, '--db', db]);
      assert.equal(refused.code, 2, `search ${JSON.stringify(bad)}: ${refused.stderr}`);
      assert.match(refused.stderr, /only punctuation|too short|at least one word/);
    }
    const nothing = await run(['search', 'zzxqv', '--db', db]);
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr, /No photo can match "zzxqv"/);
    assert.doesNotMatch(nothing.stderr, /Did you mean/);
    const typo = await run(['search', 'retreiver', '--db', db]);
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /No photo can match "retreiver": .* Did you mean "retriever"\?/);
    // Like grep: 1 when no photo matches a word that could match.
    const empty = await library(0);
    assert.equal((await run(['tag', empty, '--model', model])).code, 0);
    const none = await run(['search', 'dog', '--library', empty]);
    assert.equal(none.code, 1, none.stderr);
    assert.match(none.stderr, /No photos match "dog"/);
  });

  test('read from one of its folders, a library tagged at its top is found (and said); a folder that is not there is named', async () => {
    const sub = join(dir, 'Holiday 2024');
    const whole = await run(['export', '--library', dir, '--format', 'jsonl']);
    const fromSub = await run(['export', '--library', sub, '--format', 'jsonl']);
    assert.equal(fromSub.code, 0, fromSub.stderr);
    assert.equal(fromSub.stdout, whole.stdout, 'the same index');
    assert.match(fromSub.stderr, /Holiday 2024 has no index of its own; reading that of .*rs-lib-[^/]*, which holds its photos/);
    assert.ok(!existsSync(join(sub, '.resnet-serve')), 'nothing made in the folder');
    const missing = await run(['search', 'dog', '--library', join(dir, 'Holidya 2024')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /No folder .*Holidya 2024: give the folder of a tagged photo library with --library/);
  });

  test('a missing or wrong index is an error, and no file is created', async () => {
    const missing = join(dir, 'nope.sqlite');
    const r = await run(['search', 'dog', '--db', missing]);
    assert.equal(r.code, 2, 'an error, not "nothing matched"');
    assert.match(r.stderr, /No photo index at .*nope\.sqlite.*resnet-serve tag/);
    assert.ok(!existsSync(missing));
    const wrong = join(dir, 'readme.txt');
    writeFileSync(wrong, 'not a database');
    const unreadable = await run(['search', 'dog', '--db', wrong]);
    assert.equal(unreadable.code, 2);
    assert.match(unreadable.stderr, /(cannot be read as a photo index|not a resnet-serve photo index).*: give the index resnet-serve tag wrote/);
    assert.doesNotMatch(unreadable.stderr, /Tag the photos first/, 'a wrong file is not a library to tag');
    const noPhoto = await run(['search', '--like', join(dir, 'no-such.jpg'), '--db', db]);
    assert.equal(noPhoto.code, 2, noPhoto.stderr);
  });

  test('a damaged index (a disk fault, a copy cut short) is one line with INDEX_DAMAGED and what to do, never a stack trace; search exits 2, not "nothing matched"', async () => {
    const damaged = join(await scratchDir('rs-damaged-'), 'tags.sqlite');
    const bytes = readFileSync(db);
    // The schema page stays; every page after it is garbage.
    bytes.fill(0x55, 4096);
    writeFileSync(damaged, bytes);
    for (const [args, code] of [
      [['search', 'dog', '--db', damaged], 2],
      [['export', '--db', damaged], 1],
      [['dupes', '--db', damaged], 1],
    ] as const) {
      const r = await run([...args]);
      assert.equal(r.code, code, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /^resnet-serve: error INDEX_DAMAGED: The photo index is damaged \(.*\): delete (\S+) and tag the library again/m, args[0]);
      assert.ok(r.stderr.includes(`delete ${damaged} and tag`), `${args[0]} names the file: ${r.stderr}`);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${args[0]}: no stack trace`);
      assert.equal(r.stdout, '', `${args[0]}: nothing half-written on stdout`);
    }
  });

  test('tag refuses a folder that is not there (nothing created) and a file, each in one line', async () => {
    const typo = join(dir, 'holidya');
    const missing = await run(['tag', typo, '--model', model]);
    assert.equal(missing.code, 1, missing.stderr);
    assert.equal(missing.stderr, `resnet-serve: error NOT_FOUND: tag: there is no folder ${typo}\n`);
    assert.ok(!existsSync(typo), 'the mistyped folder is not created');
    const file = await run(['tag', join(dir, 'IMG 0000.jpg'), '--model', model]);
    assert.equal(file.code, 2, file.stderr);
    assert.match(file.stderr, /tag takes folders of photos; .*IMG 0000\.jpg is a file \(resnet-serve classify/);
    const slashed = await run(['tag', `${join(dir, 'IMG 0000.jpg')}/`, '--model', model]);
    assert.equal(slashed.code, 2, slashed.stderr);
    assert.match(slashed.stderr, /IMG 0000\.jpg\/ is a file/);
    // Each job is a decoding thread: thousands of them would only exhaust memory.
    const jobs = await run(['tag', dir, '--model', model, '--jobs', '100000']);
    assert.equal(jobs.code, 2, jobs.stderr);
    assert.match(jobs.stderr, /--jobs is at most \d+ here \(4 per CPU\), got 100000/);
    for (const bad of ['', '0x1']) assert.match((await run(['tag', dir, '--model', model, '--min-score', bad])).stderr, /--min-score must be a probability from 0 to 1/);
  });

  test('tag --db where no index can be: one line, exit 1 (exit 2 for a file that is no database), and the file there untouched', async () => {
    const photo = join(dir, 'IMG 0000.jpg');
    const before = readFileSync(photo);
    // A photo given as the index is a wrong argument, refused as another program's file is.
    const mistaken = await run(['tag', dir, '--model', model, '--db', photo]);
    assert.equal(mistaken.code, 2, mistaken.stderr);
    assert.match(mistaken.stderr, /^resnet-serve: .*IMG 0000\.jpg is not a resnet-serve photo index \(nor any SQLite database\); it is left as it is: give the index another file with --db FILE\n$/);
    const places: [string, RegExp][] = [[join(photo, 'tags.sqlite'), /unable to open database file|ENOTDIR/]];
    if (existsSync('/proc/self')) places.push(['/proc/resnet-serve-index/tags.sqlite', /ENOENT/]);
    for (const [db, why] of places) {
      const r = await run(['tag', dir, '--model', model, '--db', db]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^resnet-serve: error IO_ERROR: Cannot use .+ as the photo index \\(${why.source}\\); give a writable place for it with --db FILE\\n$`));
    }
    assert.deepEqual(readFileSync(photo), before);
  });

  test('Ctrl-C keeps what was tagged and says how to go on: the same command, or for --retag that it starts over', async () => {
    const lib = await library(60);
    const db = join(lib, '.resnet-serve', 'tags.sqlite');
    const interrupted = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
      new Promise((resolve) => {
        const tagger = spawn(process.execPath, [BIN, 'tag', lib, '--model', model, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        // The first progress line: the model is at work, with most photos still to go.
        tagger.stderr.on('data', (c: Buffer) => {
          if (!stderr) tagger.kill('SIGINT');
          stderr += c;
        });
        tagger.on('close', (code) => resolve({ code, stderr }));
      });
    const first = await interrupted([]);
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stderr, /Stopped \(SIGINT\): the photos tagged so far are kept; run the same command again to go on from there\.\n$/);
    const kept = rows(db).length;
    assert.ok(kept > 0 && kept < 60, `${kept} photos kept`);
    const rest = await run(['tag', lib, '--model', model]);
    assert.match(rest.stderr, new RegExp(`Tagged ${60 - kept}, skipped ${kept} unchanged`));
    const retag = await interrupted(['--retag']);
    assert.equal(retag.code, 130, retag.stderr);
    assert.match(retag.stderr, /kept; --retag starts over when run again \(without it, the photos not yet tagged again keep their earlier tags\)\.\n$/);
  });

  test('a run whose messages are no longer read (2>&1 | head -1) still tags every photo and exits 0', async () => {
    const lib = await library(6);
    const db = join(lib, '.resnet-serve', 'tags.sqlite');
    const code = await new Promise<number | null>((resolve) => {
      const tagger = spawn(process.execPath, [BIN, 'tag', lib, '--model', model], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      // `head -1`: read the first line, then close the pipe.
      tagger.stderr.once('data', () => tagger.stderr.destroy());
      tagger.on('close', (c) => resolve(c));
    });
    assert.equal(code, 0);
    assert.equal(rows(db).length, 6);
  });

  test('export through a slow pipe gets every byte (backpressure), as CSV, JSON and JSON lines', async () => {
    // A large index: rows copied in SQL so the export is far above a pipe's 64 KiB.
    const big = join(dir, 'big.sqlite');
    const d = new Database(db);
    d.exec(`VACUUM INTO '${big}'`);
    d.close();
    const b = new Database(big);
    b.exec('PRAGMA foreign_keys = ON');
    const original = b.prepare('SELECT * FROM files').all() as Record<string, unknown>[];
    const insert = b.prepare('INSERT INTO files (path, size, mtime_ms, sha256, model, model_sha256, width, height, tagged_at, tags_key, top_class) VALUES (?,?,?,?,?,?,?,?,?,?,?)');
    const copyTags = b.prepare('INSERT INTO tags (file_id, kind, class_index, label_en, label_zh, score) SELECT ?, kind, class_index, label_en, label_zh, score FROM tags WHERE file_id = ?');
    b.transaction(() => {
      for (let i = 0; i < 3000; i++) {
        const f = original[i % original.length];
        const id = insert.run(`${f.path}-copy-${i}`, f.size, f.mtime_ms, f.sha256, f.model, f.model_sha256, f.width, f.height, f.tagged_at, f.tags_key, f.top_class).lastInsertRowid;
        copyTags.run(id, f.id);
      }
    })();
    b.close();
    for (const format of ['jsonl', 'csv', 'json']) {
      // `| gzip` that starts reading a second late: the pipe fills, and the exporter must wait for it.
      const text = await new Promise<string>((resolve, reject) => {
        const exporter = spawn(process.execPath, [BIN, 'export', '--format', format, '--db', big], { env });
        const gzip = spawn('sh', ['-c', 'sleep 1; gzip -c']);
        exporter.stdout.pipe(gzip.stdin);
        const chunks: Buffer[] = [];
        gzip.stdout.on('data', (c: Buffer) => chunks.push(c));
        gzip.on('close', (code) => (code === 0 ? resolve(gunzipSync(Buffer.concat(chunks)).toString()) : reject(new Error(`gzip ${code}`))));
      });
      assert.ok(Buffer.byteLength(text) > 256 * 1024, `${format}: ${Buffer.byteLength(text)} bytes`);
      if (format === 'jsonl') assert.equal(text.trim().split('\n').length, 3009);
      if (format === 'json') assert.equal(JSON.parse(text).length, 3009);
      if (format === 'csv') assert.ok(text.endsWith('\n') && text.trim().split('\n').length > 3009);
    }
    // A reader slower than the exporter, pausing after every chunk: the exporter waits each time and says nothing
    // (no MaxListenersExceededWarning from listeners piling up on stdout).
    const slow = await new Promise<{ bytes: number; stderr: string }>((resolve) => {
      const exporter = spawn(process.execPath, [BIN, 'export', '--format', 'jsonl', '--db', big], { env });
      let bytes = 0;
      let stderr = '';
      exporter.stderr.on('data', (c: Buffer) => (stderr += c));
      exporter.stdout.on('data', (c: Buffer) => {
        bytes += c.length;
        exporter.stdout.pause();
        setTimeout(() => exporter.stdout.resume(), 5);
      });
      exporter.on('close', () => resolve({ bytes, stderr }));
    });
    assert.equal(slow.stderr, '');
    assert.ok(slow.bytes > 256 * 1024);
  });

  test('dupes groups exact copies and never deletes; search --like ranks the photo\'s own copy first, and a photo from outside is embedded with the library\'s model', async () => {
    writeFileSync(join(dir, 'copy.jpg'), readFileSync(join(dir, 'IMG 0000.jpg')));
    await run(['tag', dir, '--model', model]);
    const r = await run(['dupes', '--db', db]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Group 1: 2 photos, exact duplicates \(same bytes\)\n {2}.*(IMG 0000|copy)\.jpg {2}320×240\n {2}.*(IMG 0000|copy)\.jpg/);
    assert.match(r.stderr, /nothing was deleted/);
    assert.ok(existsSync(join(dir, 'copy.jpg')));
    const like = await run(['search', '--like', join(dir, 'IMG 0000.jpg'), '--db', db, '--json']);
    assert.equal(like.code, 0, like.stderr);
    const first = JSON.parse(like.stdout.split('\n')[0]);
    assert.ok(first.path.endsWith('copy.jpg'));
    assert.ok(first.similarity > 0.99);
    assert.deepEqual(first.labels.map((l: { en: string }) => l.en), labelsOf(db, realpathSync(join(dir, 'copy.jpg'))).slice(0, 2));
    // As text: each look-alike with what it was tagged as, and a line saying what the list is.
    const text = await run(['search', '--like', join(dir, 'IMG 0000.jpg'), '--db', db, '--limit', '2']);
    const [top] = labelsOf(db, realpathSync(join(dir, 'copy.jpg')));
    assert.match(text.stdout.split('\n')[0], new RegExp(`^\\d\\.\\d{3}  .*copy\\.jpg  ${top.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\d+(\\.\\d)?%`));
    assert.match(text.stderr, /2 photos most like .*IMG 0000\.jpg, by the look the model sees \(1 is the same\) \(--limit N for more\)\.\n/);
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.jpg')).length, 4);
    assert.ok(statSync(join(dir, 'copy.jpg')).size > 0);
    // A photo from outside the library is embedded with the library's model: without --model, the one tag read (never
    // another fetched), said on stderr.
    const outside = join(await scratchDir('rs-outside-'), 'new.jpg');
    writeFileSync(outside, readFileSync(join(dir, 'IMG 0000.jpg')));
    const named = await run(['search', '--like', outside, '--db', db, '--model', model, '--json']);
    assert.equal(named.code, 0, named.stderr);
    assert.ok(JSON.parse(named.stdout.split('\n')[0]).similarity > 0.99);
    const unnamed = await run(['search', '--like', outside, '--db', db, '--json']);
    assert.equal(unnamed.code, 0, unnamed.stderr);
    assert.equal(unnamed.stdout, named.stdout);
    assert.equal(unnamed.stderr, `Comparing with the model the library was tagged with: ${model}\n`);
    // A smaller copy joins the two as near duplicates: the exact pair inside the group is still said, and the similarity is not rounded up to 100%.
    writeFileSync(join(dir, 'smaller.jpg'), await sharp(readFileSync(join(dir, 'IMG 0000.jpg'))).resize(240).jpeg({ quality: 70 }).toBuffer());
    await run(['tag', dir, '--model', model]);
    const mixed = await run(['dupes', '--db', db]);
    assert.match(mixed.stdout, /Group 1: 3 photos, near duplicates \(pictures (\d\d\.\d)% alike\)\n/);
    assert.notEqual(/near duplicates \(pictures (\d+\.\d)% alike\)/.exec(mixed.stdout)?.[1], '100.0');
    assert.match(mixed.stdout, /(IMG 0000|copy)\.jpg {2}320×240 {2}\(same bytes as .*(IMG 0000|copy)\.jpg\)\n/);
    assert.match(mixed.stdout, /smaller\.jpg {2}240×180\n/);
  });

  test('serve --library without --model answers with the model the library was tagged with, and says so', async () => {
    const { child, url, stderr } = await startServe(BIN, ['--port', '0', '--library', dir, '--workers', '1'], env);
    try {
      assert.match(stderr(), /Serving with the model the library was tagged with: .*\.pth/);
      const d = new Database(db, { readonly: true });
      const tagged = (d.prepare("SELECT value FROM meta WHERE key = 'model_sha256'").get() as { value: string }).value;
      d.close();
      const served = (await (await fetch(`${url}/v1/models`)).json()) as { models: { sha256: string }[] };
      assert.ok(tagged.startsWith(served.models[0].sha256), `${tagged} against ${JSON.stringify(served)}`);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  test('a photo moved since tagging: search shows it marked and says to tag again; --like still finds by it', async () => {
    const old = join(dir, 'Holiday 2024', 'IMG 0004.jpg');
    const label = labelsOf(db, realpathSync(old))[0];
    const away = join(dir, 'Holiday 2024', 'moved away.jpg');
    renameSync(old, away);
    try {
      const found = await run(['search', label.split(' ').pop() as string, '--db', db, '--limit', '100', '--json']);
      assert.equal(found.code, 0, found.stderr);
      const hit = found.stdout.trim().split('\n').map((l) => JSON.parse(l)).find((h) => h.path.endsWith('IMG 0004.jpg'));
      assert.equal(hit?.missing, true, found.stdout);
      assert.match(found.stderr, /1 photo shown is no longer where it was tagged: run tag on the library again/);
      const like = await run(['search', '--like', old, '--db', db]);
      assert.equal(like.code, 0, like.stderr);
      assert.match(like.stderr, /IMG 0004\.jpg is no longer there; the look it had when tagged is used/);
      assert.ok(like.stdout.trim().length > 0);
    } finally {
      renameSync(away, old);
    }
  });

  test('a model without an embedding: tag says that look-alikes and duplicates will find nothing, and search --like says why', async () => {
    const dir = await library(2);
    const flat = join(await scratchDir('rs-flat-'), 'conv-head.onnx');
    writeFileSync(flat, convClassifierOnnx(1000));
    const db = join(dir, 'flat.sqlite');
    const tagged = await run(['tag', dir, '--model', flat, '--db', db]);
    assert.equal(tagged.code, 0, tagged.stderr);
    assert.match(tagged.stderr, /No embeddings were stored, so search --like and dupes will find nothing: its output does not come from a final Gemm or MatMul layer/);
    const like = await run(['search', '--like', join(dir, readdirSync(dir).find((f) => f.endsWith('.jpg')) as string), '--db', db]);
    assert.notEqual(like.code, 0);
    assert.match(like.stderr, /The index has no embeddings: its photos were tagged with a model that has none \(tag says why\)/);
  });
});
