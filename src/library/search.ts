/**
 * Reading a tagged library: search by words (`query.ts` turns them into
 * classes; photos mostly about them come first, then by how much of their
 * probability falls on those classes), by category, by likeness to a photo,
 * and duplicates. Used by the
 * CLI (`search`, `dupes`) and the gallery page; never writes.
 */
import { ResnetServeError } from '../errors.js';
import { CategoryMap, type CategoryDocument } from './categories.js';
import { findDuplicates, type DupeGroup, type DupeOptions } from './dupes.js';
import { TagIndex, type FileRow } from './index-db.js';
import { modelName } from './model-key.js';
import { defaultSynonyms, QueryResolver, type Concept, type SynonymEntry } from './query.js';
import { displayPath } from './paths.js';
import { VectorMatrix } from './similarity.js';
import type { TagRow } from './derive.js';

/** Each photo's first category (its highest-scoring category tag), as a FROM … WHERE clause over `tags t`. */
// Joined with files: an index edited by another tool (rows deleted without foreign keys) may keep tags of no photo.
const FIRST_CATEGORY = `FROM tags t JOIN files f ON f.id = t.file_id WHERE t.kind = 'category' AND t.score = (SELECT MAX(score) FROM tags WHERE file_id = t.file_id AND kind = 'category')`;

/** A photo matched by a search, with the tags that matched. */
export interface SearchHit {
  id: number;
  path: string;
  /** How strongly it matches (0..1): the geometric mean of each term's probability mass. */
  score: number;
  matched: { term: string; index: number; en: string; zh: string; score: number }[];
}

/** The answer to a search. */
export interface SearchResult {
  concepts: Concept[];
  unknown: string[];
  /** For unknown words that look mistyped, the vocabulary's word they are closest to ("dgo" → "dog"). */
  suggestions?: Record<string, string>;
  /** Photos matching, of which `hits` are the first `limit`. */
  total: number;
  hits: SearchHit[];
}

/** A term matches a photo when this much of its probability is on the term's classes, or its top class is one of them. */
export const MIN_MATCH = 0.1;


export class LibraryReader {
  readonly resolver: QueryResolver;
  readonly categories: CategoryMap;
  readonly labels: { en: string[]; zh: string[] };
  private vectors: { matrix: VectorMatrix; ids: number[]; model: string } | null = null;

  private constructor(readonly index: TagIndex, synonyms: readonly SynonymEntry[]) {
    const en = JSON.parse(index.meta('labels_en') ?? '[]') as string[];
    const zh = JSON.parse(index.meta('labels_zh') ?? '[]') as string[];
    this.labels = { en, zh };
    this.categories = CategoryMap.fromDocument(JSON.parse(index.meta('categories') ?? '{"categories":[]}') as CategoryDocument, en.length, 'The index\'s categories');
    this.resolver = new QueryResolver({ en, zh, categories: this.categories, synonyms });
  }

  /** Opens the index at `path` (INDEX_NOT_FOUND when there is none). */
  static open(path: string, synonyms: readonly SynonymEntry[] = defaultSynonyms()): LibraryReader {
    const index = TagIndex.open(path);
    // Made by a tag run that never began tagging (its model could not load): nothing to search, and no classes to search by.
    if (index.meta('labels_en') === null) {
      index.close();
      throw new ResnetServeError('INDEX_NOT_FOUND', `The index ${path} has never had a photo tagged into it (a tag run that stopped before it began): tag the library first (resnet-serve tag <folder>)`);
    }
    return new LibraryReader(index, synonyms);
  }

  /** The model the photos were tagged with. */
  get model(): { name: string; sha256: string } {
    return { name: this.index.meta('model') ?? '?', sha256: this.index.meta('model_sha256') ?? '' };
  }

  /**
   * Photos still tagged with another model than the index's (a run with a new
   * model that was interrupted): how many, of how many, and which models.
   */
  otherModels(): { photos: number; total: number; models: string[] } {
    const rows = this.index.db.prepare('SELECT model, model_sha256 AS sha256, COUNT(*) AS n FROM files WHERE model_sha256 != ? GROUP BY model_sha256 ORDER BY n DESC').all(this.model.sha256) as { model: string; sha256: string; n: number }[];
    return { photos: rows.reduce((sum, r) => sum + r.n, 0), total: this.index.count(), models: rows.map((r) => modelName(r.model, r.sha256)) };
  }

  /** Probability mass of each photo on `classes` (only photos with some). */
  private massOn(classes: ReadonlySet<number>): Map<number, number> {
    const list = [...classes];
    const out = new Map<number, number>();
    for (let i = 0; i < list.length; i += 500) {
      const chunk = list.slice(i, i + 500);
      const rows = this.index.db.prepare(`SELECT s.file_id AS id, SUM(s.score) AS mass FROM scores s JOIN files f ON f.id = s.file_id WHERE s.class IN (${chunk.map(() => '?').join(',')}) GROUP BY s.file_id`).all(...chunk) as { id: number; mass: number }[];
      for (const r of rows) out.set(r.id, (out.get(r.id) ?? 0) + r.mass);
    }
    return out;
  }

