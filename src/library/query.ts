/**
 * What a search means: each word (or phrase) of a query becomes a set of
 * classes. People type everyday words ("car", "beach", "狗", "花") and
 * ImageNet has none of them as a class, so words are resolved in order, the
 * first rule that matches winning:
 * 1. the synonym list (`data/synonyms.json`): car → the passenger-car classes;
 * 2. a category's name: dog → every dog breed;
 * 3. the head of a class name: English compounds and Chinese names end with
 *    what they are ("golden retriever" is a retriever, "tiger cat" a cat,
 *    "山雀" (chickadee) a bird, not a mountain), so "retriever" finds the
 *    retrievers, and "cat" never finds "catamaran" or "tiger shark"; an
 *    ImageNet class's other names count ("hot dog", "teddy bear", "polar
 *    bear", "fire truck");
 * 4. any whole word of a class name ("golden"; in Chinese, any part: "金毛");
 * 5. a word of a category's name ("instrument").
 * Words match case-insensitively, without accents, and in either number
 * ("dogs", "berries", "knives"). The synonym list's categories are the
 * shipped ones: with a mapping of the user's own (`tag --labels`) that renames
 * or leaves out "dog", "puppy" still finds the dog breeds. Pure functions but
 * for the shipped lists, read once.
 */
import { readFileSync } from 'node:fs';
import { ResnetServeError } from '../errors.js';
import { CategoryMap } from './categories.js';
import { imagenetAlternates, imagenetLabels } from '../labels/labels.js';

/** The names a query is matched against. */
export interface Vocabulary {
  en: readonly string[];
  zh: readonly string[];
  categories: CategoryMap;
  synonyms: readonly SynonymEntry[];
}

/** One entry of the synonym list. */
export interface SynonymEntry {
  words: string[];
  classes?: string[];
  categories?: string[];
  except?: string[];
}

/** What one term of a query means. */
export interface Concept {
  term: string;
  classes: Set<number>;
  /** How it was matched: `synonym`, `category`, `name`, `name word`, `category word`. */
  via: string;
}

/** The shipped synonym list. */
export function defaultSynonyms(): SynonymEntry[] {
  const doc = JSON.parse(readFileSync(new URL('../../data/synonyms.json', import.meta.url), 'utf8')) as { entries: SynonymEntry[] };
  return doc.entries;
}

let shipped: { categories: CategoryMap; en: readonly string[] } | undefined;

/** The ImageNet class names of a category of the shipped mapping (`data/categories.json`), which the synonym list names. */
function shippedCategory(name: string): string[] {
  const { categories, en } = (shipped ??= { categories: CategoryMap.imagenet(), en: imagenetLabels().en });
  const category = categories.categories.find((c) => c.en === name);
  return category ? categories.membersOf(category).map((i) => en[i]) : [];
}

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/u;
const IRREGULAR: Record<string, string> = { men: 'man', women: 'woman', children: 'child', people: 'person', mice: 'mouse', geese: 'goose', teeth: 'tooth', feet: 'foot', oxen: 'ox', dice: 'die' };

