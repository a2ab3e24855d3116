import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isResnetServeError } from '../errors.js';
import { imagenetLabels } from '../labels/labels.js';
import { CategoryMap } from './categories.js';
import { checkQuery, defaultSynonyms, editDistance, QueryResolver, wordForms } from './query.js';

const labels = imagenetLabels();
const resolver = new QueryResolver({ en: labels.en, zh: labels.zh ?? labels.en, categories: CategoryMap.imagenet(), synonyms: defaultSynonyms() });
const names = (term: string): string[] => [...(resolver.resolve(term)?.classes ?? [])].map((i) => labels.en[i]);

test('plurals: the forms a word may be the plural of', () => {
  for (const [plural, singular] of [['dogs', 'dog'], ['berries', 'berry'], ['knives', 'knife'], ['wolves', 'wolf'], ['boxes', 'box'], ['buses', 'bus'], ['mice', 'mouse'], ['people', 'person']]) {
    assert.ok(wordForms(plural).includes(singular), `${plural} → ${singular}`);
  }
  assert.deepEqual(wordForms('glass'), ['glass'], 'not a plural');
});

test('whole words: cat is not catamaran, tiger is not tiger shark, beach is not beach wagon', () => {
  assert.deepEqual(names('cat').sort(), ['Egyptian cat', 'Persian cat', 'Siamese cat', 'tabby', 'tiger cat']);
  assert.ok(!names('cats').includes('catamaran'));
  assert.deepEqual(names('tiger'), ['tiger']);
  assert.ok(!names('beach').includes('beach wagon'));
  assert.ok(names('beach').includes('seashore'));
  assert.deepEqual(names('retrievers').sort(), ['Chesapeake Bay retriever', 'Labrador retriever', 'curly-coated retriever', 'flat-coated retriever', 'golden retriever']);
  // A modifier is found when nothing is named by it.
  assert.ok(names('golden').includes('golden retriever'));
});

test("a possessive is the word it belongs to: dog's is dog, carpenter's kit is found as written", () => {
  const asTyped = (words: string): string[] => names(checkQuery([words])[0]);
  assert.deepEqual(asTyped("dog's"), names('dog'));
  assert.deepEqual(asTyped('dog\u2019s'), names('dog'));
  assert.deepEqual(asTyped("carpenter's kit"), ["carpenter's kit"]);
  assert.deepEqual(asTyped('jack-o-lantern'), ["jack-o'-lantern"]);
});

test('everyday Chinese words find what their English words find: 乌龟 turtle, 青蛙 frog, 鲨鱼 shark, 鹰 eagle', () => {
  for (const [zh, en] of [['乌龟', 'turtle'], ['青蛙', 'frog'], ['鲨鱼', 'shark'], ['鹰', 'eagle'], ['狗', 'dog'], ['蛇', 'snake']]) {
    assert.ok(names(en).length > 0, en);
    assert.deepEqual(names(zh).sort(), names(en).sort(), zh);
  }
  // Every turtle, not only those whose English name ends in "turtle".
  assert.ok(names('turtles').includes('loggerhead') && names('turtles').includes('terrapin'));
});

test('Chinese: the head of a name, so 山 is a mountain and never 山雀 (a chickadee); 金毛 finds the golden retriever', () => {
  assert.ok(names('山').includes('alp'));
  assert.ok(!names('山').includes('chickadee'));
  assert.ok(names('猫').includes('tabby') && !names('猫').includes('giant panda'), '猫 is not 熊猫');
  assert.deepEqual(names('金毛'), ['golden retriever']);
  assert.equal(names('汽车').length, names('car').length);
  assert.deepEqual(names('海滩').sort(), names('beach').sort());
});

test('everyday words and categories: car, food, flower, dog, bird', () => {
  assert.ok(names('car').includes('sports car') && names('car').includes('cab') && !names('car').includes('car wheel'));
  assert.ok(names('food').includes('pizza') && !names('food').includes('red wine'));
  assert.ok(names('flowers').includes('daisy'));
  assert.equal(names('dog').length, 118);
  assert.equal(names('狗').length, 118);
  assert.ok(names('birds').includes('goldfinch'));
  assert.ok(names('instrument').includes('violin'), 'a word of a category name');
  assert.deepEqual(names('berries').sort(), ['hip', 'strawberry'], 'a plural of a synonym');
  assert.deepEqual(names('tram'), ['streetcar']);
  assert.equal(resolver.resolve('zzxqv'), null);
});

