/**
 * The gallery's view of a tagged library (`serve --library DIR`): search,
 * categories, photo details, look-alikes, duplicates and thumbnails, all
 * read-only. Photos are named by their index id, never by a path from the
 * request, and a photo is only read when its real path (links resolved at
 * the time of reading) is inside one of the folders the index was made from,
 * or is still the file tagged there (through a link of the owner's), so
 * nothing else on the disk can be reached. Thumbnails are made with sharp
 * and cached in the cache folder, never next to the photos.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { ResnetServeError } from '../errors.js';
import { writeFileAtomic } from '../fs-atomic.js';
import type { DupeGroup } from '../library/dupes.js';
import type { FileRow } from '../library/index-db.js';
import { displayPath, fsPath } from '../library/paths.js';
import { LibraryReader, type SearchResult } from '../library/search.js';
import { realKey } from '../library/walk.js';

/** Thumbnail sizes the gallery asks for (longest side, px). */
export const THUMBNAIL_SIZES = [320, 1024] as const;

/** A photo as the gallery shows it. */
export interface GalleryPhoto {
  id: number;
  /** Relative to the library folder it is in. */
  path: string;
  width: number;
  height: number;
  labels: { en: string; zh: string; score: number }[];
  /** Changes when the photo's content does (start of its SHA-256): thumbnails are cached under it. */
  version: string;
}

export class LibraryService {
  private readonly reader: LibraryReader;
  private readonly roots: string[];
  private dupes: { key: string; groups: DupeGroup[] } | null = null;
  private thumbnailsInFlight = 0;

  private constructor(
    reader: LibraryReader,
    private readonly thumbnailDir: string,
  ) {
    this.reader = reader;
    this.roots = JSON.parse(reader.index.meta('roots') ?? '[]') as string[];
  }

  /** Opens the index at `dbPath` (INDEX_NOT_FOUND, saying how to make one, when there is none). */
  static open(dbPath: string, cacheDir: string): LibraryService {
    return new LibraryService(LibraryReader.open(dbPath), join(cacheDir, 'thumbnails'));
  }

  /**
   * A photo's path relative to its library folder; a photo kept by a link to
   * somewhere else, by its file name alone (where it lives on the server is
   * nobody's business).
   */
  private relativePath(path: string): string {
    const root = this.roots.find((r) => path === r || path.startsWith(`${r}/`));
    const name = path.split('/').pop() || path;
    return displayPath(root ? relative(root, path) || name : `…/${name}`);
  }

  private gallery(row: FileRow): GalleryPhoto {
    const labels = this.reader.index
      .tagsOf(row.id)
      .filter((t) => t.kind === 'label')
      .map((t) => ({ en: t.en, zh: t.zh, score: t.score }));
    return { id: row.id, path: this.relativePath(row.path), width: row.width, height: row.height, labels, version: row.sha256.slice(0, 12) };
  }

  /** What the library holds. */
  summary(): { folders: string[]; photos: number; model: { name: string }; categories: { en: string; zh: string; photos: number }[] } {
    return { folders: this.roots.map((r) => displayPath(r).split('/').pop() ?? r), photos: this.reader.index.count(), model: { name: this.reader.model.name }, categories: this.reader.categoryCounts() };
  }

  /** Photos by words, by category, or all of them, a page at a time. */
  photos(options: { q?: string; category?: string; limit: number; offset: number }): { total: number; photos: (GalleryPhoto & { score?: number; matched?: SearchResult['hits'][number]['matched'] })[]; unknown?: string[]; suggestions?: Record<string, string> } {
    if (options.q !== undefined && options.q.trim() !== '') {
      const words = options.q.trim().split(/\s+/);
      const result = options.category ? this.intersect(this.reader.search(words, { limit: 100_000 }), options.category) : this.reader.search(words, { limit: options.limit, offset: options.offset });
      const hits = options.category ? result.hits.slice(options.offset, options.offset + options.limit) : result.hits;
      return { total: result.total, unknown: result.unknown, suggestions: result.suggestions, photos: hits.map((h) => ({ ...this.gallery(this.reader.index.byId(h.id) as FileRow), score: h.score, matched: h.matched })) };
    }
    if (options.category) {
      const result = this.reader.inCategory(options.category, { limit: options.limit, offset: options.offset });
      return { total: result.total, photos: result.hits.map((h) => ({ ...this.gallery(this.reader.index.byId(h.id) as FileRow), score: h.score, matched: h.matched })) };
    }
    const page = this.reader.photos({ limit: options.limit, offset: options.offset });
    return { total: page.total, photos: page.photos.map((p) => this.gallery(p)) };
  }

