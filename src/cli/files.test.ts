/** Which files of a folder `classify` takes: by name or, as `tag` does, by first bytes; broken links said, empty folders heard of. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { testPhoto } from '../testing/fixtures.js';
import { scratchDir } from '../testing/scratch.js';
import { expandPaths } from './files.js';

test('a folder gives its photos by name or by content, the links it cannot follow as errors, and nothing else', async () => {
  const dir = await scratchDir('rs-files-');
  const jpeg = await testPhoto(1, 64, 48);
  writeFileSync(join(dir, 'a.jpg'), jpeg);
  writeFileSync(join(dir, 'noext'), jpeg);
  writeFileSync(join(dir, 'd.jfif'), jpeg);
  writeFileSync(join(dir, 'B.Jpg'), jpeg);
  writeFileSync(join(dir, 'notes.txt'), 'a shopping list');
  writeFileSync(join(dir, 'fake.jpg'), 'not a photo, named as one');
  writeFileSync(join(dir, '.hidden.jpg'), jpeg);
  symlinkSync(join(dir, 'gone.jpg'), join(dir, 'broken.jpg'));
  symlinkSync(join(dir, 'gone.txt'), join(dir, 'broken.txt'));
  symlinkSync(join(dir, 'a.jpg'), join(dir, 'link.jpg'));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'c.png'), await testPhoto(2, 32, 32, 'png'));
  // A Synology NAS's thumbnails of each photo, and a recycle bin: nobody's photos.
  mkdirSync(join(dir, 'sub', '@eaDir', 'c.png'), { recursive: true });
  writeFileSync(join(dir, 'sub', '@eaDir', 'c.png', 'SYNOPHOTO_THUMB_M.jpg'), jpeg);
  mkdirSync(join(dir, '#recycle'));
  writeFileSync(join(dir, '#recycle', 'old.jpg'), jpeg);
  const empty = join(dir, 'sub', 'papers');
  mkdirSync(empty);
  writeFileSync(join(empty, 'readme.txt'), 'no photos here');

  const heard: string[] = [];
  const listed = await expandPaths([dir, empty], (folder) => heard.push(folder));
  const name = (p: string): string => p.slice(dir.length + 1);
  assert.deepEqual(
    listed.filter((l) => !('error' in l)).map((l) => name(l.path)),
    ['B.Jpg', 'a.jpg', 'd.jfif', 'fake.jpg', 'link.jpg', 'noext', 'sub/c.png'],
    'photos by name (any case) or by first bytes; a file named as a photo is tried and then reported by classify',
  );
  const errors = listed.filter((l): l is { path: string; error: string } => 'error' in l);
  assert.deepEqual(errors.map((e) => name(e.path)), ['broken.jpg'], 'a broken link named as a photo is said; one to a text file is not');
  assert.match(errors[0].error, /link to a file that cannot be read \(ENOENT\)/);
  assert.deepEqual(heard, [empty]);
});

test('a file reached twice (named twice, as a.jpg and ./a.jpg, or named and inside a folder given) is listed once, where it came first', async () => {
  const dir = await scratchDir('rs-files-twice-');
  mkdirSync(join(dir, 'photos'));
  writeFileSync(join(dir, 'photos', 'a.jpg'), await testPhoto(1, 32, 24));
  writeFileSync(join(dir, 'photos', 'b.jpg'), await testPhoto(2, 32, 24));
  const cwd = process.cwd();
  process.chdir(dir);
  try {
    const listed = await expandPaths(['photos/a.jpg', 'photos/a.jpg', './photos/a.jpg', join(dir, 'photos', 'a.jpg'), 'photos', './photos/b.jpg']);
    assert.deepEqual(listed.map((l) => l.path), ['photos/a.jpg', join('photos', 'b.jpg')]);
  } finally {
    process.chdir(cwd);
  }
});

test("a folder the command writes into (--explain's) is not walked into from a folder given, by any name", async () => {
  const dir = await scratchDir('rs-files-skip-');
  const jpeg = await testPhoto(3, 64, 48);
  writeFileSync(join(dir, 'a.jpg'), jpeg);
  mkdirSync(join(dir, 'maps'));
  writeFileSync(join(dir, 'maps', 'a.jpg.png'), await testPhoto(4, 32, 32, 'png'));
  mkdirSync(join(dir, 'more'));
  writeFileSync(join(dir, 'more', 'b.jpg'), jpeg);
  const names = async (skip: string[]): Promise<string[]> => (await expandPaths([dir], undefined, skip)).map((l) => l.path.slice(dir.length + 1));
  assert.deepEqual(await names([]), ['a.jpg', 'maps/a.jpg.png', 'more/b.jpg']);
  assert.deepEqual(await names([join(dir, 'maps')]), ['a.jpg', 'more/b.jpg']);
  // Named through a link or with `..`, it is the same folder.
  symlinkSync(join(dir, 'maps'), join(dir, '.maps-link'));
  assert.deepEqual(await names([join(dir, '.maps-link')]), ['a.jpg', 'more/b.jpg']);
  assert.deepEqual(await names([join(dir, 'more', '..', 'maps')]), ['a.jpg', 'more/b.jpg']);
  // Given itself as well (classify maps --explain maps), its heatmaps are passed by, and its photos are not; without
  // --explain writing there, they are read like any PNG.
  writeFileSync(join(dir, 'maps', 'scan.png'), await testPhoto(5, 32, 32, 'png'));
  assert.deepEqual((await expandPaths([join(dir, 'maps')], undefined, [join(dir, 'maps')])).map((l) => basename(l.path)), ['scan.png']);
  assert.deepEqual((await expandPaths([join(dir, 'maps')])).map((l) => basename(l.path)), ['a.jpg.png', 'scan.png']);
});

test('a folder reached twice (named twice, inside another given, through a link) is listed once and is not called empty', async () => {
  const dir = await scratchDir('rs-files-folder-twice-');
  mkdirSync(join(dir, 'photos', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'photos', 'a.jpg'), await testPhoto(1, 32, 24));
  writeFileSync(join(dir, 'photos', 'sub', 'b.jpg'), await testPhoto(2, 32, 24));
  symlinkSync(join(dir, 'photos'), join(dir, 'linked'));
  mkdirSync(join(dir, 'empty'));
  const heard: string[] = [];
  const listed = await expandPaths(
    [join(dir, 'photos'), join(dir, 'photos') + '/', join(dir, 'photos', 'sub'), join(dir, 'linked'), join(dir, 'linked', 'a.jpg'), join(dir, 'empty'), join(dir, 'empty')],
    (folder) => heard.push(folder),
  );
  assert.deepEqual(listed.map((l) => l.path.slice(dir.length + 1)), ['photos/a.jpg', 'photos/sub/b.jpg']);
  assert.deepEqual(heard, [join(dir, 'empty')], 'only the folder without photos is said to be empty, once');
});

test('a pipe named on the command line (process substitution, mkfifo) is refused at once with the way that works: -', { skip: existsSync('/usr/bin/mkfifo') ? false : 'needs mkfifo(1)' }, async () => {
  const dir = await scratchDir('rs-files-fifo-');
  const fifo = join(dir, 'photo.jpg');
  execFileSync('mkfifo', [fifo]);
  const [listed] = await expandPaths([fifo], undefined, [], 'embed');
  assert.deepEqual(listed, { path: fifo, code: 'IMAGE_UNSUPPORTED', error: 'Not a regular file (a pipe), so not a photo: pipe a photo in on standard input instead (… | resnet-serve embed -)' });
});
