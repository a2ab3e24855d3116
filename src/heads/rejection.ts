/**
 * Open-set rejection: "none of these" when a photo is unlike every training
 * photo. Two signals, each compared with what it gives for training photos
 * held out by cross-validation:
 * - in the embedding: the mean cosine similarity to the k nearest training
 *   photos (how close it is to what the head was shown);
 * - in the base model's own answer: the Bhattacharyya similarity between its
 *   class probabilities for the photo and their average over the training
 *   photos (whether the network sees the same kind of picture: ants and bees
 *   look like "ant" and "bee" to an ImageNet model, a cat like "tabby").
 * Each score becomes the fraction of held-out photos scoring lower (its
 * p-value), and the two are joined by Fisher's method (the sum of their
 * logarithms): a photo a little unusual in both ways is as suspect as one far
 * out in either. The threshold on that sum is the one that refuses a fraction
 * `quantile` (3%) of the held-out photos; with few of them (under 40), the
 * p-values come from a normal fit of each score and the threshold from the
 * chi-squared law Fisher's sum follows. Its typicality, the fraction of
 * held-out photos whose sum is lower, is reported.
 *
 * Heads written before (file version 1) kept one threshold per signal and
 * refused a photo below either; `judge` still answers for them that way.
 * Pure functions.
 */

/** Held-out scores of training photos, each list ascending. */
export interface HeldOutScores {
  neighbours: number[];
  profile: number[];
  /** Fisher's sums (absent in version-1 heads). */
  combined?: number[];
}

/** What rejection keeps from training. */
export interface RejectionModel {
  k: number;
  /** Training embeddings (unit length), `count × dim`. */
  examples: Float32Array;
  dim: number;
  /** Average base-model probabilities over the training photos. */
  profile: Float32Array;
  heldOut: HeldOutScores;
  /** Fisher's sums below `combined` are "unknown" (version-1 heads: a score below either per-signal threshold). */
  thresholds: { combined: number } | { neighbours: number; profile: number };
  /** The fraction of held-out training photos these thresholds refuse (an estimate of the false "unknown" rate). */
  heldOutRejected: number;
}

/** A photo's scores, whether it is rejected, and how typical it is (0..1). */
export interface RejectionVerdict {
  rejected: boolean;
  typicality: number;
}

/** Default neighbours and quantile. */
export const REJECTION_DEFAULTS = { k: 5, quantile: 0.03 };

/** Mean cosine similarity of `x` (unit length) to its `k` nearest rows of `examples`. */
export function neighbourSimilarity(x: ArrayLike<number>, examples: ArrayLike<number>, dim: number, k: number, skip = -1): number {
  const count = examples.length / dim;
  const best: number[] = [];
  for (let r = 0; r < count; r++) {
    if (r === skip) continue;
    let s = 0;
    const row = r * dim;
    for (let j = 0; j < dim; j++) s += x[j] * examples[row + j];
    if (best.length < k) {
      best.push(s);
      best.sort((a, b) => a - b);
    } else if (s > best[0]) {
      best[0] = s;
      best.sort((a, b) => a - b);
    }
  }
  return best.length ? best.reduce((a, b) => a + b, 0) / best.length : 0;
}

/** Bhattacharyya similarity of two probability vectors (1 when equal, 0 when disjoint). */
export function profileSimilarity(p: ArrayLike<number>, profile: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += Math.sqrt(Math.max(0, p[i]) * Math.max(0, profile[i]));
  return s;
}

/** The fraction of `sorted` (ascending) below `value`. */
export function percentile(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length ? lo / sorted.length : 1;
}

/** The average of probability vectors. */
export function averageProfile(probabilities: readonly ArrayLike<number>[], size: number): Float32Array {
  const out = new Float32Array(size);
  for (const p of probabilities) for (let i = 0; i < size; i++) out[i] += p[i] / probabilities.length;
  return out;
}

/** Judges a photo from its unit embedding and the base model's probabilities. */
export function judge(model: RejectionModel, embedding: ArrayLike<number>, probabilities: ArrayLike<number>): RejectionVerdict {
  const near = neighbourSimilarity(embedding, model.examples, model.dim, model.k);
  const seen = profileSimilarity(probabilities, model.profile);
  const t = model.thresholds;
  if ('combined' in t) {
    const sum = fisherSum(model.heldOut, near, seen);
    return { rejected: sum < t.combined, typicality: typicalityOf(model.heldOut, sum) };
  }
  return {
    rejected: near < t.neighbours || seen < t.profile,
    typicality: Math.min(percentile(model.heldOut.neighbours, near), percentile(model.heldOut.profile, seen)),
  };
}

/** The standard normal CDF (erfc by Numerical Recipes' Chebyshev fit, relative error < 1.2e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const poly = -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/** Held-out photos below which p-values come from a normal fit and the threshold from Fisher's chi-squared law. */
const EMPIRICAL_MIN = 40;
/** The smallest p-value taken (keeps Fisher's sum finite). */
const P_FLOOR = 1e-12;
/** Scores closer than this are the same score. */
const TIE = 1e-6;
/** A threshold no Fisher sum reaches (2 ln P_FLOOR ≈ -55; -Infinity does not survive JSON). */
const NOTHING_REJECTED = -1e6;

/**
 * The chance of a held-out photo scoring below `value`: its rank among them
 * (ties counted half; below the lowest, the normal fit's tail scaled to meet
 * the rank there, so that a photo far out in one way is not capped at
 * 1 / (n + 1)), or the normal fit alone when they are few.
 */
