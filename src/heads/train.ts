/**
 * Training a head from labelled photos, already embedded: evaluation by
 * stratified k-fold cross-validation (or a stratified hold-out), a confusion
 * matrix, rejection calibrated on the same folds, then the final fit on every
 * photo. Deterministic for a given seed. Pure functions (no I/O).
 */
import { seededRandom } from '../seeded-random.js';
import { performance } from 'node:perf_hooks';
import { ResnetServeError, invalidArgument, refuseUnknownOptions } from '../errors.js';
import { Head, type Backbone, type TrainingSummary } from './head.js';
import { fitSoftmax, l2Normalize, predictProbabilities } from './logistic.js';
import { calibrateRejection, REJECTION_DEFAULTS } from './rejection.js';
import { namedLikeUnknown, noteText, type TrainingNote } from './training-notes.js';

/** One training photo: its head embedding (mean of the image's and its mirror's), the backbone's probabilities, its class. */
export interface TrainingExample {
  embedding: ArrayLike<number>;
  probabilities: ArrayLike<number>;
  label: number;
  /** The photo's content hash and name, to find the same photo given twice. */
  photo?: string;
  name?: string;
}

/** Classes with fewer photos than this get a warning. */
export const FEW_PHOTOS = 5;
/** A held-out photo answered as another class with at least this probability is named as perhaps in the wrong class. */
const ANSWERED_AS_OTHER = 0.8;
/** Names listed per such pair of classes. */
const NAMES_LISTED = 5;
/** Accuracy measured on fewer held-out photos than this gets a warning. */
const FEW_EVALUATED = 20;
/** Below this many photos in a class, the "unknown" rate of held-out photos says little about new ones (README, How well it learns). */
const FEW_FOR_UNKNOWN = 50;
/** "Unknown" is learned from photos of each class held out of the rest: a class of one photo has none to hold out. */
export const UNKNOWN_MIN_PHOTOS = 2;

/**
 * The same photo given twice in one class counts once (repeats would make the
 * measured accuracy look better than it is); the same photo in two classes is
 * kept in both, and warned about.
 */
export function dedupeExamples<T extends TrainingExample>(classes: readonly string[], examples: readonly T[]): { examples: T[]; notes: TrainingNote[] } {
  const notes: TrainingNote[] = [];
  const kept: T[] = [];
  const seen = new Map<string, { label: number; names: string[] }[]>();
  for (const e of examples) {
    if (e.photo === undefined) {
      kept.push(e);
      continue;
    }
    const entries = seen.get(e.photo) ?? [];
    const same = entries.find((x) => x.label === e.label);
    if (same) same.names.push(e.name ?? '?');
    else {
      entries.push({ label: e.label, names: [e.name ?? '?'] });
      kept.push(e);
    }
    seen.set(e.photo, entries);
  }
  for (const entries of seen.values()) {
    for (const x of entries) if (x.names.length > 1) notes.push({ code: 'REPEATED_IN_CLASS', class: classes[x.label], count: x.names.length, names: x.names });
    if (entries.length > 1) notes.push({ code: 'IN_SEVERAL_CLASSES', classes: entries.map((x) => classes[x.label]), names: [...new Set(entries.map((x) => x.names[0]))] });
  }
  return { examples: kept, notes };
}

/** How to train. */
export interface TrainOptions {
  /** Folds of cross-validation (default 5; fewer when a class has fewer photos). */
  folds?: number;
  /** Evaluate on this fraction held out instead (0 < h < 1). */
  holdout?: number;
  /** Learn "unknown" (default true). */
  reject?: boolean;
  /** Fraction of held-out training photos "unknown" may refuse (default `REJECTION_DEFAULTS.quantile`, 0.03). */
  rejectRate?: number;
  /** L2 strength (default {@link DEFAULT_LAMBDA}, per photo). */
  lambda?: number;
  seed?: number;
}

/**
 * The L2 strength heads are trained with: 3e-3 is where 5-fold
 * cross-validated accuracy peaked on hymenoptera with MobileNetV2's int8
 * numbers on a CPU with VNNI; 1e-3, the earlier default, was as good without
 * VNNI and one photo in 153 worse with it. Stronger penalties make the
 * probabilities shy (at 1e-2 half the val photos are under 75%).
 */
export const DEFAULT_LAMBDA = 3e-3;

/** The training options, with those of `trainHeadFromFolder` (its head's name, cache folder and progress). */
const TRAIN_OPTION_KEYS = ['folds', 'holdout', 'reject', 'rejectRate', 'lambda', 'seed', 'name', 'cacheDir', 'onProgress'];

/**
 * INVALID_ARGUMENT, naming the option, unless every training option given
 * is known and in range (checked before any photo is embedded): a NaN
 * strength or a fold count of 0 would otherwise give a head that says nothing.
 */
