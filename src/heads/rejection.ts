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
 * A photo is rejected when either score falls below its threshold. With many
 * training photos the thresholds are chosen on the held-out scores so that a
 * fraction `quantile` (2%) of them would be rejected (about twice that of new
 * photos like them, which differ more from the training photos than held-out
 * ones do); with few, from a normal
 * fit of those scores (each signal at half the quantile). Its typicality, the
 * lower of its two percentiles among the held-out scores, is reported.
 * Pure functions.
 */

/** What rejection keeps from training. */
export interface RejectionModel {
  k: number;
  /** Training embeddings (unit length), `count × dim`. */
  examples: Float32Array;
  dim: number;
  /** Average base-model probabilities over the training photos. */
  profile: Float32Array;
  /** Held-out scores of training photos, ascending: nearest-neighbour similarity and profile similarity. */
  heldOut: { neighbours: number[]; profile: number[] };
  /** Scores below these are "unknown". */
  thresholds: { neighbours: number; profile: number };
  /** The fraction of held-out training photos these thresholds refuse (an estimate of the false "unknown" rate). */
  heldOutRejected: number;
}

/** A photo's scores, whether it is rejected, and how typical it is (0..1). */
export interface RejectionVerdict {
  rejected: boolean;
  typicality: number;
}

/** Default neighbours and quantile. */
export const REJECTION_DEFAULTS = { k: 5, quantile: 0.02 };

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
  return {
    rejected: near < model.thresholds.neighbours || seen < model.thresholds.profile,
    typicality: Math.min(percentile(model.heldOut.neighbours, near), percentile(model.heldOut.profile, seen)),
  };
}

/** The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Held-out photos below which empirical quantiles are replaced by a normal fit. */
const EMPIRICAL_MIN = 40;

function thresholdsFor(raw: { near: number; seen: number }[], quantile: number): { neighbours: number; profile: number } {
  const near = raw.map((r) => r.near).sort((a, b) => a - b);
  const seen = raw.map((r) => r.seen).sort((a, b) => a - b);
  if (raw.length < EMPIRICAL_MIN) {
    const fit = (xs: number[]): number => {
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, xs.length - 1));
      return mean + sd * normalQuantile(quantile / 2);
    };
    // Too few to tell: nothing is rejected (scores are never below -1; -2 survives JSON, unlike -Infinity).
    return raw.length >= 3 ? { neighbours: fit(near), profile: fit(seen) } : { neighbours: -2, profile: -2 };
  }
  // The largest per-signal rank i at which at most `quantile` of the held-out photos fall below either
  // threshold (the fraction rejected grows with i, so a binary search finds it).
  // Between the i-th lowest score and the one below it (a hair below the lowest), so that a new photo scoring
  // like a held-out one is not refused over rounding (the full-data profile differs slightly from each fold's).
  const cut = (xs: number[], i: number): number => {
    let j = i - 1;
    while (j >= 0 && xs[j] > xs[i] - 1e-6) j--;
    return j >= 0 ? (xs[j] + xs[i]) / 2 : xs[i] - 1e-4;
  };
  const at = (i: number) => ({ neighbours: cut(near, i), profile: cut(seen, i) });
  const rejectedAt = (i: number): number => {
    const t = at(i);
    return raw.filter((r) => r.near < t.neighbours || r.seen < t.profile).length / raw.length;
  };
  let lo = 0;
  let hi = raw.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (rejectedAt(mid) <= quantile) lo = mid;
    else hi = mid - 1;
  }
  return at(lo);
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
  const k = options.k ?? REJECTION_DEFAULTS.k;
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
  const thresholds = thresholdsFor(raw, quantile);
  return {
    k,
    examples,
    dim,
    profile: averageProfile(probabilities, classes),
    heldOut: { neighbours: raw.map((r) => r.near).sort((a, b) => a - b), profile: raw.map((r) => r.seen).sort((a, b) => a - b) },
    thresholds,
    heldOutRejected: raw.length ? raw.filter((r) => r.near < thresholds.neighbours || r.seen < thresholds.profile).length / raw.length : 0,
  };
}
