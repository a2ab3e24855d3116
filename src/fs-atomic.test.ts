/** The cache folder's one-line refusal: said for the folder, a file in it, or a parent made on the way; not for anything else. Orphaned temporary files. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ORPHANED_TEMP_MS, cacheFolderError, removeOrphanedTemps, sha256File } from './fs-atomic.js';
import { scratchDir } from './testing/scratch.js';

const refused = (path: string, code = 'EACCES'): NodeJS.ErrnoException => Object.assign(new Error(`${code}: permission denied, mkdir '${path}'`), { code, path, syscall: 'mkdir' });

test('a write refused in the cache folder, or on the way to it, is one sentence that says what to do', () => {
  const cache = '/home/me/.cache/resnet-serve';
  for (const path of [cache, `${cache}/onnx/x.onnx`, '/home/me/.cache', '/home/me']) {
    const err = cacheFolderError(refused(path), cache);
    assert.ok(err, path);
    assert.equal(err.code, 'IO_ERROR');
    assert.match(err.message, /^Cannot write to the cache folder \/home\/me\/\.cache\/resnet-serve: permission denied \(EACCES\) \(set RESNET_SERVE_HOME to a writable folder\)$/);
  }
  // Elsewhere (a photo's folder, a sibling with a similar name), it is not the cache folder's to explain.
  for (const path of ['/photos/a.jpg', '/home/me/.cache/resnet-serve-other', '/home/m']) assert.equal(cacheFolderError(refused(path), cache), null, path);
  assert.equal(cacheFolderError(new Error('not a system error'), cache), null);
  // A file system that makes no folders (RESNET_SERVE_HOME=/proc/x/y) answers mkdir with ENOENT; a file missing in the cache is no refusal.
  assert.match(cacheFolderError(refused('/proc/x', 'ENOENT'), '/proc/x/y')?.message ?? '', /^Cannot write to the cache folder \/proc\/x\/y: .*\(ENOENT\)/);
  assert.equal(cacheFolderError(Object.assign(new Error('ENOENT'), { code: 'ENOENT', path: `${cache}/onnx/a.json`, syscall: 'open' }), cache), null);
});

test('temporary files a killed writer left (untouched for an hour) are removed; a live writer\'s and other files stay', async () => {
  const dir = await scratchDir('rs-temps-');
  const old = new Date(Date.now() - ORPHANED_TEMP_MS - 60_000);
  const names = { orphan: 'm-int8.123-ab.fp32-basic.tmp.onnx', fresh: 'm-int8.456-cd.fp32-basic.tmp.onnx', graph: 'm-int8.onnx', other: 'n-int8.789-ef.fp32-basic.tmp.onnx' };
  for (const name of Object.values(names)) writeFileSync(join(dir, name), 'x');
  for (const name of [names.orphan, names.graph, names.other]) utimesSync(join(dir, name), old, old);
  await removeOrphanedTemps(dir, 'm-int8', '.fp32-basic.tmp.onnx');
  assert.deepEqual(readdirSync(dir).sort(), [names.graph, names.fresh, names.other].sort());
  await removeOrphanedTemps(join(dir, 'missing'), 'm-int8', '.tmp.onnx');
});

test('sha256File: the hash of the whole file, across its 1 MB reads, and of an empty file', async () => {
  const dir = await scratchDir('rs-hash-');
  const bytes = Buffer.from(Array.from({ length: 2.5 * 2 ** 20 + 7 }, (_, i) => (i * 2654435761) >>> 24));
  writeFileSync(join(dir, 'big.bin'), bytes);
  writeFileSync(join(dir, 'empty.bin'), '');
  assert.equal(await sha256File(join(dir, 'big.bin')), createHash('sha256').update(bytes).digest('hex'));
  assert.equal(await sha256File(join(dir, 'empty.bin')), createHash('sha256').digest('hex'));
});
