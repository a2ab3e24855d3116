/** The CLI's table: aligned labels (Chinese counts double), and a head's "none of these" line in the labels' language. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClassifyOutcome } from '../types.js';
import { displayWidth, failedLine, formatJsonLine, formatOutcome } from './format.js';

const timings = { decode: 1, preprocess: 1, infer: 3, total: 5 };

test('labels line up whatever their script, and each score has its bar', () => {
  assert.equal(displayWidth('虎猫 cat'), 8);
  const outcome: ClassifyOutcome = { ok: true, width: 640, height: 480, timings, predictions: [{ index: 281, label: 'tabby', label_zh: '虎斑猫', score: 0.5 }, { index: 282, label: 'tiger cat', label_zh: '虎猫', score: 0.25 }] };
  const lines = formatOutcome('cat.jpg', outcome, 'both').split('\n');
  assert.equal(lines[0], 'cat.jpg  (640×480, 5 ms)');
  // The scores start in the same column: the wider Chinese names are padded by display width.
  assert.equal(displayWidth(lines[1].slice(0, lines[1].indexOf('%'))), displayWidth(lines[2].slice(0, lines[2].indexOf('%'))));
  assert.match(lines[1], /50\.00%  █{10}$/);
  assert.match(lines[2], /25\.00%  █{5}$/);
  // A sure answer's "100.00%" keeps the gap after the label, and the block's scores stay in one column.
  const sure = formatOutcome('light.jpg', { ...outcome, predictions: [{ index: 920, label: 'traffic light', score: 0.99999 }, { index: 0, label: 'tench', score: 0.00001 }] }).split('\n');
  assert.match(sure[1], /traffic light {2}100\.00%/);
  assert.equal(sure[1].indexOf('%'), sure[2].indexOf('%'));
});

test("a head's unknown answer is said in the labels' language", () => {
  const outcome: ClassifyOutcome = { ok: true, width: 10, height: 10, timings, unknown: true, typicality: 0.012, predictions: [{ index: -1, label: 'unknown', label_zh: '未知', score: 0.988 }] };
  const line = (lang: 'en' | 'zh' | 'both'): string => formatOutcome('x.jpg', outcome, lang).split('\n')[1];
  assert.equal(line('en'), '   → unknown: none of these classes (unlike the training photos, typicality 1.2%)');
  assert.equal(line('zh'), '   → 未知：不属于这些类别（与训练照片都不像，典型度 1.2%）');
  assert.equal(line('both'), `${line('en')} / ${line('zh').slice('   → '.length)}`);
  assert.doesNotMatch(formatOutcome('x.jpg', { ...outcome, unknown: false }, 'zh'), /→/);
});

test('in JSON, a head\'s "unknown" comes first in the predictions, as in the table and the library, its flag and typicality beside them', () => {
  const classes = [{ index: 0, label: 'allowed', score: 0.58 }, { index: 1, label: 'not allowed', score: 0.42 }];
  const refused = JSON.parse(formatJsonLine('cat.jpg', { ok: true, width: 10, height: 10, timings, unknown: true, typicality: 0.25, predictions: classes }));
  assert.deepEqual([refused.unknown, refused.typicality], [true, 0.25]);
  assert.deepEqual(refused.predictions, [{ index: -1, label: 'unknown', score: 0.75 }, ...classes]);
  const known = JSON.parse(formatJsonLine('ok.jpg', { ok: true, width: 10, height: 10, timings, unknown: false, typicality: 0.6, predictions: classes }));
  assert.deepEqual(known.predictions, classes);
});

test('the closing line counts failed files, and folders that could not be read apart from them', () => {
  const ok = (path: string) => ({ path });
  const bad = (path: string) => ({ path, error: 'unreadable' });
  const folder = (path: string) => ({ path, error: 'cannot list folder: EACCES', folder: true });
  assert.equal(failedLine([bad('a.jpg')], 1), 'The file failed.\n');
  assert.equal(failedLine([bad('a.jpg'), bad('b.jpg')], 2), 'All 2 files failed.\n');
  assert.equal(failedLine([ok('a.jpg'), bad('b.jpg'), ok('c.jpg')], 1), '1 of 3 files failed.\n');
  assert.equal(failedLine([ok('a.jpg'), bad('b.jpg'), folder('locked')], 2), '1 of 2 files failed; 1 folder could not be read.\n');
  assert.equal(failedLine([ok('a.jpg'), folder('locked'), folder('private')], 2), '2 folders could not be read.\n');
});

test('--lang both with labels that have no Chinese names says each once, not "part 480 / part 480"', () => {
  const outcome: ClassifyOutcome = { ok: true, width: 64, height: 48, timings, predictions: [{ index: 480, label: 'part 480', label_zh: 'part 480', score: 0.9 }, { index: 281, label: 'tabby', label_zh: '虎斑猫', score: 0.1 }] };
  const lines = formatOutcome('x.jpg', outcome, 'both').split('\n');
  assert.match(lines[1], /^ +1\. part 480 +90\.00%/);
  assert.doesNotMatch(lines[1], /\//);
  assert.match(lines[2], /tabby \/ 虎斑猫/);
});
