import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatOutcome } from '../cli/format.js';
import { ResnetServeError } from '../errors.js';
import { displayPath, fsPath, isUnder, linePath, pathKey } from './paths.js';

test('a name that is not UTF-8 round-trips to its bytes, and is shown as ls -b shows it', () => {
  const bytes = Buffer.from([0x74, 0x72, 0xe9, 0x6d, 0x2e, 0x6a, 0x70, 0x67]);
  const key = pathKey(bytes);
  assert.deepEqual(fsPath(key), bytes);
  assert.equal(displayPath(key), 'tr\\xe9m.jpg');
  assert.equal(displayPath('北京 trip/猫.jpg'), '北京 trip/猫.jpg');
});

test('a line of output keeps a name with a newline or an escape sequence on its line', () => {
  assert.equal(linePath('new\nline.jpg'), 'new\\nline.jpg');
  assert.equal(linePath('tab\there\x1b[2J.jpg'), 'tab\\there\\x1b[2J.jpg');
  assert.equal(linePath(pathKey(Buffer.from([0x61, 0xff, 0x0a]))), 'a\\xff\\n');
  const failed = formatOutcome('a\nb.jpg', { ok: false, error: new ResnetServeError('IMAGE_CORRUPT', 'broken') });
  assert.equal(failed.split('\n')[0], 'a\\nb.jpg');
});

test('isUnder: a folder and what lies under it, not a sibling whose name starts the same', () => {
  assert.ok(isUnder('/photos/2024/a.jpg', '/photos'));
  assert.ok(isUnder('/photos', '/photos'));
  assert.ok(isUnder('/photos/a.jpg', '/photos/'));
  assert.ok(!isUnder('/photos-old/a.jpg', '/photos'));
});
