import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cachedSha256, cachedSha256s } from './file-hash.js';
import { scratchDir } from '../testing/scratch.js';

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

test('a hash is remembered by size and mtime, and recomputed when the file changes', async () => {
  const dir = await scratchDir('rs-hash-');
  const file = join(dir, 'model.onnx');
  writeFileSync(file, 'model bytes');
  const real = sha(file);
  assert.equal(await cachedSha256(file, dir), real);
  const recorded = JSON.parse(readFileSync(join(dir, 'hashes.json'), 'utf8'));
  assert.equal(recorded[file].sha256, real);
  // A remembered hash is trusted while size and mtime stay (proof: a planted value is returned)…
  recorded[file].sha256 = 'ab'.repeat(32);
  writeFileSync(join(dir, 'hashes.json'), JSON.stringify(recorded));
  assert.equal(await cachedSha256(file, dir), 'ab'.repeat(32));
  // …and recomputed once the file is touched.
  const later = new Date(Date.now() + 5000);
  utimesSync(file, later, later);
  assert.equal(await cachedSha256(file, dir), real);
});

test('many files: hashes in the order asked, remembered ones trusted, new ones recorded together', async () => {
  const dir = await scratchDir('rs-hashes-');
  const files = ['c', 'a', 'b'].map((name, i) => {
    const path = join(dir, `${name}.bin`);
    writeFileSync(path, `photo ${i}`);
    return path;
  });
  // 'a' is remembered (with a planted value, to prove it is not read again); the others are not.
  writeFileSync(join(dir, 'hashes.json'), JSON.stringify({ [files[1]]: { ...statOf(files[1]), sha256: 'ab'.repeat(32) } }));
  const hashes = await cachedSha256s(files, dir);
  assert.deepEqual(hashes, [sha(files[0]), 'ab'.repeat(32), sha(files[2])]);
  const recorded = JSON.parse(readFileSync(join(dir, 'hashes.json'), 'utf8'));
  assert.deepEqual(Object.keys(recorded).sort(), [...files].sort());
  assert.equal(recorded[files[2]].sha256, sha(files[2]));
  assert.deepEqual(await cachedSha256s([], dir), []);
});

function statOf(path: string): { size: number; mtimeMs: number } {
  const { size, mtimeMs } = statSync(path);
  return { size, mtimeMs };
}
