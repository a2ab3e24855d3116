/**
 * What a photo-library run must never lose or touch, end to end through the
 * CLI: photos in a folder it cannot read, another program's SQLite file, an
 * index where nothing can be written, temporary sidecars of a killed run,
 * sidecars other tools wrote with a byte-order mark, and names near the file
 * system's limit.
 *
 * Permissions are real: as root (which passes every permission check) the
 * CLI runs under `setpriv` without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH,
 * so a folder's mode binds it as it binds any user.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { scratchDir } from '../testing/scratch.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
let env: NodeJS.ProcessEnv;
let model: string;

const isRoot = process.getuid?.() === 0;
const hasSetpriv = (() => {
  try {
    execFileSync('setpriv', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
/** Why permission tests cannot run here, or undefined when they can. */
const noPermissions = process.platform === 'win32' ? 'no POSIX permissions' : isRoot && !hasSetpriv ? 'running as root without setpriv (util-linux) to drop the permission override' : undefined;

/** Runs the CLI as a user bound by file modes (root without its override). */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [cmd, argv] = isRoot && hasSetpriv ? ['setpriv', ['--bounding-set=-dac_override,-dac_read_search', process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]];
  return new Promise((resolve) => {
    execFile(cmd, argv, { env, timeout: 180_000, maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
    );
  });
}

function count(db: string): number {
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare('SELECT COUNT(*) AS n FROM files').get() as { n: number }).n;
  } finally {
    d.close();
  }
}

async function library(folders: Record<string, number>): Promise<string> {
  const dir = await scratchDir('rs-safe-');
  let seed = 1;
  for (const [folder, photos] of Object.entries(folders)) {
    mkdirSync(join(dir, folder), { recursive: true });
    for (let i = 0; i < photos; i++) writeFileSync(join(dir, folder, `IMG ${i}.jpg`), await testPhoto(seed++, 160, 120));
  }
  return dir;
}

before(async () => {
  const root = await scratchDir('rs-safe-home-');
  env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: join(root, 'cache') };
  model = (await writeRandomCheckpoint('resnet18', 31)).path;
});

