/**
 * One library, one index: photos added to one of its folders join the
 * library's index, and an index left half on one model and half on another
 * (a run with a new model that was stopped) still finds exact duplicates and
 * says what is missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { scratchDir } from '../testing/scratch.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
let env: NodeJS.ProcessEnv;
let first: string;
let second: string;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 180_000 }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }));
  });
}

function query<T>(db: string, sql: string): T[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all() as T[];
  } finally {
    d.close();
  }
}

before(async () => {
  const root = await scratchDir('rs-folders-');
  env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: join(root, 'cache') };
  first = (await writeRandomCheckpoint('resnet18', 31)).path;
  second = (await writeRandomCheckpoint('resnet18', 32)).path;
});

describe('a folder of a tagged library', () => {
  test('tagged on its own, it goes into the library\'s index; with another model, exact copies are still found and the mix is said', async () => {
    const dir = await scratchDir('rs-lib-');
    const pets = join(dir, 'Pets');
    mkdirSync(pets);
    for (let i = 0; i < 4; i++) writeFileSync(join(i < 2 ? dir : pets, `IMG ${i}.jpg`), await testPhoto(40 + i, 320, 240));
    writeFileSync(join(pets, 'copy of IMG 0.jpg'), readFileSync(join(dir, 'IMG 0.jpg')));
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    assert.equal((await run(['tag', dir, '--model', first])).code, 0);

    writeFileSync(join(pets, 'new from phone.jpg'), await testPhoto(50, 320, 240));
    const added = await run(['tag', pets, '--model', first]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stderr, /Pets is a folder of the library tagged at .*rs-lib-[^/]*: its photos go into that library's index/);
    assert.match(added.stderr, /Tagged 1, skipped 3 unchanged/);
    assert.ok(!existsSync(join(pets, '.resnet-serve')), 'no second index');
    assert.equal(query<{ n: number }>(db, 'SELECT COUNT(*) AS n FROM files')[0].n, 6);
    const roots = JSON.parse(query<{ value: string }>(db, "SELECT value FROM meta WHERE key = 'roots'")[0].value) as string[];
    assert.equal(roots.length, 1, `the library's folder covers Pets: ${roots.join(', ')}`);

    // Pets again with another model, as a stopped run with it leaves the index: half on each model.
    assert.equal((await run(['tag', pets, '--model', second])).code, 0);
    const dupes = await run(['dupes', '--library', dir, '--json']);
    assert.equal(dupes.code, 0, dupes.stderr);
    const groups = dupes.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; photos: { path: string }[] });
    const exact = groups.find((g) => g.kind === 'exact');
    assert.ok(exact, `the copy across the two models is found: ${dupes.stdout}`);
    assert.deepEqual(exact.photos.map((p) => p.path.split('/').pop()).sort(), ['IMG 0.jpg', 'copy of IMG 0.jpg']);
    assert.match(dupes.stderr, /2 of 6 photos are still tagged with .*, not with .* like the last run \(was it stopped\?\)/);

    const like = await run(['search', '--like', join(dir, 'IMG 1.jpg'), '--library', dir]);
    assert.equal(like.code, 2, like.stderr);
    assert.match(like.stderr, /IMG 1\.jpg was tagged with resnet18 \(sha256 \w{12}\), not with resnet18 \(sha256 \w{12}\) like the index's last run \(was that run stopped\?\): run tag on the library again to finish/);
  });
});
