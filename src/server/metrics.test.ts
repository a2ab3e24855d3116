import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServerMetrics } from './metrics.js';

test('answers with a head are counted by head and answer, in a bounded number of series (heads and classes come from users)', async () => {
  const metrics = new ServerMetrics(false);
  const answered = metrics.observer.headAnswered as (head: string, answer: string) => void;
  answered('line1', 'defect');
  answered('line1', 'defect');
  answered('line1', 'unknown');
  for (let i = 0; i < 1200; i++) answered(`head${i % 3}`, `class ${i}`);
  const text = await metrics.registry.getSingleMetricAsString('resnet_head_answers_total');
  assert.match(text, /^resnet_head_answers_total\{head="line1",class="defect"\} 2$/m);
  assert.match(text, /^resnet_head_answers_total\{head="line1",class="unknown"\} 1$/m);
  const series = text.split('\n').filter((l) => l.startsWith('resnet_head_answers_total{'));
  const pooled = series.filter((l) => l.includes('class="(other)"'));
  assert.ok(series.length - pooled.length === 1000 && pooled.length <= 3, `${series.length} series, ${pooled.length} pooled`);
  // Nothing is lost: every answer is in some series.
  assert.equal(series.reduce((sum, l) => sum + Number(l.split(' ').pop()), 0), 1203);
});