/** Lower case, accents, possessives (dog's → dog) and punctuation gone, words separated by single spaces. */
export function normalize(text: string): string {
  return text
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/(\p{L})['’]s\b/gu, '$1')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** A word and the singulars it may be the plural of. */
export function wordForms(word: string): string[] {
  const forms = new Set([word]);
  if (IRREGULAR[word]) forms.add(IRREGULAR[word]);
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss')) forms.add(word.slice(0, -1));
  if (word.length > 4 && /(s|x|z|ch|sh|o)es$/.test(word)) forms.add(word.slice(0, -2));
  if (word.length > 4 && word.endsWith('ies')) forms.add(`${word.slice(0, -3)}y`);
  if (word.length > 4 && word.endsWith('ves')) {
    forms.add(`${word.slice(0, -3)}f`);
    forms.add(`${word.slice(0, -3)}fe`);
  }
  return [...forms];
}

/** A term's forms (English terms: each word's last word in its singular forms). */
function termForms(term: string): string[] {
  const words = term.split(' ');
  const last = words.pop() as string;
  return wordForms(last).map((w) => [...words, w].join(' '));
}

const endsWithWords = (name: string, term: string): boolean => name === term || name.endsWith(` ${term}`);
const hasWords = (name: string, term: string): boolean => endsWithWords(name, term) || name.startsWith(`${term} `) || name.includes(` ${term} `);

/** Checks a query's words: none empty, no lone Latin letter, something to match. */
export function checkQuery(words: readonly string[]): string[] {
  if (words.length === 0) throw new ResnetServeError('INVALID_ARGUMENT', 'Search needs at least one word');
  return words.map((raw) => {
    const word = normalize(String(raw));
    if (!word) throw new ResnetServeError('QUERY_NO_WORDS', `Nothing to search for in ${JSON.stringify(raw)}: give words (letters or characters), not only punctuation`);
    // "t shirt" (T-shirt) has a word to search for; "d g" (d%g) has none.
    if (!CJK.test(word) && word.split(' ').every((part) => part.length < 2)) throw new ResnetServeError('QUERY_TOO_SHORT', `${JSON.stringify(raw)} is too short to search for: give a word of at least 2 letters (or one Chinese character)`);
    return word;
  });
}

/**
 * Edit distance between two words, counting a swap of two neighbouring
 * letters as one edit ("dgo" → "dog"); stops early past `limit`.
 */
export function editDistance(a: string, b: string, limit = Infinity): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j], before[j - 2] + 1);
    }
    if (Math.min(...row) > limit) return limit + 1;
    before = previous;
    previous = row;
  }
  return previous[b.length];
}

function byName(names: readonly string[]): Map<string, number> {
  const out = new Map<string, number>();
  names.forEach((n, i) => out.set(n, i));
  return out;
}

/** Resolves queries against one vocabulary (built once, used for many queries). */
export class QueryResolver {
  private readonly en: string[];
  /** Each class's English name and, for an ImageNet class, its other names ("hot dog", "polar bear"). */
  private readonly enNames: string[][];
  private readonly zh: string[];
  private readonly categoryNames: { en: string; zh: string; classes: number[] }[];
  private readonly classByName: Map<string, number>;

  constructor(private readonly vocabulary: Vocabulary) {
    this.classByName = byName(vocabulary.en);
    this.en = vocabulary.en.map(normalize);
    const imagenet = imagenetLabels().en;
    const others = imagenetAlternates();
    this.enNames = this.en.map((name, i) => (vocabulary.en[i] === imagenet[i] ? [name, ...others[i].map(normalize)] : [name]));
    this.zh = vocabulary.zh.map((n) => n.replace(/\s+/g, ''));
    const groups = new Map<string, { en: string; zh: string; classes: number[] }>();
    for (const c of vocabulary.categories.categories) {
      const members = vocabulary.categories.membersOf(c);
      groups.set(`${c.en}\u0000`, { en: normalize(c.en), zh: c.zh, classes: members });
      // A parent ("animal") is the union of its categories.
      if (c.parent) {
        const key = `${c.parent.en}\u0001`;
        const g = groups.get(key) ?? { en: normalize(c.parent.en), zh: c.parent.zh, classes: [] };
        g.classes.push(...members);
        groups.set(key, g);
      }
    }
    this.categoryNames = [...groups.values()];
  }

  private synonym(term: string): Set<number> | null {
    const names = this.classByName;
    const forms = CJK.test(term) ? [term.replace(/ /g, '')] : termForms(term);
    const entry = this.vocabulary.synonyms.find((e) => e.words.some((w) => forms.includes(CJK.test(w) ? w : normalize(w))));
    if (!entry) return null;
    const classes = new Set<number>();
    for (const name of entry.categories ?? []) {
      const category = this.vocabulary.categories.categories.find((c) => c.en === name);
      if (category) for (const i of this.vocabulary.categories.membersOf(category)) classes.add(i);
      // A category the index's own mapping lacks (a --labels file renamed or left it out): the shipped one's classes, by name.
      else for (const className of shippedCategory(name)) if (names.has(className)) classes.add(names.get(className) as number);
    }
    for (const name of entry.classes ?? []) if (names.has(name)) classes.add(names.get(name) as number);
    for (const name of entry.except ?? []) classes.delete(names.get(name) as number);
    return classes.size ? classes : null;
  }

