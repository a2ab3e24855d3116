import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { ProgressLine, quantizeProgress } from './progress.js';

function terminal(columns: number): { out: Writable & { isTTY: boolean; columns: number }; text: () => string } {
  let text = '';
  const out = Object.assign(new Writable({ write: (chunk, _enc, done) => ((text += chunk.toString()), done()) }), { isTTY: true, columns });
  return { out, text: () => text };
}

test('on a terminal the bar is redrawn in place and never wider than the window', async () => {
  for (const columns of [40, 60, 82, 120]) {
    const { out, text } = terminal(columns);
    const bar = new ProgressLine(out);
    for (let done = 0; done <= 1000; done += 250) {
      bar.update({ done, total: 1000, toClassify: 1000, classified: done, classifyMs: done * 20, failed: 3 });
      await new Promise((r) => setTimeout(r, 110));
    }
    bar.done();
    const draws = text().split('\r\x1b[2K').slice(1).map((d) => d.replace(/\n$/, ''));
    assert.ok(draws.length >= 4);
    for (const d of draws) assert.ok(d.length < columns && !d.includes('\n'), `${columns}: ${JSON.stringify(d)} (${d.length})`);
  }
});

test('a terminal of unknown size (0 columns) gets a line 80 wide, not a cut-off one', () => {
  const { out, text } = terminal(0);
  new ProgressLine(out).update({ done: 10, total: 10, toClassify: 10, classified: 10, classifyMs: 1000, failed: 1 });
  assert.match(text(), /\] 10\/10 photos, 10\.0 images\/s, ETA 0:00, 1 failed$/);
});

test('messages go above the bar, which is drawn again below them', () => {
  const { out, text } = terminal(80);
  const bar = new ProgressLine(out);
  bar.update({ done: 1, total: 10, toClassify: 10, classified: 1, classifyMs: 100, failed: 0 });
  bar.log('a note');
  assert.match(text(), /\r\x1b\[2Ka note\n.*1\/10 photos/);
});

test('the ETA of a resumed run counts only the photos the model still has to see', () => {
  let text = '';
  const out = Object.assign(new Writable({ write: (chunk, _enc, done) => ((text += chunk.toString()), done()) }), { isTTY: false });
  // 900 of 1000 were done before: 10 of the 100 left took 1 s, so 90 more take 9 s.
  new ProgressLine(out).update({ done: 1000, total: 1000, toClassify: 100, classified: 10, classifyMs: 1000, failed: 0 });
  assert.match(text, /^1000\/1000 photos, 10\/100 for the model, 10\.0 images\/s, ETA 0:09/);
  // Nothing left for the model (moves, copies, unchanged content): no "0/0 for the model".
  text = '';
  new ProgressLine(out).update({ done: 302, total: 302, toClassify: 0, classified: 0, classifyMs: 0, failed: 0 });
  assert.match(text, /^302\/302 photos, – images\/s, ETA –\n$/);
});

test('the int8 calibration note says how many photos were used, chosen and skipped, in words that agree with the numbers', () => {
  const lines = (isTTY: boolean, calls: [number, number, number, number, number][]): string => {
    let text = '';
    const out = Object.assign(new Writable({ write: (chunk, _encoding, done) => ((text += chunk.toString()), done()) }), { isTTY });
    const note = quantizeProgress(out);
    for (const [done, total, skipped, found, passedBy] of calls) note({ done, total, skipped, found, passedBy });
    return text;
  };
  // Not a terminal: a line at the start and one at the end, even when the last photo is skipped.
  const piped = lines(false, [[1, 3, 0, 3, 0], [2, 3, 0, 3, 0], [3, 3, 1, 3, 0]]);
  assert.match(piped, /^Quantising the model to int8 \(once\): calibrating on 3 photos\n/);
  assert.match(piped, /calibrated on 2 photos, 1 file skipped \(not images, unreadable or over the default pixel limit\) in [\d.]+ s \(only 2: a few dozen photos like the ones it will see give better ranges\)\n$/);
  // Enough photos: no such advice.
  assert.match(lines(false, [[1, 10, 0, 10, 0], [10, 10, 0, 10, 0]]), /calibrated on 10 photos in [\d.]+ s\n$/);
  // None read: no line that reads like success (the error follows); on a terminal the open line is ended.
  assert.equal(lines(false, [[1, 2, 1, 2, 0], [2, 2, 2, 2, 0]]), 'Quantising the model to int8 (once): calibrating on 2 photos\n');
  assert.match(lines(true, [[1, 2, 1, 2, 0], [2, 2, 2, 2, 0]]), /calibrating on 1 of 2 photos\x1b\[K\n$/);
  assert.match(lines(false, [[1, 1, 0, 1, 0]]), /calibrated on 1 photo in/);
  assert.match(lines(false, [[1, 1, 0, 1, 2]]), /calibrated on 1 photo, 2 files skipped/);
  assert.match(lines(false, [[1, 256, 0, 3000, 0]]), /calibrating on 256 photos \(evenly chosen from 3000\)/);
  // A terminal: redrawn in place, cleared to the end of the line, ended with a newline.
  const tty = lines(true, [[1, 12, 0, 12, 0], [12, 12, 0, 12, 0]]);
  assert.match(tty, /^\rQuantising .*calibrating on 1 of 12 photos\x1b\[K\r.*calibrated on 12 photos in [\d.]+ s\x1b\[K\n$/);
});
