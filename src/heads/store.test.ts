import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { scratchDir } from '../testing/scratch.js';
import { HeadStore } from './store.js';

const photo = (n: number): { photo: string; name: string; thumbnail: Buffer } => ({ photo: `sha-${n}`, name: `p${n}.jpg`, thumbnail: Buffer.from([n]) });

/** A head with two classes of two photos, trained on what it has now. */
function trainedHead(store: HeadStore): void {
  store.create('parts', 'model', ['ok', 'scratch']);
  store.addExamples('parts', 'ok', [photo(1), photo(2)]);
  store.addExamples('parts', 'scratch', [photo(3), photo(4)]);
  const head = store.get('parts');
  assert.ok(head);
  assert.equal(store.saveTrained('parts', head.createdAt, head.contents, '{}'), true);
}

test('a head is stale while its classes or photos differ from what its training saw; undoing a change undoes it', async () => {
  const store = new HeadStore(await scratchDir('rs-heads-'));
  trainedHead(store);
  assert.equal(store.get('parts')?.stale, false);
  store.addClasses('parts', ['dent']);
  assert.equal(store.get('parts')?.stale, true);
  store.removeClass('parts', 'dent');
  assert.equal(store.get('parts')?.stale, false, 'the class added and removed again');
  const [id] = store.addExamples('parts', 'ok', [photo(5)]);
  assert.equal(store.get('parts')?.stale, true);
  store.removeExample('parts', id);
  assert.equal(store.get('parts')?.stale, false, 'the photo added and removed again');
  const [first] = store.examples('parts');
  store.removeExample('parts', first.id);
  assert.equal(store.get('parts')?.stale, true);
  store.addExamples('parts', first.className, [photo(Number(first.photo.slice(4)))]);
  assert.equal(store.get('parts')?.stale, false, 'the photo removed and added again');
  // The same photo moved to another class is a change.
  const moved = store.examples('parts').find((e) => e.photo === 'sha-1');
  assert.ok(moved);
  store.removeExample('parts', moved.id);
  store.addExamples('parts', 'scratch', [photo(1)]);
  assert.equal(store.get('parts')?.stale, true);
  store.close();
});

test('a head trained before contents were recorded still says when it changed', async () => {
  const dir = await scratchDir('rs-heads-old-');
  const store = new HeadStore(dir);
  trainedHead(store);
  store.close();
  // As an earlier version left it: the change count at training, no contents.
  const db = new Database(join(dir, 'heads.sqlite'));
  db.prepare('UPDATE heads SET trained_contents = NULL, trained_revision = revision').run();
  db.close();
  const reopened = new HeadStore(dir);
  assert.equal(reopened.get('parts')?.stale, false);
  reopened.addExamples('parts', 'ok', [photo(6)]);
  assert.equal(reopened.get('parts')?.stale, true);
  reopened.close();
});