export function checkTrainOptions(options: TrainOptions & { name?: unknown }): void {
  refuseUnknownOptions(options, TRAIN_OPTION_KEYS, 'training');
  const { folds, holdout, reject, rejectRate, lambda, seed, name } = options;
  if (folds !== undefined && !(Number.isInteger(folds) && folds >= 2)) throw invalidArgument('folds', 'an integer of at least 2', folds);
  if (holdout !== undefined && !(typeof holdout === 'number' && holdout > 0 && holdout <= 0.5)) throw invalidArgument('holdout', 'a fraction above 0 and at most 0.5', holdout);
  if (folds !== undefined && holdout !== undefined) throw new ResnetServeError('INVALID_ARGUMENT', 'Give folds or holdout, not both');
  if (reject !== undefined && typeof reject !== 'boolean') throw invalidArgument('reject', 'true or false', reject);
  if (rejectRate !== undefined && !(typeof rejectRate === 'number' && rejectRate > 0 && rejectRate < 0.5)) throw invalidArgument('rejectRate', 'a fraction between 0 and 0.5', rejectRate);
  if (lambda !== undefined && !(typeof lambda === 'number' && Number.isFinite(lambda) && lambda > 0)) throw invalidArgument('lambda', 'a positive finite number', lambda);
  if (seed !== undefined && !Number.isInteger(seed)) throw invalidArgument('seed', 'an integer', seed);
  if (name !== undefined && !(typeof name === 'string' && name.trim() !== '')) throw invalidArgument('name', 'a non-empty string', name);
}

/** Most classes a head may have. */
export const MAX_CLASSES = 1000;

/** Stratified fold of each example: each class's photos, shuffled by `seed`, dealt round-robin. */
export function stratifiedFolds(labels: readonly number[], folds: number, seed: number): number[] {
  const rand = seededRandom(seed);
  const fold = new Array<number>(labels.length);
  const byClass = new Map<number, number[]>();
  labels.forEach((y, i) => byClass.set(y, [...(byClass.get(y) ?? []), i]));
  let offset = 0;
  for (const members of [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m)) {
    const order = members.map((i) => [rand(), i] as const).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
    order.forEach((i, r) => (fold[i] = (r + offset) % folds));
    offset += order.length;
  }
  return fold;
}

/** Throws INVALID_ARGUMENT unless `classes` are 2 to 1000 distinct names (checked before any photo is embedded). */
export function checkClasses(classes: readonly string[]): void {
  if (classes.length < 2) throw new ResnetServeError('INVALID_ARGUMENT', `A head needs at least 2 classes to tell apart; there ${classes.length === 1 ? `is only "${classes[0]}"` : 'are none'}`);
  if (classes.length > MAX_CLASSES) throw new ResnetServeError('INVALID_ARGUMENT', `A head has at most ${MAX_CLASSES} classes; there are ${classes.length}`);
  if (new Set(classes).size !== classes.length) throw new ResnetServeError('INVALID_ARGUMENT', 'Each class name may appear once');
}

/**
 * Trains a head on `examples` of `classes`. Throws INVALID_ARGUMENT for
 * fewer than 2 classes, more than 1000, or a class without photos.
 */
