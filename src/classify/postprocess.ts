/**
 * Pure postprocessing: softmax over logits and a stable top-k.
 */

/** Softmax of `logits[offset .. offset + n)`, computed in double precision. */
export function softmax(logits: ArrayLike<number>, offset = 0, n = logits.length - offset): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[offset + i] > max) max = logits[offset + i];
  const out = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(logits[offset + i] - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) out[i] /= sum;
  return out;
}

/** One ranked class: its index and score. */
export interface RankedIndex {
  index: number;
  score: number;
}

/**
 * The `k` highest scores, highest first; equal scores keep index order, so
 * the result is deterministic. NaN ranks below every number.
 */
export function topK(scores: ArrayLike<number>, k: number): RankedIndex[] {
  const n = scores.length;
  const kk = Math.max(0, Math.min(k, n));
  const better = (a: number, b: number): boolean => {
    const sa = scores[a];
    const sb = scores[b];
    if (sa === sb) return a < b;
    if (Number.isNaN(sb)) return !Number.isNaN(sa) || a < b;
    if (Number.isNaN(sa)) return false;
    return sa > sb;
  };
  if (kk > 32) {
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (better(a, b) ? -1 : 1));
    return order.slice(0, kk).map((index) => ({ index, score: scores[index] }));
  }
  // Insertion into a small sorted window: O(n·k), fast for the usual k ≤ 10.
  const best: number[] = [];
  for (let i = 0; i < n; i++) {
    if (best.length === kk && (kk === 0 || !better(i, best[kk - 1]))) continue;
    let pos = best.length === kk ? kk - 1 : best.length;
    if (best.length < kk) best.push(i);
    while (pos > 0 && better(i, best[pos - 1])) {
      best[pos] = best[pos - 1];
      pos--;
    }
    best[pos] = i;
  }
  return best.map((index) => ({ index, score: scores[index] }));
}