  /** Photos whose top class is one of `classes`. */
  private topIn(classes: ReadonlySet<number>): Set<number> {
    const list = [...classes];
    const out = new Set<number>();
    for (let i = 0; i < list.length; i += 500) {
      const chunk = list.slice(i, i + 500);
      for (const r of this.index.db.prepare(`SELECT id FROM files WHERE top_class IN (${chunk.map(() => '?').join(',')})`).all(...chunk) as { id: number }[]) out.add(r.id);
    }
    return out;
  }

  /**
   * The photos (of `ids`) mostly about every concept: more of their
   * probability on the concept's classes than on any one category of the
   * other classes (a grocery store full of fruit is mostly a shop; a
   * picture of figs is mostly food).
   */
  private dominated(concepts: readonly Concept[], ids: readonly number[]): Set<number> {
    const out = new Set<number>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = this.index.db.prepare(`SELECT file_id AS id, class, score FROM scores WHERE file_id IN (${chunk.map(() => '?').join(',')})`).all(...chunk) as { id: number; class: number; score: number }[];
      const byPhoto = new Map<number, { class: number; score: number }[]>();
      for (const r of rows) byPhoto.set(r.id, [...(byPhoto.get(r.id) ?? []), r]);
      for (const [id, kept] of byPhoto) {
        const mostly = concepts.every((c) => {
          let mass = 0;
          const others = new Map<unknown, number>();
          for (const k of kept) {
            if (c.classes.has(k.class)) mass += k.score;
            else {
              const category = this.categories.categoryOf(k.class);
              others.set(category, (others.get(category) ?? 0) + k.score);
            }
          }
          return mass > Math.max(0, ...others.values());
        });
        if (mostly) out.add(id);
      }
    }
    return out;
  }

  /** Photos matching every concept, best first. */
  private rank(asked: readonly Concept[], limit: number, offset: number): { total: number; hits: SearchHit[] } {
    // Two words naming the same classes ("dog 狗") are one thing asked once.
    const concepts = asked.filter((c, i) => !asked.slice(0, i).some((d) => d.classes.size === c.classes.size && [...c.classes].every((k) => d.classes.has(k))));
    let scores: Map<number, number> | null = null;
    const tops = concepts.map((c) => this.topIn(c.classes));
    concepts.forEach((c, k) => {
      const mass = this.massOn(c.classes);
      const next = new Map<number, number>();
      for (const [id, m] of mass) {
        if (m < MIN_MATCH && !tops[k].has(id)) continue;
        if (scores && !scores.has(id)) continue;
        next.set(id, (scores?.get(id) ?? 1) * m);
      }
      scores = next;
    });
    const matching = scores ?? new Map<number, number>();
    const dominant = this.dominated(concepts, [...matching.keys()]);
    // Photos that are mostly about what was asked come first, then those where it is only part of the picture.
    const ranked = [...matching].map(([id, product]) => ({ id, score: product ** (1 / concepts.length), first: dominant.has(id) }));
    ranked.sort((a, b) => Number(b.first) - Number(a.first) || b.score - a.score || a.id - b.id);
    return { total: ranked.length, hits: ranked.slice(offset, offset + limit).map(({ id, score }) => this.hit(id, score, concepts)) };
  }

  /** A photo as a search answers it: up to three matching tags per word; a class two words both name ("dog 狗") is shown once, under the first. */
  private hit(id: number, score: number, concepts: readonly Concept[]): SearchHit {
    const row = this.index.byId(id) as FileRow;
    const kept = this.index.scoresOf(id);
    const matched: SearchHit['matched'] = [];
    for (const c of concepts) {
      const fresh = kept.filter((s) => c.classes.has(s.index) && !matched.some((m) => m.index === s.index)).slice(0, 3);
      for (const s of fresh) matched.push({ term: c.term, index: s.index, en: this.labels.en[s.index], zh: this.labels.zh[s.index] ?? this.labels.en[s.index], score: s.score });
    }
    return { id, path: row.path, score, matched };
  }

  /** Photos matching every word (English or Chinese), best first. */
  search(words: readonly string[], options: { limit?: number; offset?: number } = {}): SearchResult {
    const { concepts, unknown } = this.resolver.parse(words);
    if (unknown.length) {
      const suggestions = Object.fromEntries(unknown.flatMap((w) => {
        const guess = this.resolver.suggest(w);
        return guess ? [[w, guess]] : [];
      }));
      return { concepts, unknown, suggestions, total: 0, hits: [] };
    }
    return { concepts, unknown, ...this.rank(concepts, options.limit ?? 20, options.offset ?? 0) };
  }

  /**
   * Photos of a category (by English or Chinese name): those whose first
   * category it is (the ones `categoryCounts` counts), most about it first.
   */
  inCategory(name: string, options: { limit?: number; offset?: number } = {}): SearchResult {
    const wanted = name.trim().toLowerCase();
    const category = this.categories.categories.find((c) => c.en.toLowerCase() === wanted || c.zh === name.trim());
    if (!category) throw new ResnetServeError('NOT_FOUND', `No category named "${name}"; the categories are ${this.categories.categories.map((c) => c.en).join(', ')}`);
    const concepts = [{ term: category.en, classes: new Set(this.categories.membersOf(category)), via: 'category' }];
    const { n: total } = this.index.db.prepare(`SELECT COUNT(*) AS n ${FIRST_CATEGORY} AND t.label_en = ?`).get(category.en) as { n: number };
    const rows = this.index.db.prepare(`SELECT t.file_id AS id, t.score ${FIRST_CATEGORY} AND t.label_en = ? ORDER BY t.score DESC, t.file_id LIMIT ? OFFSET ?`).all(category.en, options.limit ?? 20, options.offset ?? 0) as { id: number; score: number }[];
    return { concepts, unknown: [], total, hits: rows.map((r) => this.hit(r.id, r.score, concepts)) };
  }

  /** Every category with how many photos have it as their first category. */
  categoryCounts(): { en: string; zh: string; photos: number }[] {
    return this.index.db.prepare(`SELECT label_en AS en, label_zh AS zh, COUNT(*) AS photos ${FIRST_CATEGORY} GROUP BY label_en, label_zh ORDER BY photos DESC, label_en`).all() as { en: string; zh: string; photos: number }[];
  }

  /** A photo's row and tags. */
  photo(id: number): (FileRow & { tags: TagRow[] }) | null {
    const row = this.index.byId(id);
    return row ? { ...row, tags: this.index.tagsOf(id) } : null;
  }

  /** Photos in path order, a page at a time. */
  photos(options: { limit?: number; offset?: number } = {}): { total: number; photos: FileRow[] } {
    const ids = this.index.db.prepare('SELECT id FROM files ORDER BY path LIMIT ? OFFSET ?').all(options.limit ?? 60, options.offset ?? 0) as { id: number }[];
    return { total: this.index.count(), photos: ids.map((r) => this.index.byId(r.id) as FileRow) };
  }

  private matrix(): { matrix: VectorMatrix; ids: number[] } {
    const model = this.model.sha256;
    if (this.vectors?.model !== model) {
      const rows = this.index.db.prepare('SELECT id, embedding FROM files WHERE embedding IS NOT NULL AND model_sha256 = ? ORDER BY id').all(model) as { id: number; embedding: Buffer }[];
      this.vectors = { matrix: VectorMatrix.fromStored(rows.map((r) => r.embedding)), ids: rows.map((r) => r.id), model };
    }
    return this.vectors;
  }

  /** Forgets the loaded vectors (after the index changed). */
  refresh(): void {
    this.vectors = null;
  }

  /**
   * The photos most like one: a photo of the index (by id), or any photo's
   * stored embedding (`unitInt8Bytes` of the same model).
   */
  async like(target: number | Uint8Array, k = 12): Promise<{ id: number; path: string; similarity: number }[]> {
    const { matrix, ids } = this.matrix();
    if (matrix.rows === 0) throw new ResnetServeError('OUTPUT_UNAVAILABLE', 'The index has no embeddings: its photos were tagged with a model that has none (tag says why), or by a version of resnet-serve from before embeddings were kept; tag them again with a model that has one');
    let query: number | ReturnType<typeof VectorMatrix.queryOf>;
    if (typeof target === 'number') {
      query = ids.indexOf(target);
      if (query < 0) {
        const row = this.index.byId(target);
        if (!row) throw new ResnetServeError('NOT_FOUND', `No photo ${target} in the index`);
        const why = row.modelSha256 !== this.model.sha256
          ? `was tagged with ${modelName(row.model, row.modelSha256)}, not with ${modelName(this.model.name, this.model.sha256)} like the index's last run (was that run stopped?): run tag on the library again to finish`
          : 'has no embedding in the index: run tag on the library again';
        throw new ResnetServeError('NOT_FOUND', `${displayPath(row.path)} ${why}`);
      }
    } else {
      if (target.length - 4 !== matrix.dim) throw new ResnetServeError('INVALID_ARGUMENT', 'That embedding comes from another model than the index\'s');
      query = VectorMatrix.queryOf(target);
    }
    const found = await matrix.nearest(query, k);
    return found.map((n) => ({ id: ids[n.row], path: (this.index.byId(ids[n.row]) as FileRow).path, similarity: n.similarity }));
  }

  /**
   * Groups of exact and near duplicates, largest first. Exact duplicates are
   * found among all photos; near duplicates among those tagged with the
   * index's model (embeddings of two models cannot be compared).
   */
  async duplicates(options: DupeOptions = {}): Promise<DupeGroup[]> {
    const rows = this.index.db.prepare('SELECT id, path, sha256, width, height, model_sha256, embedding, fingerprint FROM files').all() as {
      id: number;
      path: string;
      sha256: string;
      width: number;
      height: number;
      model_sha256: string;
      embedding: Buffer | null;
      fingerprint: Buffer | null;
    }[];
    const model = this.model.sha256;
    return findDuplicates(rows.map(({ model_sha256, embedding, ...row }) => ({ ...row, embedding: model_sha256 === model ? embedding : null })), options);
  }

  close(): void {
    this.index.close();
  }
}
