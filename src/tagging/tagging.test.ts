/** The photo-library commands, end to end through the CLI on generated folders. */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { testPhoto } from '../testing/fixtures.js';
import { writeRandomCheckpoint } from '../testing/random-resnet.js';
import { updateXmp } from './xmp.js';

const BIN = fileURLToPath(new URL('../cli/bin.js', import.meta.url));
const asRoot = process.getuid?.() === 0;
let env: NodeJS.ProcessEnv;
let model: string;

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 180_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 99) : 0, stdout, stderr }),
    );
  });
}

function rows(db: string): { path: string; sha256: string }[] {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT path, sha256 FROM files ORDER BY path').all() as { path: string; sha256: string }[];
  } finally {
    d.close();
  }
}

before(async () => {
  const root = await mkdtemp(join(tmpdir(), 'rs-tag-'));
  chmodSync(root, 0o777);
  const cache = join(root, 'cache');
  mkdirSync(cache, { mode: 0o777 });
  chmodSync(cache, 0o777);
  env = { PATH: process.env.PATH, HOME: root, RESNET_SERVE_HOME: cache };
  model = (await writeRandomCheckpoint('resnet18', 77)).path;
  chmodSync(join(model, '..'), 0o755);
});

async function library(files: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rs-lib-'));
  mkdirSync(join(dir, 'Holiday 2024', '北京 trip'), { recursive: true });
  for (let i = 0; i < files; i++) {
    const sub = i % 3 === 0 ? '' : i % 3 === 1 ? 'Holiday 2024' : join('Holiday 2024', '北京 trip');
    writeFileSync(join(dir, sub, `IMG ${String(i).padStart(4, '0')}.jpg`), await testPhoto(i + 1, 320, 240));
  }
  for (const d of [dir, join(dir, 'Holiday 2024'), join(dir, 'Holiday 2024', '北京 trip')]) chmodSync(d, 0o777);
  return dir;
}