export function pValue(sorted: readonly number[], value: number): number {
  const n = sorted.length;
  if (n === 0) return 1;
  const mean = sorted.reduce((a, b) => a + b, 0) / n;
  const sd = Math.max(1e-6, Math.sqrt(sorted.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, n - 1)));
  const normal = (v: number): number => normalCdf((v - mean) / sd);
  if (n < EMPIRICAL_MIN) return Math.max(P_FLOOR, normal(value));
  // Scores within TIE of each other count as equal (the full training set's profile differs from each fold's by rounding).
  const below = percentile(sorted, value - TIE) * n;
  const notAbove = percentile(sorted, value + TIE) * n;
  if (notAbove > 0) return (below + (notAbove - below) / 2 + 0.5) / (n + 1);
  return Math.max(P_FLOOR, (0.5 / (n + 1)) * Math.min(1, normal(value) / Math.max(normal(sorted[0]), P_FLOOR)));
}

/** Fisher's sum for a photo's two scores: ln p(neighbours) + ln p(profile), 0 for a perfectly ordinary photo. */
export function fisherSum(heldOut: HeldOutScores, near: number, seen: number): number {
  return Math.log(pValue(heldOut.neighbours, near)) + Math.log(pValue(heldOut.profile, seen));
}

/** The chance of a Fisher sum below `sum` when both p-values are uniform and independent (chi-squared, 4 degrees of freedom). */
export function fisherSurvival(sum: number): number {
  return Math.min(1, Math.exp(sum) * (1 - sum));
}

/** How typical a Fisher sum is: the fraction of held-out photos below it, or its chi-squared chance when they are few. */
function typicalityOf(heldOut: HeldOutScores, sum: number): number {
  const sums = heldOut.combined ?? [];
  return sums.length >= EMPIRICAL_MIN ? percentile(sums, sum) : fisherSurvival(sum);
}

/**
 * The threshold refusing at most `quantile` of the held-out sums (ascending):
 * between the lowest kept and the highest refused, so that a new photo
 * scoring like a held-out one is not refused over rounding. With few
 * held-out photos, the chi-squared quantile; with under 3, none.
 */
function fisherThreshold(sums: readonly number[], quantile: number): number {
  if (sums.length < 3) return NOTHING_REJECTED;
  if (sums.length < EMPIRICAL_MIN) {
    let lo = -60;
    let hi = 0;
    for (let step = 0; step < 60; step++) {
      const mid = (lo + hi) / 2;
      if (fisherSurvival(mid) < quantile) lo = mid;
      else hi = mid;
    }
    return lo;
  }
  const i = Math.floor(quantile * sums.length);
  let j = i - 1;
  while (j >= 0 && sums[j] > sums[i] - 1e-9) j--;
  return j >= 0 ? (sums[j] + sums[i]) / 2 : sums[0] - 1e-4;
}

/**
 * Calibrates rejection from training photos (unit embeddings and base-model
 * probabilities) with cross-validation: each photo of fold f is scored
 * against the photos of the other folds, as a new photo would be.
 */
export function calibrateRejection(
  embeddings: readonly ArrayLike<number>[],
  probabilities: readonly ArrayLike<number>[],
  foldOf: (i: number) => number,
  folds: number,
  options: { k?: number; quantile?: number } = {},
): RejectionModel {
  // With fewer photos than neighbours (a head of 2 classes of 2 photos), every photo is a neighbour.
  const k = Math.min(options.k ?? REJECTION_DEFAULTS.k, embeddings.length);
  const quantile = options.quantile ?? REJECTION_DEFAULTS.quantile;
  const dim = embeddings[0].length;
  const classes = probabilities[0].length;
  const n = embeddings.length;
  const examples = new Float32Array(n * dim);
  embeddings.forEach((e, i) => examples.set(Array.from(e), i * dim));
  // Every pairwise similarity once; each fold then reads its neighbours from it.
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += examples[i * dim + d] * examples[j * dim + d];
      gram[i * n + j] = s;
      gram[j * n + i] = s;
    }
  }
  const raw: { near: number; seen: number }[] = [];
  for (let f = 0; f < folds; f++) {
    const rest: number[] = [];
    const held: number[] = [];
    for (let i = 0; i < n; i++) (foldOf(i) === f ? held : rest).push(i);
    if (rest.length === 0 || held.length === 0) continue;
    const restProfile = averageProfile(rest.map((i) => probabilities[i]), classes);
    for (const i of held) {
      const nearest = rest.map((j) => gram[i * n + j]).sort((a, b) => b - a).slice(0, k);
      raw.push({ near: nearest.reduce((a, b) => a + b, 0) / nearest.length, seen: profileSimilarity(probabilities[i], restProfile) });
    }
  }
  const heldOut: HeldOutScores = { neighbours: raw.map((r) => r.near).sort((a, b) => a - b), profile: raw.map((r) => r.seen).sort((a, b) => a - b) };
  heldOut.combined = raw.map((r) => fisherSum(heldOut, r.near, r.seen)).sort((a, b) => a - b);
  const combined = fisherThreshold(heldOut.combined, quantile);
  return {
    k,
    examples,
    dim,
    profile: averageProfile(probabilities, classes),
    heldOut,
    thresholds: { combined },
    heldOutRejected: raw.length ? heldOut.combined.filter((s) => s < combined).length / raw.length : 0,
  };
}