  private intersect(result: SearchResult, category: string): SearchResult {
    const inCategory = new Set(this.reader.inCategory(category, { limit: 1_000_000 }).hits.map((h) => h.id));
    const hits = result.hits.filter((h) => inCategory.has(h.id));
    return { ...result, total: hits.length, hits };
  }

  private row(id: number): FileRow {
    const row = this.reader.index.byId(id);
    if (!row) throw new ResnetServeError('NOT_FOUND', `No photo ${id} in the library`);
    return row;
  }

  /** One photo with all its tags. */
  photo(id: number): GalleryPhoto & { size: number; taggedAt: string; categories: { en: string; zh: string; score: number }[] } {
    const row = this.row(id);
    const tags = this.reader.index.tagsOf(id);
    return { ...this.gallery(row), size: row.size, taggedAt: row.taggedAt, categories: tags.filter((t) => t.kind === 'category').map((t) => ({ en: t.en, zh: t.zh, score: t.score })) };
  }

  /** The photos most like one. */
  async like(id: number, limit: number): Promise<(GalleryPhoto & { similarity: number })[]> {
    this.row(id);
    const found = await this.reader.like(id, limit);
    return found.map((n) => ({ ...this.gallery(this.row(n.id)), similarity: n.similarity }));
  }

  /** Groups of duplicates (computed once per state of the index). */
  async duplicates(): Promise<{ kind: string; similarity: number; photos: GalleryPhoto[] }[]> {
    const key = JSON.stringify(this.reader.index.db.prepare('SELECT COUNT(*) AS n, MAX(id) AS last, MAX(tagged_at) AS at FROM files').get());
    if (this.dupes?.key !== key) {
      this.reader.refresh();
      this.dupes = { key, groups: await this.reader.duplicates() };
    }
    return this.dupes.groups.map((g) => ({ kind: g.kind, similarity: g.similarity, photos: g.photos.map((p) => this.gallery(this.row(p.id))) }));
  }

  /**
   * The real path of a photo, if it is still inside the library or still the
   * very file tagged (a photo the owner linked in from elsewhere); NOT_FOUND
   * otherwise: a link swapped in later resolves to another path.
   */
  private async inside(row: FileRow): Promise<string> {
    let real: string;
    try {
      real = await realKey(row.path);
    } catch {
      throw new ResnetServeError('NOT_FOUND', `Photo ${row.id} is no longer in the library`);
    }
    if (real !== row.path && !this.roots.some((r) => real === r || real.startsWith(`${r}/`))) throw new ResnetServeError('NOT_FOUND', `Photo ${row.id} is not inside the library`);
    return real;
  }

  /** A JPEG of the photo, `size` px on its longest side, from the thumbnail cache or made now. */
  async thumbnail(id: number, size: number): Promise<Buffer> {
    if (!(THUMBNAIL_SIZES as readonly number[]).includes(size)) throw new ResnetServeError('BAD_REQUEST', `size must be one of ${THUMBNAIL_SIZES.join(', ')}`);
    const row = this.row(id);
    // A photo deleted or replaced since it was tagged is not shown, even from the thumbnail cache.
    const real = await this.inside(row);
    const info = await stat(fsPath(real));
    if (info.size !== row.size) throw new ResnetServeError('NOT_FOUND', `Photo ${id} changed since it was tagged; tag the library again`);
    const cached = join(this.thumbnailDir, `${row.sha256}-${size}.jpg`);
    if (existsSync(cached)) return readFile(cached);
    // A few at a time: a gallery page asks for dozens at once.
    while (this.thumbnailsInFlight >= 2) await new Promise((r) => setTimeout(r, 10));
    this.thumbnailsInFlight++;
    try {
      const bytes = await readFile(fsPath(real));
      if (createHash('sha256').update(bytes).digest('hex') !== row.sha256) throw new ResnetServeError('NOT_FOUND', `Photo ${id} changed since it was tagged; tag the library again`);
      const { drawableImage } = await import('../image/decode.js');
      const jpeg = await (await drawableImage(bytes, { maxPixels: 100_000_000 })).rotate().resize(size, size, { fit: 'inside', withoutEnlargement: true }).jpeg({ quality: 80 }).toBuffer();
      await writeFileAtomic(cached, jpeg).catch(() => undefined);
      return jpeg;
    } catch (err) {
      if (err instanceof ResnetServeError) throw err;
      throw new ResnetServeError('IMAGE_CORRUPT', `Photo ${id} cannot be shown: ${(err as Error).message}`);
    } finally {
      this.thumbnailsInFlight--;
    }
  }

  close(): void {
    this.reader.close();
  }
}
