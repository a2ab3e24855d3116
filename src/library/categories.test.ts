import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { imagenetLabels } from '../labels/labels.js';
import { CategoryMap } from './categories.js';
import { scratchDir } from '../testing/scratch.js';

const SHIPPED = new URL('../../data/categories.json', import.meta.url);

function listedIndices(item: number | string): number[] {
  const [from, to] = String(item).split('-').map(Number);
  return Array.from({ length: (to ?? from) - from + 1 }, (_, i) => from + i);
}

describe('categories', () => {
  test('the shipped file lists every ImageNet class exactly once', () => {
    const doc = JSON.parse(readFileSync(SHIPPED, 'utf8')) as { categories: { en: string; classes: (number | string)[] }[] };
    const count = new Array<number>(1000).fill(0);
    for (const c of doc.categories) for (const item of c.classes) for (const i of listedIndices(item)) count[i]++;
    const missing = count.flatMap((n, i) => (n === 0 ? [i] : []));
    const twice = count.flatMap((n, i) => (n > 1 ? [i] : []));
    assert.deepEqual(missing, [], 'classes in no category');
    assert.deepEqual(twice, [], 'classes in more than one category');
  });

  test('classes sit in the group a person would look for them in', () => {
    const map = CategoryMap.imagenet();
    const { en } = imagenetLabels();
    const of = (name: string): string => map.categoryOf(en.indexOf(name)).en;
    for (const farm of ['hog', 'ox', 'ram', 'sorrel', 'water buffalo']) assert.equal(of(farm), 'farm animal', farm);
    for (const pet of ['hamster', 'guinea pig', 'Angora']) assert.equal(of(pet), 'small pet', pet);
    for (const name of ['snail', 'slug']) assert.notEqual(of(name), 'sea life', name);
    for (const name of ['stage', 'theater curtain', 'book jacket', 'menu']) assert.notEqual(of(name), 'sports and toys', name);
    assert.notEqual(of('bubble'), 'landscape');
    assert.notEqual(of('beaker'), 'kitchenware');
    for (const name of ['medicine chest', 'pedestal', 'turnstile', 'brass']) assert.notEqual(of(name), 'tool', name);
    for (const name of ['neck brace', 'oxygen mask']) assert.notEqual(of(name), 'clothing and accessories', name);
    assert.equal(of('pick'), 'musical instrument');
    assert.equal(of('tarantula'), 'insects and spiders');
    assert.equal(map.categoryOf(en.indexOf('tarantula')).zh, '昆虫和蜘蛛');
    assert.equal(of('golden retriever'), 'dog');
    assert.equal(map.categoryOf(en.indexOf('tabby')).zh, '猫');
    assert.equal(of('sports car'), 'vehicle');
  });

  test('a category score is the sum of its classes', () => {
    const map = CategoryMap.imagenet();
    const p = new Float64Array(1000);
    p[207] = 0.5;
    p[208] = 0.3;
    p[281] = 0.2;
    const [top, next] = map.aggregate(p);
    assert.equal(top.category.en, 'dog');
    assert.ok(Math.abs(top.score - 0.8) < 1e-12);
    assert.equal(next.category.en, 'cat');
  });

  test('a user mapping replaces it; bad mappings and a class listed twice are refused', async () => {
    const dir = await scratchDir('rs-cat-');
    const file = join(dir, 'trade.json');
    writeFileSync(file, JSON.stringify({ fallback: { en: 'other part', zh: '其他零件' }, categories: [{ en: 'fastener', zh: '紧固件', classes: ['0-1'] }] }));
    const map = CategoryMap.fromFile(file, 3);
    assert.equal(map.categoryOf(1).en, 'fastener');
    assert.equal(map.categoryOf(2).en, 'other part');
    writeFileSync(file, JSON.stringify({ categories: [{ en: 'x', zh: 'x', classes: ['5-2'] }] }));
    assert.throws(() => CategoryMap.fromFile(file, 3), /class "5-2"/);
    writeFileSync(file, JSON.stringify({ categories: [{ en: 'a', zh: 'a', classes: ['0-1'] }, { en: 'b', zh: 'b', classes: [1] }] }));
    assert.throws(() => CategoryMap.fromFile(file, 3), /class 1 is in both a and b/);
  });
});