describe('a photo library is never damaged', { skip: noPermissions }, () => {
  test('a folder that cannot be read keeps its photos in the index (the library root too); they are not taken as deleted', async () => {
    const dir = await library({ keep: 2, trip: 3 });
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    assert.match((await run(['tag', dir, '--model', model])).stderr, /Tagged 5/);
    chmodSync(join(dir, 'trip'), 0o000);
    try {
      const r = await run(['tag', dir, '--model', model]);
      assert.equal(r.code, 1, r.stderr);
      // Said as a folder, apart from the photos that failed (none did).
      assert.match(r.stderr, /0 failed, 1 folder could not be read/);
      assert.match(r.stderr, /not read: .*trip: cannot list folder \(EACCES\)/);
      assert.doesNotMatch(r.stderr, /removed from the index/);
      assert.equal(count(db), 5);
    } finally {
      chmodSync(join(dir, 'trip'), 0o755);
    }
    // The index elsewhere, and the whole library out of reach: nothing leaves the index either.
    const elsewhere = join(await scratchDir('rs-safe-db-'), 'tags.sqlite');
    assert.equal((await run(['tag', dir, '--model', model, '--db', elsewhere])).code, 0);
    chmodSync(dir, 0o000);
    try {
      const r = await run(['tag', dir, '--model', model, '--db', elsewhere]);
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /removed from the index/);
    } finally {
      chmodSync(dir, 0o755);
    }
    assert.equal(count(elsewhere), 5);
    const again = await run(['tag', dir, '--model', model]);
    assert.match(again.stderr, /Tagged 0, skipped 5 unchanged/);
  });

  test("tag --db on another program's SQLite file refuses it and changes nothing; search says it is not an index", async () => {
    const dir = await library({ '.': 1 });
    const other = join(dir, 'app.db');
    const d = new Database(other);
    d.exec("CREATE TABLE files (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO files (name) VALUES ('precious');");
    d.close();
    const before = readFileSync(other);
    const r = await run(['tag', dir, '--model', model, '--db', other]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /app\.db is an SQLite database of another program \(tables: files\), not a resnet-serve photo index; it is left as it is/);
    assert.deepEqual(readFileSync(other), before);
    const s = await run(['search', 'dog', '--db', other]);
    assert.equal(s.code, 2, 'search fails as grep does: 2, never the 1 of "nothing matched"');
    assert.match(s.stderr, /is not a resnet-serve photo index/);
    // A file that is no database at all is refused the same way (a usage error), and left as it was.
    const notes = join(dir, 'notes.txt');
    writeFileSync(notes, 'shopping list\n'.repeat(400));
    const text = await run(['tag', dir, '--model', model, '--db', notes]);
    assert.equal(text.code, 2, text.stderr);
    assert.match(text.stderr, /notes\.txt is not a resnet-serve photo index \(nor any SQLite database\); it is left as it is/);
    assert.equal(readFileSync(notes, 'utf8'), 'shopping list\n'.repeat(400));
  });

  test('a tagged library is one plain index file, readable where nothing can be written; an index left in WAL mode is read from a copy', async () => {
    const dir = await library({ '.': 3 });
    const index = join(dir, '.resnet-serve');
    const db = join(index, 'tags.sqlite');
    assert.equal((await run(['tag', dir, '--model', model])).code, 0);
    assert.deepEqual(readdirSync(index), ['tags.sqlite'], 'no -wal or -shm left');
    const d = new Database(db, { readonly: true });
    assert.equal(d.pragma('journal_mode', { simple: true }), 'delete');
    assert.equal(d.pragma('application_id', { simple: true }), 0x52534e53);
    d.close();
    const exportReadOnly = async (what: string): Promise<void> => {
      chmodSync(index, 0o555);
      try {
        const r = await run(['export', '--library', dir, '--format', 'jsonl']);
        assert.equal(r.code, 0, `${what}: ${r.stderr}`);
        assert.equal(r.stdout.trim().split('\n').length, 3, `${what}: ${r.stderr}`);
        assert.deepEqual(readdirSync(index), ['tags.sqlite'], `${what}: nothing written beside it`);
      } finally {
        chmodSync(index, 0o755);
      }
    };
    await exportReadOnly('plain');
    // As a run stopped mid-way leaves it: in WAL mode (byte 18 of the header is 2), which SQLite cannot
    // read without writing beside it.
    const w = new Database(db);
    w.pragma('journal_mode = WAL');
    w.close();
    assert.equal(readFileSync(db)[18], 2);
    assert.deepEqual(readdirSync(index), ['tags.sqlite']);
    await exportReadOnly('WAL');
  });

  test("temporary sidecars of a killed run are removed later (a recent one is left to its run); sidecars with a byte-order mark are updated; a 250-byte photo name gets its sidecar", async () => {
    const dir = await library({ '.': 2 });
    const stale = join(dir, '.resnet-serve-0123abcd.xmp.tmp');
    const recent = join(dir, '.resnet-serve-89abcdef.xmp.tmp');
    for (const t of [stale, recent]) writeFileSync(t, '<x:xmpmeta/>');
    const hourAgo = new Date(Date.now() - 3600_000);
    utimesSync(stale, hourAgo, hourAgo);
    const empty = '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>';
    writeFileSync(join(dir, 'IMG 0.jpg.xmp'), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(empty)]));
    writeFileSync(join(dir, 'IMG 1.jpg.xmp'), Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(empty, 'utf16le')]));
    const long = `${'L'.repeat(246)}.jpg`;
    writeFileSync(join(dir, long), await testPhoto(99, 160, 120));
    const r = await run(['tag', dir, '--model', model, '--xmp']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /3 sidecars written/);
    assert.ok(!existsSync(stale), 'the stale temporary sidecar is gone');
    assert.ok(existsSync(recent), 'a recent one may belong to a run going on');
    for (const name of ['IMG 0.jpg.xmp', 'IMG 1.jpg.xmp', `${long}.xmp`]) assert.match(readFileSync(join(dir, name), 'utf8'), /<digiKam:TagsList>/, name);
    assert.ok(readdirSync(dir).every((n) => !n.endsWith('.tmp') || n === '.resnet-serve-89abcdef.xmp.tmp'));
  });
});