describe('resnet-serve tag', () => {
  test('nested folders, unicode and spaces, non-images by content, duplicates, a loop, unreadable and broken files; then a second run skips', async () => {
    const dir = await library(6);
    writeFileSync(join(dir, 'letter.jpg'), 'not a photo, despite the name');
    writeFileSync(join(dir, 'readme.txt'), 'notes');
    writeFileSync(join(dir, 'copy of IMG 0000.jpg'), readFileSync(join(dir, 'IMG 0000.jpg')));
    writeFileSync(join(dir, 'broken.jpg'), readFileSync(join(dir, 'IMG 0000.jpg')).subarray(0, 700));
    symlinkSync(dir, join(dir, 'Holiday 2024', 'loop'));
    // Unreadable: a link to a photo that is gone (and, where we are not root, a file without read permission).
    symlinkSync(join(dir, 'moved away.jpg'), join(dir, 'gone.jpg'));
    if (!asRoot) {
      writeFileSync(join(dir, 'secret.jpg'), readFileSync(join(dir, 'IMG 0001.jpg')));
      chmodSync(join(dir, 'secret.jpg'), 0o000);
    }
    const first = await run(['tag', dir, '--model', model, '--top-k', '3', '--min-score', '0']);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, new RegExp(`Tagged 7, skipped 0 unchanged, 2 not images, ${asRoot ? 2 : 3} failed`));
    assert.match(first.stderr, /failed: .*broken\.jpg: Image data is damaged/);
    assert.match(first.stderr, /failed: .*gone\.jpg: cannot read \(ENOENT\)/);
    if (!asRoot) assert.match(first.stderr, /failed: .*secret\.jpg: .*EACCES/);
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    const stored = rows(db);
    assert.equal(stored.length, 7);
    assert.ok(stored.some((r) => r.path.includes('北京 trip')));
    const dup = stored.filter((r) => r.path.endsWith('IMG 0000.jpg'));
    assert.equal(dup.length, 2);
    assert.equal(dup[0].sha256, dup[1].sha256);
    const second = await run(['tag', dir, '--model', model]);
    assert.match(second.stderr, /Tagged 0, skipped 7 unchanged/);
  });

  test('a changed file and another model are re-tagged; search and export', async () => {
    const dir = await library(3);
    await run(['tag', dir, '--model', model]);
    const target = join(dir, 'IMG 0000.jpg');
    writeFileSync(target, await testPhoto(99, 320, 240));
    const again = await run(['tag', dir, '--model', model]);
    assert.match(again.stderr, /Tagged 1, skipped 2 unchanged/);
    const other = (await writeRandomCheckpoint('resnet18', 78)).path;
    const third = await run(['tag', dir, '--model', other]);
    assert.match(third.stderr, /Tagged 3, skipped 0 unchanged/);
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    const exported = JSON.parse((await run(['export', '--format', 'json', '--db', db])).stdout);
    assert.equal(exported.length, 3);
    const label = exported[0].tags.find((t: { kind: string }) => t.kind === 'label');
    assert.ok(label.en && label.zh && label.score > 0);
    const csv = (await run(['export', '--format', 'csv', '--db', db])).stdout.trim().split('\n');
    assert.equal(csv[0], 'path,size,sha256,model,kind,label_en,label_zh,score');
    assert.ok(csv.length > 3);
    for (const word of [label.en.split(' ')[0], label.zh]) {
      const hits = (await run(['search', word, '--db', db])).stdout.trim().split('\n');
      assert.ok(hits.some((h) => h.endsWith(exported[0].path)), `search ${word}`);
      const scores = hits.map((h) => Number(h.split(/\s+/)[0]));
      assert.deepEqual(scores, [...scores].sort((a, b) => b - a));
    }
  });

  test('killed with SIGKILL mid-run, then rerun: every file tagged exactly once, index intact', async () => {
    const dir = await library(60);
    const db = join(dir, '.resnet-serve', 'tags.sqlite');
    const child = spawn(process.execPath, [BIN, 'tag', dir, '--model', model], { env, stdio: 'ignore' });
    const started = Date.now();
    // The index may exist before its tables do; until then it counts as empty.
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

  test('XMP sidecars: written, updated without clobbering, read back by exiftool; originals untouched', async () => {
    const dir = await library(2);
    const photo = join(dir, 'IMG 0000.jpg');
    const other = join(dir, 'Holiday 2024', 'IMG 0001.jpg');
    const before = { bytes: readFileSync(photo), otherBytes: readFileSync(other), otherMtime: statSync(other).mtimeMs };
    writeFileSync(`${photo}.xmp`, updateXmp(null, { flat: ['family', 'beach'], hierarchical: [] }).replace('<rdf:Description rdf:about=""', '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:Rating="4"'));
    await run(['tag', dir, '--model', model, '--xmp', '--lang', 'en']);
    const first = readFileSync(`${photo}.xmp`, 'utf8');
    assert.match(first, /<rdf:li>family<\/rdf:li>/);
    assert.match(first, /xmp:Rating="4"/);
    assert.match(first, /resnet-serve\|[^<]+\|[^<]+\|[^<]+<\/rdf:li>/);
    assert.doesNotMatch(first, /[\u4e00-\u9fff]/u);
    writeFileSync(photo, readFileSync(photo)); // same content, new mtime: the file is rechecked by hash, not re-tagged
    await run(['tag', dir, '--model', model, '--xmp', '--lang', 'both', '--db', join(dir, 'other.sqlite')]);
    const second = readFileSync(`${photo}.xmp`, 'utf8');
    assert.equal((second.match(/<rdf:li>family<\/rdf:li>/g) ?? []).length, 1);
    assert.match(second, /[\u4e00-\u9fff]/u);
    const ours = (second.match(/resnet-serve\|/g) ?? []).length;
    assert.equal(ours, 2 * (first.match(/resnet-serve\|/g) ?? []).length, 'old keywords replaced, not duplicated');
    assert.ok(existsSync(`${other}.xmp`));
    assert.deepEqual(readFileSync(photo), before.bytes);
    await run(['tag', dir, '--model', model, '--xmp', '--xmp-name', 'replace', '--db', join(dir, 'third.sqlite')]);
    assert.ok(existsSync(join(dir, 'Holiday 2024', 'IMG 0001.xmp')));
    // The originals: same bytes, same mtime, after three tagging runs with sidecars.
    assert.deepEqual(readFileSync(other), before.otherBytes);
    assert.equal(statSync(other).mtimeMs, before.otherMtime);
    let exif: { Subject?: string[]; HierarchicalSubject?: string[]; Rating?: number }[];
    try {
      exif = JSON.parse(execFileSync('exiftool', ['-j', '-XMP-dc:Subject', '-XMP-lr:HierarchicalSubject', '-XMP-xmp:Rating', `${photo}.xmp`], { encoding: 'utf8' }));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // exiftool not installed (.ci/run installs it)
      throw err;
    }
    const subjects = exif[0].Subject ?? [];
    assert.ok(subjects.includes('family') && subjects.includes('beach'));
    assert.ok(subjects.some((s) => /^[\x20-\x7e]+$/.test(s) && s !== 'family' && s !== 'beach'), 'English keywords');
    assert.ok(subjects.some((s) => /[\u4e00-\u9fff]/u.test(s)), 'Chinese keywords');
    assert.ok((exif[0].HierarchicalSubject ?? []).every((h) => h.startsWith('resnet-serve|')));
    assert.equal(exif[0].Rating, 4);
  });
});
