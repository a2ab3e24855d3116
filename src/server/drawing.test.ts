import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drawInTurn } from './drawing.js';

test('drawings run one at a time in arrival order; one whose request ends while it waits never runs', async () => {
  const log: string[] = [];
  const draw = (name: string, ms: number) => async () => {
    log.push(`start ${name}`);
    await new Promise((resolve) => setTimeout(resolve, ms));
    log.push(`end ${name}`);
    return name;
  };
  const gone = new AbortController();
  const first = drawInTurn(draw('a', 40));
  const skipped = drawInTurn(draw('b', 10), gone.signal);
  const third = drawInTurn(draw('c', 10));
  gone.abort(new Error('client left'));
  await assert.rejects(skipped, /client left/);
  assert.deepEqual(await Promise.all([first, third]), ['a', 'c']);
  assert.deepEqual(log, ['start a', 'end a', 'start c', 'end c']);
  // A drawing that fails gives its turn back.
  await assert.rejects(drawInTurn(async () => Promise.reject(new Error('corrupt'))), /corrupt/);
  assert.equal(await drawInTurn(async () => 'next'), 'next');
});
