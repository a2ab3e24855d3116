/**
 * Duplicate photos: exact duplicates (the same bytes) and near duplicates
 * (the same picture resized, recompressed, slightly cropped or rotated by
 * EXIF). Near duplicates need two signals to agree: their embeddings are
 * close (the network sees the same thing; each photo's nearest neighbours
 * only, so it scales) and their fingerprints line up in light and colour
 * (`image/fingerprint.ts`: the same picture, not another shot of the scene). Groups are formed
 * transitively, largest first; nothing is ever deleted.
 */
import { compareFingerprints, FINGERPRINT_BYTES } from '../image/fingerprint.js';
import { VectorMatrix } from './similarity.js';

/** A photo as the finder needs it. */
export interface DupeCandidate {
  id: number;
  path: string;
  sha256: string;
  width: number;
  height: number;
  embedding: Uint8Array | null;
  fingerprint: Uint8Array | null;
}

/** A group of duplicates, the largest photo first. */
export interface DupeGroup {
  kind: 'exact' | 'near';
  /** Lowest fingerprint similarity that joined the group (1 for exact duplicates). */
  similarity: number;
  photos: DupeCandidate[];
}

/** How alike photos must be. */
export interface DupeOptions {
  /** Cosine similarity of embeddings for two photos to be compared at all (default 0.8). */
  embedding?: number;
  /** Fingerprint similarity for them to be the same picture (default 0.93). */
  fingerprint?: number;
  /** Largest mean colour difference (0..255) for them to be the same picture (default 8). */
  colour?: number;
  /** Neighbours compared per photo (default 10). */
  neighbours?: number;
}

export const DUPE_DEFAULTS = { embedding: 0.8, fingerprint: 0.93, colour: 8, neighbours: 10 };

function find(parent: number[], i: number): number {
  while (parent[i] !== i) {
    parent[i] = parent[parent[i]];
    i = parent[i];
  }
  return i;
}

const bySize = (a: DupeCandidate, b: DupeCandidate): number => b.width * b.height - a.width * a.height || a.path.localeCompare(b.path);

/** Finds the groups of duplicates among `photos`. */
export async function findDuplicates(photos: readonly DupeCandidate[], options: DupeOptions = {}): Promise<DupeGroup[]> {
  const o = { ...DUPE_DEFAULTS, ...options };
  const byContent = new Map<string, DupeCandidate[]>();
  for (const p of photos) byContent.set(p.sha256, [...(byContent.get(p.sha256) ?? []), p]);
  // One photo per content takes part in the near-duplicate search (one that can).
  const searchable = (p: DupeCandidate): boolean => p.embedding !== null && p.fingerprint?.length === FINGERPRINT_BYTES;
  const unique = [...byContent.values()].map((same) => same.find(searchable)).filter((p): p is DupeCandidate => p !== undefined);
  const dims = new Set(unique.map((p) => (p.embedding as Uint8Array).length));
  const comparable = dims.size <= 1 ? unique : unique.filter((p) => (p.embedding as Uint8Array).length === [...dims][0]);
  const matrix = VectorMatrix.fromStored(comparable.map((p) => p.embedding as Uint8Array));
  const parent = comparable.map((_, i) => i);
  const joinedAt = new Map<number, number>();
  for (const pair of await matrix.pairsAbove(o.embedding, o.neighbours)) {
    const match = compareFingerprints(comparable[pair.a].fingerprint as Uint8Array, comparable[pair.b].fingerprint as Uint8Array);
    if (match.similarity < o.fingerprint || match.colourDifference > o.colour) continue;
    const sim = match.similarity;
    const [ra, rb] = [find(parent, pair.a), find(parent, pair.b)];
    if (ra === rb) continue;
    parent[rb] = ra;
    joinedAt.set(ra, Math.min(joinedAt.get(ra) ?? 1, joinedAt.get(rb) ?? 1, sim));
  }
  const near = new Map<number, DupeCandidate[]>();
  comparable.forEach((p, i) => {
    const root = find(parent, i);
    near.set(root, [...(near.get(root) ?? []), ...(byContent.get(p.sha256) as DupeCandidate[])]);
  });
  const groups: DupeGroup[] = [];
  const inNear = new Set<string>();
  for (const [root, members] of near) {
    const contents = new Set(members.map((m) => m.sha256));
    if (contents.size < 2) continue;
    for (const c of contents) inNear.add(c);
    groups.push({ kind: 'near', similarity: joinedAt.get(root) ?? 1, photos: members.sort(bySize) });
  }
  for (const [sha, same] of byContent) {
    if (same.length > 1 && !inNear.has(sha)) groups.push({ kind: 'exact', similarity: 1, photos: [...same].sort(bySize) });
  }
  return groups.sort((a, b) => b.photos.length - a.photos.length || a.photos[0].path.localeCompare(b.photos[0].path));
}