test("with the user's own categories (tag --labels), everyday words still mean the shipped categories' classes", () => {
  // "dog" renamed to "pooch", and only one other category kept: "puppy" and "狗" must still find the dogs, "bird" the birds.
  const shipped = CategoryMap.imagenet();
  const dog = shipped.categories.find((c) => c.en === 'dog');
  assert.ok(dog);
  const own = CategoryMap.fromDocument({ categories: [{ en: 'pooch', zh: '狗狗', classes: shipped.membersOf(dog) }] }, 1000);
  const mine = new QueryResolver({ en: labels.en, zh: labels.zh ?? labels.en, categories: own, synonyms: defaultSynonyms() });
  const mineNames = (term: string): string[] => [...(mine.resolve(term)?.classes ?? [])].map((i) => labels.en[i]).sort();
  for (const word of ['dog', 'puppy', '狗']) assert.deepEqual(mineNames(word), names('dog').sort(), word);
  assert.deepEqual(mineNames('bird'), names('bird').sort());
  assert.deepEqual(mineNames('pooch'), names('dog').sort(), 'the user\'s own category name');
});

test('phrases: two words naming one thing together are one term', () => {
  const parsed = resolver.parse(['golden', 'retriever']);
  assert.equal(parsed.concepts.length, 1);
  assert.deepEqual([...parsed.concepts[0].classes].map((i) => labels.en[i]), ['golden retriever']);
  const two = resolver.parse(['dog', 'beach']);
  assert.equal(two.concepts.length, 2);
  assert.deepEqual(resolver.parse(['dog', 'zzxqv']).unknown, ['zzxqv']);
});

test('what would match everything is refused: %, _, an empty word, one letter', () => {
  // A word with no letter, and one with a single letter, each have their own code, so the page can say why in Chinese too.
  for (const bad of [['%'], ['_'], [''], [' '], ['dog', '%%']]) {
    assert.throws(() => checkQuery(bad), (err) => isResnetServeError(err, 'QUERY_NO_WORDS'), JSON.stringify(bad));
  }
  for (const bad of [['a'], ['d%g'], ['a.b.c']]) {
    assert.throws(() => checkQuery(bad), (err) => isResnetServeError(err, 'QUERY_TOO_SHORT'), JSON.stringify(bad));
  }
  assert.throws(() => checkQuery([]), (err) => isResnetServeError(err, 'INVALID_ARGUMENT'));
  assert.deepEqual(checkQuery(['Dogs!', '花', 'T-shirt']), ['dogs', '花', 't shirt']);
});

test('every class and category the synonym list names exists', () => {
  const categories = new Set(CategoryMap.imagenet().categories.map((c) => c.en));
  for (const entry of defaultSynonyms()) {
    for (const name of [...(entry.classes ?? []), ...(entry.except ?? [])]) assert.ok(labels.en.includes(name), `class "${name}"`);
    for (const name of entry.categories ?? []) assert.ok(categories.has(name), `category "${name}"`);
  }
});

test('edit distance: a swap of neighbouring letters is one edit; it stops past the limit', () => {
  assert.equal(editDistance('dgo', 'dog'), 1);
  assert.equal(editDistance('retreiver', 'retriever'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('same', 'same'), 0);
  assert.equal(editDistance('abcdefgh', 'zyxwvuts', 2), 3, 'past the limit: limit + 1');
});

test('a mistyped word gets the vocabulary word it is closest to; a real or far-off word gets none', () => {
  assert.equal(resolver.suggest('dgo'), 'dog');
  assert.equal(resolver.suggest('retreiver'), 'retriever');
  assert.equal(resolver.suggest('volcanoe'), 'volcano');
  assert.equal(resolver.suggest('zzxqv'), null);
  for (const word of ['sunset', 'wedding', 'grandma']) assert.equal(resolver.suggest(word), null, `${word} is a word, not a typo`);
  assert.equal(resolver.suggest('狗狗狗'), null, 'no guesses for Chinese');
  assert.equal(resolver.suggest('ab'), null, 'too short to guess');
  assert.ok(resolver.resolve(resolver.suggest('bycicle') ?? 'x'), 'a suggestion is always something a search finds');
});

test("ImageNet's other names of a class find it, as words or phrases: hot dog, teddy bear, polar bear, fire truck, race car, cell phone", () => {
  const found = (words: string): string[] => {
    const { concepts, unknown } = resolver.parse(words.split(' '));
    assert.deepEqual(unknown, [], words);
    return labels.en.filter((_, i) => concepts.every((c) => c.classes.has(i)));
  };
  assert.deepEqual(found('hot dog'), ['hotdog']);
  assert.deepEqual(found('teddy bear'), ['teddy']);
  assert.deepEqual(found('polar bear'), ['ice bear']);
  assert.deepEqual(found('fire truck'), ['fire engine']);
  assert.deepEqual(found('race car'), ['racer']);
  assert.deepEqual(found('cell phone'), ['cellular telephone']);
  // "bear" still means the bears, by their names.
  assert.ok(found('bear').includes('ice bear') && found('bear').includes('brown bear'));
  // Only for ImageNet's own names: a label set of the user's own that renames a class does not get its old synonyms.
  const renamed = labels.en.map((n) => (n === 'hotdog' ? 'sausage in a bun' : n));
  const own = new QueryResolver({ en: renamed, zh: labels.zh ?? labels.en, categories: CategoryMap.imagenet(), synonyms: defaultSynonyms() });
  assert.equal(own.resolve('hot dog'), null);
});
