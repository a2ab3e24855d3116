import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plural } from './plural.js';

test('plural: singular only for exactly one, irregular plurals given', () => {
  assert.equal(plural(1, 'photo'), '1 photo');
  assert.equal(plural(0, 'photo'), '0 photos');
  assert.equal(plural(3, 'photo'), '3 photos');
  assert.equal(plural(1, 'class', 'classes'), '1 class');
  assert.equal(plural(2, 'class', 'classes'), '2 classes');
});
