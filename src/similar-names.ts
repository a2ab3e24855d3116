/** "Did you mean": the names a mistyped one was probably meant to be, for the CLI, the HTTP API and the library alike. Pure. */

/** Edit distance (insertions, deletions, substitutions, swaps of neighbours). */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The names among `candidates` closest to `given` (at most two), ignoring
 * case, `-` and `_` (`topk`, `top_k` and `top-k` are `topK`), then within
 * one edit for short names and two for longer ones.
 */
export function closestNames(given: string, candidates: readonly string[]): string[] {
  const bare = (s: string): string => s.toLowerCase().replace(/[-_]/g, '');
  const name = given.toLowerCase();
  return candidates
    .map((candidate) => ({ candidate, d: bare(candidate) === bare(name) ? 0 : editDistance(name, candidate.toLowerCase()) }))
    .filter(({ candidate, d }) => d <= (candidate.length <= 4 ? 1 : 2))
    .sort((a, b) => a.d - b.d || a.candidate.localeCompare(b.candidate))
    .slice(0, 2)
    .map(({ candidate }) => candidate);
}
