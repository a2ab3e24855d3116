/**
 * What a photo's tags and keywords are, derived from its stored class
 * scores, so that changing `--top-k`, `--min-score`, `--lang` or the category
 * mapping later re-derives every photo in seconds, without running the model
 * again. The index keeps each photo's highest class scores (`keptScores`);
 * categories are summed from them. Pure functions.
 */
import type { LabelLanguage } from '../types.js';
import type { CategoryMap, Names } from './categories.js';
import type { Keywords } from './xmp.js';

/** One stored class score. */
export interface ClassScore {
  index: number;
  score: number;
}

/** One tag of a photo: a fine label or a coarse category, in both languages. */
export interface TagRow {
  kind: 'label' | 'category';
  classIndex: number | null;
  en: string;
  zh: string;
  score: number;
}

/** How tags are chosen. */
export interface TagSettings {
  topK: number;
  minScore: number;
}

/** The most class scores kept per photo; `--top-k` up to this can be re-derived. */
export const MAX_KEPT = 50;
const MIN_KEPT = 10;
const KEPT_MASS = 0.999;
const KEPT_FLOOR = 1e-4;

/**
 * The class scores worth keeping, highest first: at least 10, then until they
 * hold 99.9% of the probability or fall below 1e-4, at most 50.
 */
export function keptScores(probabilities: ArrayLike<number>): ClassScore[] {
  const order = Array.from({ length: probabilities.length }, (_, i) => i).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
  const kept: ClassScore[] = [];
  let mass = 0;
  for (const index of order) {
    const score = probabilities[index];
    if (kept.length >= MAX_KEPT || (kept.length >= MIN_KEPT && (mass >= KEPT_MASS || score < KEPT_FLOOR))) break;
    kept.push({ index, score });
    mass += score;
  }
  return kept;
}

/** Whether tags under `settings` can be derived from kept scores (else the model must run again). */
export function derivable(settings: TagSettings): boolean {
  return settings.topK <= MAX_KEPT;
}

/** The key of the derived tags: photos tagged under another key are derived again. */
export function tagsKey(settings: TagSettings, categories: CategoryMap): string {
  return JSON.stringify({ topK: settings.topK, minScore: settings.minScore, categories: categories.digest });
}

/**
 * Tags for one photo: its top-k labels (the first always, the others at
 * `minScore` or more) and its top 3 categories (the first always).
 */
export function deriveTags(scores: readonly ClassScore[], labels: { en: readonly string[]; zh: readonly string[] }, categories: CategoryMap, settings: TagSettings): TagRow[] {
  const ranked = [...scores].sort((a, b) => b.score - a.score || a.index - b.index);
  const tags: TagRow[] = ranked
    .slice(0, settings.topK)
    .filter((s, i) => i === 0 || s.score >= settings.minScore)
    .map((s) => ({ kind: 'label', classIndex: s.index, en: labels.en[s.index], zh: labels.zh[s.index] ?? labels.en[s.index], score: s.score }));
  const sums = new Map<ReturnType<CategoryMap['categoryOf']>, number>();
  for (const s of ranked) {
    const c = categories.categoryOf(s.index);
    sums.set(c, (sums.get(c) ?? 0) + s.score);
  }
  const cats = [...sums].sort((a, b) => b[1] - a[1]).filter(([, score], i) => i < 3 && (i === 0 || score >= settings.minScore));
  for (const [c, score] of cats) tags.push({ kind: 'category', classIndex: null, en: c.en, zh: c.zh, score });
  return tags;
}

/** A hierarchy path without repeated levels (`food|food|trifle` → `food|trifle`). */
export function hierarchyOf(levels: readonly string[]): string[] {
  const out: string[] = [];
  for (const level of levels) if (level && !out.includes(level)) out.push(level);
  return out;
}

/** XMP keywords for a photo's tags in the chosen language(s): flat, and paths under the category hierarchy. */
export function keywordsFor(tags: readonly TagRow[], categories: CategoryMap, lang: LabelLanguage): Keywords {
  const langs: (keyof Names)[] = lang === 'both' ? ['en', 'zh'] : [lang];
  const flat: string[] = [];
  const hierarchical: string[][] = [];
  for (const t of tags) {
    for (const l of langs) flat.push(t[l]);
    if (t.kind === 'label' && t.classIndex !== null) {
      const c = categories.categoryOf(t.classIndex);
      for (const l of langs) hierarchical.push(hierarchyOf([c.parent?.[l] ?? '', c[l], t[l]]));
    }
  }
  return { flat: [...new Set(flat)], hierarchical };
}