export function trainHead(name: string, classes: readonly string[], given: readonly TrainingExample[], backbone: Backbone, options: TrainOptions = {}): { head: Head; summary: TrainingSummary } {
  const started = performance.now();
  checkTrainOptions(options);
  checkClasses(classes);
  const deduped = dedupeExamples(classes, given);
  const examples = deduped.examples;
  const counts = classes.map((_, k) => examples.filter((e) => e.label === k).length);
  const empty = classes.filter((_, k) => counts[k] === 0);
  if (empty.length) throw new ResnetServeError('INVALID_ARGUMENT', `Every class needs photos; there are no photos in ${empty.map((c) => `"${c}"`).join(', ')}`);
  const lambda = options.lambda ?? DEFAULT_LAMBDA;
  const seed = options.seed ?? 1;
  const x = examples.map((e) => l2Normalize(e.embedding));
  const y = examples.map((e) => e.label);
  const k = classes.length;

  // Evaluation: k-fold CV by default (folds capped by the smallest class), or a stratified hold-out.
  const smallest = Math.min(...counts);
  const folds = options.holdout !== undefined ? Math.max(2, Math.round(1 / options.holdout)) : Math.min(options.folds ?? 5, smallest);
  const confusion = classes.map(() => new Array<number>(k).fill(0));
  let evaluated = 0;
  let correct = 0;
  // Held-out photos answered confidently as another class, by (class, answer): often a photo in the wrong folder.
  const elsewhere = new Map<string, { label: number; best: number; names: string[]; count: number }>();
  const foldOf = folds >= 2 ? stratifiedFolds(y, folds, seed) : null;
  // The fit on every photo first: each fold's fit starts from it and converges in a few steps.
  const { model } = fitSoftmax(x, y, k, { lambda });
  if (foldOf) {
    const testFolds = options.holdout !== undefined ? [0] : Array.from({ length: folds }, (_, f) => f);
    for (const f of testFolds) {
      const trainIdx = y.map((_, i) => i).filter((i) => foldOf[i] !== f);
      // A looser tolerance is plenty for estimating accuracy (the answers do not change).
      const fold = fitSoftmax(trainIdx.map((i) => x[i]), trainIdx.map((i) => y[i]), k, { lambda, start: model, tolerance: 1e-4 }).model;
      for (let i = 0; i < x.length; i++) {
        if (foldOf[i] !== f) continue;
        const p = predictProbabilities(fold, x[i]);
        let best = 0;
        for (let c = 1; c < k; c++) if (p[c] > p[best]) best = c;
        confusion[y[i]][best]++;
        evaluated++;
        if (best === y[i]) correct++;
        else if (p[best] >= ANSWERED_AS_OTHER) {
          const key = `${y[i]} ${best}`;
          let pair = elsewhere.get(key);
          if (!pair) elsewhere.set(key, (pair = { label: y[i], best, names: [], count: 0 }));
          pair.count++;
          if (pair.names.length < NAMES_LISTED) pair.names.push(examples[i].name ?? `#${i + 1}`);
        }
      }
    }
  }

  let rejection = null;
  let rejectedHeldOut: number | undefined;
  const single = classes.filter((_, i) => counts[i] < UNKNOWN_MIN_PHOTOS);
  if (options.reject !== false && single.length === 0) {
    const calibrationFolds = foldOf && folds >= 2 ? foldOf : y.map((_, i) => i % 2);
    rejection = calibrateRejection(x, examples.map((e) => e.probabilities), (i) => calibrationFolds[i], foldOf ? folds : 2, { k: REJECTION_DEFAULTS.k, quantile: options.rejectRate ?? REJECTION_DEFAULTS.quantile });
    rejectedHeldOut = rejection.heldOutRejected;
  }
  const notes: TrainingNote[] = [
    ...classes.flatMap((c, i): TrainingNote[] => (counts[i] < FEW_PHOTOS ? [{ code: 'FEW_PHOTOS', class: c, count: counts[i], min: FEW_PHOTOS }] : [])),
    ...deduped.notes,
    ...(evaluated > 0 && evaluated < FEW_EVALUATED ? [{ code: 'FEW_EVALUATED' as const, count: evaluated }] : []),
    ...[...elsewhere.values()].map((e) => ({ code: 'ANSWERED_AS_OTHER' as const, class: classes[e.label], other: classes[e.best], count: e.count, names: e.names, min: ANSWERED_AS_OTHER })),
    ...(options.reject !== false && single.length ? [{ code: 'UNKNOWN_OFF' as const, classes: single, min: UNKNOWN_MIN_PHOTOS }] : []),
    ...(rejection && Math.min(...counts) < FEW_FOR_UNKNOWN ? [{ code: 'FEW_FOR_UNKNOWN' as const, count: Math.min(...counts), min: FEW_FOR_UNKNOWN }] : []),
    // A class answered "unknown 22%" beside the head's own "unknown" (none of these) reads as the same thing.
    ...(rejection ? classes.filter(namedLikeUnknown).map((c) => ({ code: 'NAMED_UNKNOWN' as const, class: c })) : []),
  ];
  const summary: TrainingSummary = {
    classes: [...classes],
    counts: Object.fromEntries(classes.map((c, i) => [c, counts[i]])),
    evaluation: !foldOf ? 'none' : options.holdout !== undefined ? 'holdout' : 'cv',
    ...(foldOf && options.holdout === undefined ? { folds } : {}),
    // The part really held out: one of `folds` equal parts (0.3 → a third).
    ...(options.holdout !== undefined ? { holdout: 1 / folds } : {}),
    accuracy: evaluated ? correct / evaluated : null,
    evaluated,
    confusion,
    ...(rejectedHeldOut !== undefined ? { rejectedHeldOut } : {}),
    lambda,
    warnings: notes.map(noteText),
    notes,
    trainedAt: new Date().toISOString(),
    trainMs: 0,
  };
  summary.trainMs = Math.round(performance.now() - started);
  return { head: new Head(name, backbone, classes, model, rejection, summary), summary };
}

/** The pairs of classes most often mixed up on held-out photos, most first (either direction counted). */
export function mixups(classes: readonly string[], confusion: readonly number[][], limit = 3): { a: string; b: string; count: number }[] {
  const pairs: { a: string; b: string; count: number }[] = [];
  for (let i = 0; i < classes.length; i++) {
    for (let j = i + 1; j < classes.length; j++) {
      const count = confusion[i][j] + confusion[j][i];
      if (count > 0) pairs.push({ a: classes[i], b: classes[j], count });
    }
  }
  return pairs.sort((p, q) => q.count - p.count).slice(0, limit);
}
