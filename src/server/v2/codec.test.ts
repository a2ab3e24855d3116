import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isBase64 } from './codec.js';

test('isBase64: standard and URL-safe alphabets, padding, MIME line breaks; anything else refused, in linear time', () => {
  for (const ok of ['', 'QUJD', 'QUI=', 'QQ==', 'QQ==\r\n', 'QU\r\nJD\n', 'a-_b', ' QUJD ', 'QQ= \n']) assert.equal(isBase64(ok), true, JSON.stringify(ok));
  for (const bad of ['QQ===', 'QQ==QQ', 'QU!D', 'QUJD.', '€', 'Q=Q']) assert.equal(isBase64(bad), false, JSON.stringify(bad));
  // The regular expression this replaced took 95 s on this string (quadratic backtracking over the spaces).
  assert.equal(isBase64(`${' '.repeat(1_000_000)}!`), false);
  assert.equal(isBase64(`QUJD${' \n'.repeat(500_000)}=`), true);
});
