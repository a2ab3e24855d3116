import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { PAGE_PATHS } from './web.js';

const WEB = new URL('../../../web/', import.meta.url);

test('the page uses relative addresses only, so it works behind a reverse proxy under a sub-path', () => {
  for (const file of readdirSync(WEB)) {
    const text = readFileSync(new URL(file, WEB), 'utf8');
    assert.doesNotMatch(text, /["'`]\/(v1|v2|app\.|common\.|cards\.|errors\.|icon\.)/, `${file} has an absolute address`);
  }
});

test('every file of web/ is served, and nothing else', () => {
  const served = PAGE_PATHS.map((p) => (p === '/' ? 'index.html' : p.slice(1))).sort();
  assert.deepEqual(served, readdirSync(WEB).sort());
});