describe('a library that moves, waits or was edited by hand', () => {
  test('another program writing the index when tag starts is waited for, not failed', async () => {
    const dir = await library({ '.': 2 });
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    assert.equal((await run(['tag', dir, '--model', model])).code, 0);
    writeFileSync(join(dir, 'new.jpg'), await testPhoto(77, 160, 120));
    const holder = new Database(db);
    holder.prepare('BEGIN IMMEDIATE').run();
    holder.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('held', 'yes')").run();
    const release = setTimeout(() => {
      holder.prepare('COMMIT').run();
      holder.close();
    }, 2000);
    const started = Date.now();
    const r = await run(['tag', dir, '--model', model]);
    clearTimeout(release);
    if (holder.open) holder.close();
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - started >= 1900, 'it waited for the lock');
    assert.match(r.stderr, /Tagged 1, skipped 2 unchanged/);
  });

  test('a library folder moved or renamed is followed (no copies, no duplicates); a folder emptied, as a drive not mounted, keeps its photos', async () => {
    const parent = await scratchDir('rs-moved-');
    const before = join(parent, 'Photos');
    mkdirSync(before);
    for (let i = 0; i < 3; i++) writeFileSync(join(before, `IMG ${i}.jpg`), await testPhoto(200 + i, 160, 120));
    const db = join(parent, 'index.sqlite');
    assert.equal((await run(['tag', before, '--model', model, '--db', db])).code, 0);
    const after = join(parent, 'My Photos 2024');
    renameSync(before, after);
    const r = await run(['tag', after, '--model', model, '--db', db]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Tagged 0, skipped 0 unchanged, 3 moved/);
    assert.equal(count(db), 3);
    const dupes = await run(['dupes', '--db', db]);
    assert.match(dupes.stderr, /No duplicates found/);
    const d = new Database(db, { readonly: true });
    assert.deepEqual(JSON.parse((d.prepare("SELECT value FROM meta WHERE key = 'roots'").get() as { value: string }).value), [realpathSync(after)]);
    d.close();
    // Emptied (what an unmounted drive's mount point looks like): its photos stay, and the run says so.
    const away = join(parent, 'away');
    renameSync(after, away);
    mkdirSync(after);
    const empty = await run(['tag', after, '--model', model, '--db', db]);
    assert.equal(empty.code, 0, empty.stderr);
    assert.match(empty.stderr, /kept: .*My Photos 2024 has no photo now; its 3 photos stay in the index \(a drive not mounted\?\)/);
    assert.equal(count(db), 3);
  });

  test('an index edited by another tool (a photo row deleted, its tags left) is searched without a crash', async () => {
    const dir = await library({ '.': 3 });
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    assert.equal((await run(['tag', dir, '--model', model, '--min-score', '0'])).code, 0);
    const d = new Database(db);
    const { label } = d.prepare("SELECT label_en AS label FROM tags WHERE kind = 'label' LIMIT 1").get() as { label: string };
    d.pragma('foreign_keys = OFF');
    d.prepare('DELETE FROM files WHERE id = (SELECT MIN(id) FROM files)').run();
    d.close();
    const r = await run(['search', label.split(' ').pop() as string, '--db', db]);
    assert.doesNotMatch(r.stderr, /TypeError|\n\s+at /, r.stderr);
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
  });

  test('a tag run whose model cannot load leaves no index behind; an index kept in the cache (read-only then) is still used once the folder can be written', async () => {
    const dir = await library({ '.': 2 });
    const failed = await run(['tag', dir, '--model', join(dir, 'no-such-model.onnx')]);
    assert.equal(failed.code, 1, failed.stderr);
    assert.ok(!existsSync(join(dir, '.resnet-serve')), 'no index, no folder of ours');
    const search = await run(['search', 'dog', '--library', dir]);
    assert.equal(search.code, 2, search.stderr);
    assert.match(search.stderr, /INDEX_NOT_FOUND/);
    // Read-only at the first run: the index goes to the cache. Writable later: that index goes on, with its model.
    chmodSync(dir, 0o555);
    try {
      const first = await run(['tag', dir, '--model', model]);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stderr, /read-only: the index is kept in .*libraries/);
    } finally {
      chmodSync(dir, 0o755);
    }
    writeFileSync(join(dir, 'IMG new.jpg'), await testPhoto(99, 160, 120));
    const again = await run(['tag', dir]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /Tagging with the model the library was tagged with/);
    assert.match(again.stderr, /Tagged 1, skipped 2 unchanged/);
    assert.ok(!existsSync(join(dir, '.resnet-serve')), 'no second, empty index in the folder');
  });

  test('a library folder and a photo whose names are not UTF-8, named on the command line', { skip: !existsSync('/proc/self/cmdline') && 'needs /proc (Linux)' }, async () => {
    const parent = await scratchDir('rs-latin-lib-');
    // "café" with é as the single byte 0xE9, as an old camera or a Windows share writes it.
    const folder = Buffer.concat([Buffer.from(join(parent, 'caf')), Buffer.from([0xe9])]);
    mkdirSync(folder);
    writeFileSync(Buffer.concat([folder, Buffer.from('/IMG 1.jpg')]), await testPhoto(7, 160, 120));
    writeFileSync(Buffer.concat([folder, Buffer.from('/IMG 2.jpg')]), await testPhoto(8, 160, 120));
    // The shell passes the byte as it is (Node's own spawn would encode an argument as UTF-8).
    const runShell = (args: string): Promise<{ code: number; stderr: string; stdout: string }> =>
      new Promise((resolve) => {
        const script = `L="$(printf '%s/caf\\351' "$DIR")"; exec "$NODE" "$BIN" ${args}`;
        execFile('/bin/sh', ['-c', script], { env: { ...env, NODE: process.execPath, BIN, DIR: parent, MODEL: model }, timeout: 180_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
        );
      });
    const tagged = await runShell('tag "$L" --model "$MODEL"');
    assert.equal(tagged.code, 0, tagged.stderr);
    assert.match(tagged.stderr, /caf\\xe9 has a name that is not UTF-8: the index is kept in .*libraries/);
    assert.match(tagged.stderr, /Tagged 2/);
    const like = await runShell('search --like "$L/IMG 1.jpg" --library "$L"');
    assert.equal(like.code, 0, like.stderr);
    assert.match(like.stdout, /caf\\xe9\/IMG 2\.jpg/);
    const missing = await runShell('tag "$L/nope"');
    assert.match(missing.stderr, /there is no folder .*caf\\xe9\/nope/);
  });

  test('on/off environment variables take on and off, and say so for anything else', async () => {
    const dir = await library({ '.': 1 });
    const prior = env.RESNET_SERVE_XMP;
    try {
      env.RESNET_SERVE_XMP = 'off';
      assert.equal((await run(['tag', dir, '--model', model])).code, 0);
      assert.ok(!existsSync(join(dir, 'IMG 0.jpg.xmp')), 'off is off');
      env.RESNET_SERVE_XMP = 'banana';
      const r = await run(['tag', dir, '--model', model]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /RESNET_SERVE_XMP must be on or off .*got "banana"/);
      env.RESNET_SERVE_XMP = 'on';
      assert.equal((await run(['tag', dir, '--model', model])).code, 0);
      assert.ok(existsSync(join(dir, 'IMG 0.jpg.xmp')), 'on is on');
    } finally {
      if (prior === undefined) delete env.RESNET_SERVE_XMP;
      else env.RESNET_SERVE_XMP = prior;
    }
  });
});
