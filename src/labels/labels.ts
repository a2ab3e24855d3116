/**
 * Class names. ImageNet's 1000 classes ship in English (torchvision's names
 * and order, and WordNet's other names of each class, for search) and Chinese
 * (the project's own translation); a model with other classes brings its own
 * names through its sidecar JSON.
 */
import { readFileSync } from 'node:fs';
import { ResnetServeError } from '../errors.js';
import type { LabelLanguage, Prediction } from '../types.js';
import type { RankedIndex } from '../classify/postprocess.js';

/** Names of a model's classes, in output order. */
export interface LabelSet {
  en: readonly string[];
  /** Chinese names, when known; English is used where missing. */
  zh?: readonly string[];
}

const dataDir = new URL('../../data/labels/', import.meta.url);

/** Reads a one-name-per-line file; blank trailing lines are ignored. */
export function readLabelFile(path: string | URL): string[] {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  return lines.map((l) => l.trim());
}

let imagenet: LabelSet | null = null;

/** The 1000 ImageNet classes in English and Chinese (read once). */
export function imagenetLabels(): LabelSet {
  imagenet ??= {
    en: Object.freeze(readLabelFile(new URL('imagenet-en.txt', dataDir))),
    zh: Object.freeze(readLabelFile(new URL('imagenet-zh.txt', dataDir))),
  };
  return imagenet;
}

let alternates: readonly (readonly string[])[] | null = null;

/**
 * The other English names of each ImageNet class, in class order (WordNet's
 * synonyms of its synset: "hot dog" for "hotdog", "polar bear" for "ice
 * bear"); empty for a class that has none. For search, never shown.
 */
export function imagenetAlternates(): readonly (readonly string[])[] {
  alternates ??= Object.freeze(
    readFileSync(new URL('imagenet-en-alternates.txt', dataDir), 'utf8')
      .split(/\r?\n/)
      .slice(0, imagenetLabels().en.length)
      .map((line) => Object.freeze(line.split(',').map((n) => n.trim()).filter(Boolean))),
  );
  return alternates;
}

/** Checks that a label set names exactly `numClasses` classes. */
export function checkLabelSet(labels: LabelSet, numClasses: number, source: string): void {
  if (labels.en.length !== numClasses) {
    throw new ResnetServeError('MODEL_INVALID', `The model has ${numClasses} classes but ${source} names ${labels.en.length}; give a labels list with one name per class`);
  }
  if (labels.zh && labels.zh.length !== numClasses) {
    throw new ResnetServeError('MODEL_INVALID', `The model has ${numClasses} classes but ${source} has ${labels.zh.length} Chinese names`);
  }
}

/** Turns ranked indices into predictions with labels in `lang`. */
export function labelPredictions(ranked: readonly RankedIndex[], labels: LabelSet, lang: LabelLanguage): Prediction[] {
  return ranked.map(({ index, score }) => {
    const en = labels.en[index];
    const zh = labels.zh?.[index] || en;
    if (lang === 'zh') return { index, label: zh, score };
    if (lang === 'both') return { index, label: en, label_zh: zh, score };
    return { index, label: en, score };
  });
}
