/**
 * Measuring the photo library on real photos (test helper, shared by the CI
 * test and `npm run eval`): search precision per query, recall of "car",
 * how often a photo's nearest look-alikes are of its class, and whether near
 * duplicates made from real photos are all found with no false group.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import type { DupeGroup } from '../library/dupes.js';
import type { LibraryReader } from '../library/search.js';

/** The queries the issue measures. */
export const SEARCH_QUERIES = ['dog', 'cat', 'bird', 'food', 'car', 'beach', 'flower', '狗', '猫', '汽车', '海滩', '花'];

/**
 * The true class of each photo of imagenet-sample-500: file names are
 * `<wnid>_<name>.JPEG`, and wnids sort in class order, with one photo for
 * each even class, so the i-th file is class 2i. Its name is a check, not
 * the truth: our label may say more than the collection's name (class 134,
 * "crane" there, is our "crane bird"; 517 is the machine), so a photo is
 * left out only when neither name contains the other.
 */
export function sampleTruth(dir: string, labels: readonly string[]): Map<string, number> {
  const files = readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).sort();
  const truth = new Map<string, number>();
  const norm = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '');
  files.forEach((f, i) => {
    const name = norm(basename(f).replace(/^n\d+_/, '').replace(/\.[^.]+$/, ''));
    const label = norm(labels[2 * i] ?? '');
    if (label && (label.includes(name) || name.includes(label))) truth.set(f, 2 * i);
  });
  return truth;
}

/** One row of the precision table. */
export interface PrecisionRow {
  query: string;
  /** Photos whose true class is one of the query's classes. */
  relevant: number;
  /** Results judged: the first 20, or as many as there are relevant photos when fewer. */
  judged: number;
  precision: number;
}

/** Precision of the first 20 results (or of the first `relevant` when fewer) for each query. */
export function searchPrecision(reader: LibraryReader, truth: Map<string, number>, queries = SEARCH_QUERIES): PrecisionRow[] {
  return queries.map((query) => {
    const { concepts } = reader.resolver.parse([query]);
    const classes = concepts[0]?.classes ?? new Set<number>();
    const relevant = [...truth.values()].filter((c) => classes.has(c)).length;
    const judged = Math.min(20, relevant);
    const hits = reader.search([query], { limit: judged }).hits;
    const good = hits.filter((h) => classes.has(truth.get(basename(h.path)) ?? -1)).length;
    return { query, relevant, judged, precision: judged ? good / judged : 1 };
  });
}

/** Share of the photos whose stored top class is a car class that `search car` finds. */
export function carRecall(reader: LibraryReader): { cars: number; found: number; recall: number } {
  const classes = reader.resolver.parse(['car']).concepts[0].classes;
  const tops = reader.index.db.prepare('SELECT id, top_class FROM files').all() as { id: number; top_class: number }[];
  const cars = tops.filter((r) => classes.has(r.top_class)).map((r) => r.id);
  const found = new Set(reader.search(['car'], { limit: 1_000_000 }).hits.map((h) => h.id));
  const hit = cars.filter((id) => found.has(id)).length;
  return { cars: cars.length, found: hit, recall: cars.length ? hit / cars.length : 1 };
}

/** Share of each photo's `k` nearest look-alikes that share its label (`labelOf` its path), over all photos. */
export async function neighbourAgreement(reader: LibraryReader, labelOf: (path: string) => string, k = 5): Promise<number> {
  const ids = (reader.index.db.prepare('SELECT id, path FROM files').all() as { id: number; path: string }[]).map((r) => ({ ...r, label: labelOf(r.path) }));
  const byId = new Map(ids.map((r) => [r.id, r.label]));
  let same = 0;
  let total = 0;
  for (const photo of ids) {
    for (const n of await reader.like(photo.id, k)) {
      total++;
      if (byId.get(n.id) === photo.label) same++;
    }
  }
  return same / total;
}

/** How a near duplicate was made. */
export const VARIANTS = ['half size', 'JPEG quality 60', 'cropped 10%', 'EXIF rotation'] as const;

/**
 * Writes, for each photo, four near duplicates into `out`: resized to 50%,
 * recompressed at JPEG quality 60, cropped by 10% (5% off each side), and
 * stored rotated with an EXIF orientation that turns it back upright.
 * Returns the variants' paths by original.
 */
export async function makeNearDuplicates(photos: readonly string[], out: string): Promise<Map<string, string[]>> {
  mkdirSync(out, { recursive: true });
  const made = new Map<string, string[]>();
  for (const [i, photo] of photos.entries()) {
    const bytes = readFileSync(photo);
    const upright = await sharp(bytes).rotate().toBuffer();
    const { width, height } = await sharp(upright).metadata();
    const w = width as number;
    const h = height as number;
    const left = Math.round(w * 0.05);
    const top = Math.round(h * 0.05);
    const variants: [string, Buffer][] = [
      ['half', await sharp(upright).resize(Math.round(w / 2)).jpeg({ quality: 90 }).toBuffer()],
      ['q60', await sharp(upright).jpeg({ quality: 60 }).toBuffer()],
      ['crop', await sharp(upright).extract({ left, top, width: w - 2 * left, height: h - 2 * top }).jpeg({ quality: 90 }).toBuffer()],
      // Stored turned 90° clockwise, with orientation 8 ("rotate 90° counter-clockwise to display").
      ['exif', await sharp(upright).rotate(90).withMetadata({ orientation: 8 }).jpeg({ quality: 90 }).toBuffer()],
    ];
    const paths = variants.map(([kind, data]) => {
      const path = join(out, `${String(i).padStart(3, '0')}-${kind}.jpg`);
      writeFileSync(path, data);
      return path;
    });
    made.set(photo, paths);
  }
  return made;
}

/** How duplicate finding did: sets expected to be grouped, found whole or not, and groups mixing photos that are not duplicates. */
export function judgeDupes(groups: readonly DupeGroup[], expected: readonly string[][]): { sets: number; foundWhole: number; falseGroups: number; missed: string[][] } {
  const setOf = new Map<string, number>();
  expected.forEach((set, i) => set.forEach((p) => setOf.set(p, i)));
  let falseGroups = 0;
  const complete = new Set<number>();
  for (const g of groups) {
    const sets = new Set(g.photos.map((p) => setOf.get(p.path) ?? -1 - g.photos.indexOf(p)));
    if (sets.size > 1) falseGroups++;
    else {
      const [only] = sets;
      if (only >= 0 && g.photos.length === expected[only].length) complete.add(only);
    }
  }
  const missed = expected.filter((_, i) => !complete.has(i));
  return { sets: expected.length, foundWhole: complete.size, falseGroups, missed };
}
