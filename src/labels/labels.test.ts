import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REFERENCE_DIR, skipWithoutReference } from '../testing/shared.js';
import { checkLabelSet, imagenetLabels, labelPredictions } from './labels.js';

test('ImageNet labels: 1000 unique, non-empty names in English and in Chinese', () => {
  const { en, zh } = imagenetLabels();
  assert.equal(en.length, 1000);
  assert.equal(zh?.length, 1000);
  for (const names of [en, zh ?? []]) {
    assert.ok(names.every((n) => n.length > 0 && n === n.trim()));
  }
  assert.equal(new Set(zh).size, 1000);
  // Chinese names are Chinese (the few brand names like iPod aside).
  assert.ok((zh ?? []).filter((n) => /[\u4e00-\u9fff]/u.test(n)).length >= 995);
});

test('Chinese labels use the names people use', () => {
  const { en, zh } = imagenetLabels();
  const expect: Record<string, string> = { alp: '高山', tabby: '虎斑猫', streetcar: '有轨电车', 'coffee mug': '咖啡杯', 'golden retriever': '金毛寻回犬', 'giant panda': '大熊猫', tench: '丁鲷' };
  for (const [name, chinese] of Object.entries(expect)) assert.equal(zh?.[en.indexOf(name)], chinese, name);
});

test('Chinese labels name the right animal or thing where a near neighbour has a similar name', () => {
  const { en, zh } = imagenetLabels();
  const expect: Record<string, string> = {
    tarantula: '捕鸟蛛',
    mongoose: '獴',
    meerkat: '狐獴',
    barracouta: '杖鱼',
    'rock beauty': '三色刺蝶鱼',
    'hand blower': '吹风机',
    maillot: '紧身衣',
    minivan: '小型厢式车',
    'mobile home': '活动房屋',
    pick: '拨片',
    pier: '桥墩',
    turnstile: '十字转门',
  };
  for (const [name, chinese] of Object.entries(expect)) assert.equal(zh?.[en.indexOf(name)], chinese, name);
  const of = (name: string): string | undefined => zh?.[en.indexOf(name)];
  assert.notEqual(of('tarantula'), of('wolf spider'));
  assert.notEqual(of('mobile home'), of('recreational vehicle'));
});

test('English labels are torchvision names in torchvision order', { skip: skipWithoutReference }, () => {
  const reference = readFileSync(join(REFERENCE_DIR, 'imagenet-classes.txt'), 'utf8').trim().split('\n');
  assert.deepEqual([...imagenetLabels().en], reference);
});

test('labelPredictions gives English, Chinese or both', () => {
  const labels = { en: ['cat', 'dog'], zh: ['猫', '狗'] };
  const ranked = [{ index: 1, score: 0.75 }];
  assert.deepEqual(labelPredictions(ranked, labels, 'en'), [{ index: 1, label: 'dog', score: 0.75 }]);
  assert.deepEqual(labelPredictions(ranked, labels, 'zh'), [{ index: 1, label: '狗', score: 0.75 }]);
  assert.deepEqual(labelPredictions(ranked, labels, 'both'), [{ index: 1, label: 'dog', label_zh: '狗', score: 0.75 }]);
  assert.deepEqual(labelPredictions(ranked, { en: ['a', 'b'] }, 'zh'), [{ index: 1, label: 'b', score: 0.75 }]);
  assert.throws(() => checkLabelSet({ en: ['a'] }, 2, 'x.json'), /2 classes but x\.json names 1/);
});
