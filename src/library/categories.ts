/**
 * Coarse categories: a user-editable JSON file rolls the model's classes up
 * into everyday groups (dog, bird, vehicle, food, …). A category's score is
 * the sum of its classes' probabilities.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ResnetServeError } from '../errors.js';

/** A name in English and Chinese. */
export interface Names {
  en: string;
  zh: string;
}

/** One category and the group above it (for hierarchical keywords). */
export interface Category extends Names {
  parent?: Names;
}

/** A category with its summed probability. */
export interface CategoryScore {
  category: Category;
  score: number;
}

/** The JSON form of a mapping (`data/categories.json`). */
export interface CategoryDocument {
  fallback?: Names;
  categories?: (Category & { classes: (number | string)[] })[];
}

/** Maps class indices to categories. */
export class CategoryMap {
  /** A short hash of the mapping: tags derived under another mapping are derived again. */
  readonly digest: string;

  private constructor(
    private readonly byClass: Category[],
    readonly categories: Category[],
    private readonly fallback: Category,
  ) {
    const ids = new Map(categories.map((c, i) => [c, i]));
    this.digest = createHash('sha256').update(JSON.stringify([categories, byClass.map((c) => ids.get(c))])).digest('hex').slice(0, 16);
  }

  /** The shipped ImageNet mapping. */
  static imagenet(): CategoryMap {
    return CategoryMap.fromFile(new URL('../../data/categories.json', import.meta.url), 1000);
  }

  /** No categories: every class falls under "other" (models with their own classes and no mapping). */
  static none(numClasses: number): CategoryMap {
    const other: Category = { en: 'other', zh: '其他' };
    return new CategoryMap(new Array(numClasses).fill(other), [other], other);
  }

  /** Reads a mapping file (see data/categories.json for the format) for a model with `numClasses` classes. */
  static fromFile(path: string | URL, numClasses: number): CategoryMap {
    let doc: CategoryDocument;
    try {
      doc = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ResnetServeError('INVALID_ARGUMENT', `Cannot read the category file ${String(path)}: ${(err as Error).message}`);
    }
    return CategoryMap.fromDocument(doc, numClasses, `Category file ${String(path)}`);
  }

  /** A mapping from its JSON document (the file's format); `label` names it in messages. */
  static fromDocument(doc: CategoryDocument, numClasses: number, label = 'Category mapping'): CategoryMap {
    const bad = (why: string): ResnetServeError => new ResnetServeError('INVALID_ARGUMENT', `${label}: ${why}`);
    if (!doc || typeof doc !== 'object') throw bad('it must be a JSON object');
    if (!Array.isArray(doc.categories)) throw bad('"categories" must be an array');
    const fallback: Category = { en: doc.fallback?.en ?? 'other', zh: doc.fallback?.zh ?? '其他' };
    const byClass: Category[] = new Array(numClasses).fill(fallback);
    const categories: Category[] = [];
    for (const c of doc.categories) {
      if (typeof c.en !== 'string' || !c.en || typeof c.zh !== 'string' || !Array.isArray(c.classes)) throw bad('each category needs "en", "zh" and "classes"');
      const category: Category = { en: c.en, zh: c.zh, parent: c.parent };
      categories.push(category);
      for (const item of c.classes) {
        const [from, to] = String(item).split('-').map(Number);
        const end = to ?? from;
        if (!Number.isInteger(from) || !Number.isInteger(end) || from < 0 || end >= numClasses || end < from) throw bad(`class "${item}" of ${c.en} is not an index or range within 0-${numClasses - 1}`);
        for (let i = from; i <= end; i++) {
          if (byClass[i] !== fallback) throw bad(`class ${i} is in both ${byClass[i].en} and ${c.en}; each class belongs to one category`);
          byClass[i] = category;
        }
      }
    }
    if (byClass.includes(fallback)) categories.push(fallback);
    return new CategoryMap(byClass, categories, fallback);
  }

  /** The mapping as a JSON document (kept in a photo index, so search needs no file). */
  toDocument(): CategoryDocument {
    const members = this.categories.map((c) => this.membersOf(c));
    const isFallback = (i: number): boolean => this.categories[i] === this.fallback;
    return {
      fallback: { en: this.fallback.en, zh: this.fallback.zh },
      categories: this.categories.flatMap((c, i) => (isFallback(i) ? [] : [{ en: c.en, zh: c.zh, ...(c.parent ? { parent: c.parent } : {}), classes: members[i] }])),
    };
  }

  /** The classes of `category`, ascending. */
  membersOf(category: Category): number[] {
    const out: number[] = [];
    this.byClass.forEach((c, i) => {
      if (c === category) out.push(i);
    });
    return out;
  }

  /** The category of class `index`. */
  categoryOf(index: number): Category {
    return this.byClass[index];
  }

  /** Categories ranked by summed probability (`probabilities` indexed by class). */
  aggregate(probabilities: ArrayLike<number>): CategoryScore[] {
    const sums = new Map<Category, number>();
    for (let i = 0; i < probabilities.length; i++) {
      const c = this.byClass[i];
      sums.set(c, (sums.get(c) ?? 0) + probabilities[i]);
    }
    return [...sums].map(([category, score]) => ({ category, score })).sort((a, b) => b.score - a.score);
  }
}
