/** The cache folder's one-line refusal: said for the folder, a file in it, or a parent made on the way; not for anything else. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cacheFolderError } from './fs-atomic.js';

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
});