  /** The classes a term means, and how it was matched; null when nothing matches. */
  resolve(term: string): Concept | null {
    const zh = CJK.test(term);
    const t = zh ? term.replace(/ /g, '') : term;
    const forms = zh ? [t] : termForms(t);
    const pick = (via: string, classes: Iterable<number>): Concept | null => {
      const set = new Set(classes);
      return set.size ? { term, classes: set, via } : null;
    };
    const indices = (test: (name: string, i: number) => boolean, names: readonly string[]): number[] => names.flatMap((n, i) => (test(n, i) ? [i] : []));
    const synonym = this.synonym(t);
    return (
      (synonym && pick('synonym', synonym)) ??
      pick('category', this.categoryNames.filter((c) => (zh ? c.zh === t : forms.includes(c.en))).flatMap((c) => c.classes)) ??
      pick('name', zh ? indices((n) => n.endsWith(t), this.zh) : this.enNames.flatMap((names, i) => (names.some((n) => forms.some((f) => endsWithWords(n, f))) ? [i] : []))) ??
      pick('name word', zh ? indices((n) => n.includes(t), this.zh) : indices((n) => forms.some((f) => hasWords(n, f)), this.en)) ??
      pick('category word', this.categoryNames.filter((c) => (zh ? c.zh.includes(t) : forms.some((f) => hasWords(c.en, f)))).flatMap((c) => c.classes))
    );
  }

  private wordList: string[] | undefined;

  /**
   * A word of the vocabulary close to a mistyped `word` ("retreiver" →
   * "retriever"): one edit for words of up to 4 letters, two for longer
   * ones when the first and last letters agree (typos keep them; "sunset"
   * is not a typo of "sussex", nor "wedding" of "vending"); null when none is
   * that close, or for Chinese.
   */
  suggest(word: string): string | null {
    const w = normalize(word);
    if (CJK.test(w) || w.length < 3) return null;
    this.wordList ??= [...new Set([...this.en, ...this.categoryNames.map((c) => c.en), ...this.vocabulary.synonyms.flatMap((e) => e.words.filter((x) => !CJK.test(x)).map(normalize))].flatMap((n) => n.split(/[\s-]+/)).filter((x) => x.length >= 3))].sort();
    const limit = w.length <= 4 ? 1 : 2;
    let best: { word: string; distance: number } | null = null;
    for (const candidate of this.wordList) {
      const d = editDistance(w, candidate, limit);
      const ends = w[0] === candidate[0] && w.at(-1) === candidate.at(-1);
      if (d <= limit && (d <= 1 || ends) && (!best || d < best.distance)) best = { word: candidate, distance: d };
    }
    return best && this.resolve(best.word) ? best.word : null;
  }

  /**
   * The concepts of a query: consecutive words are read as one phrase when
   * they name something together ("golden retriever", "sports car"), else
   * one by one. Words that match nothing are returned in `unknown`.
   */
  parse(words: readonly string[]): { concepts: Concept[]; unknown: string[] } {
    const terms = checkQuery(words).flatMap((w) => w.split(' '));
    const concepts: Concept[] = [];
    const unknown: string[] = [];
    for (let i = 0; i < terms.length; ) {
      let taken = 0;
      for (let n = Math.min(4, terms.length - i); n >= 1 && !taken; n--) {
        const concept = this.resolve(terms.slice(i, i + n).join(' '));
        // A phrase counts only as a whole name (or a synonym), not as scattered words.
        if (concept && (n === 1 || concept.via === 'synonym' || concept.via === 'name' || concept.via === 'category')) {
          concepts.push(concept);
          taken = n;
        }
      }
      if (!taken) {
        unknown.push(terms[i]);
        taken = 1;
      }
      i += taken;
    }
    return { concepts, unknown };
  }
}
