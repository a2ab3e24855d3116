/**
 * Heads made through the HTTP API, kept across restarts: SQLite in the cache
 * folder (`<cache>/heads.sqlite`). Per head: its classes (in order), its
 * example photos (content hash, name, a small JPEG thumbnail; their
 * embeddings live in the embedding cache), and the trained head file once
 * trained. Every change is one transaction, so a failed request leaves the
 * heads as they were.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { openCacheDatabase } from './cache-db.js';

/** One example photo of a head. */
export interface ExampleRow {
  id: number;
  className: string;
  photo: string;
  name: string;
}

/** A head as stored. */
export interface StoredHead {
  name: string;
  /** The model it was made on (its photos' embeddings come from it). */
  modelSha256: string;
  classes: string[];
  /** The head file's JSON once trained (it stays in use until the next training). */
  trained: string | null;
  /** Its classes or photos differ from what the last training saw. */
  stale: boolean;
  /** What a training sees (the classes in order, which photos are in each, by content), as a hash; a training records it. */
  contents: string;
  createdAt: string;
}

export class HeadStore {
  private readonly db: Database.Database;

  constructor(cacheDir: string) {
    this.db = openCacheDatabase(cacheDir, 'heads.sqlite', (db) => HeadStore.createTables(db)).db;
  }

  private static createTables(db: Database.Database): void {
    db.pragma('foreign_keys = ON');
    db.exec(`
      CREATE TABLE IF NOT EXISTS heads (
        name TEXT PRIMARY KEY, model_sha256 TEXT NOT NULL, created_at TEXT NOT NULL, trained TEXT, stale INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS classes (
        head TEXT NOT NULL REFERENCES heads(name) ON DELETE CASCADE, position INTEGER NOT NULL, name TEXT NOT NULL,
        PRIMARY KEY (head, name));
      CREATE TABLE IF NOT EXISTS examples (
        id INTEGER PRIMARY KEY AUTOINCREMENT, head TEXT NOT NULL, class TEXT NOT NULL, photo TEXT NOT NULL,
        name TEXT NOT NULL, thumbnail BLOB NOT NULL, added_at TEXT NOT NULL,
        FOREIGN KEY (head, class) REFERENCES classes(head, name) ON DELETE CASCADE);
      CREATE INDEX IF NOT EXISTS examples_head ON examples(head, class);`);
    const columns = new Set((db.prepare('PRAGMA table_info(heads)').all() as { name: string }[]).map((c) => c.name));
    if (!columns.has('revision')) db.exec('ALTER TABLE heads ADD COLUMN revision INTEGER NOT NULL DEFAULT 0');
    if (!columns.has('trained_revision')) db.exec('ALTER TABLE heads ADD COLUMN trained_revision INTEGER');
    if (!columns.has('trained_contents')) db.exec('ALTER TABLE heads ADD COLUMN trained_contents TEXT');
  }

  /** Every head, in creation order (without their trained files), with the model each was made on. */
  list(): { name: string; modelSha256: string; trained: boolean }[] {
    const heads = this.db.prepare('SELECT name, model_sha256 AS modelSha256, trained IS NOT NULL AS trained FROM heads ORDER BY created_at, name').all() as { name: string; modelSha256: string; trained: number }[];
    return heads.map((h) => ({ ...h, trained: h.trained === 1 }));
  }

  /** The head `name`, whichever model it was made on. */
  get(name: string): StoredHead | null {
    const h = this.db
      .prepare('SELECT name, model_sha256 AS modelSha256, created_at AS createdAt, trained, revision, trained_revision AS trainedRevision, trained_contents AS trainedContents FROM heads WHERE name = ?')
      .get(name) as (Omit<StoredHead, 'classes' | 'stale' | 'contents'> & { revision: number; trainedRevision: number | null; trainedContents: string | null }) | undefined;
    if (!h) return null;
    const { revision, trainedRevision, trainedContents, ...head } = h;
    const classes = this.classes(h.name);
    const contents = this.contentsOf(h.name, classes);
    // Undoing a change (a class added then removed) is not a change; heads trained before contents were recorded compare change counts.
    const stale = head.trained !== null && (trainedContents !== null ? trainedContents !== contents : trainedRevision !== revision);
    return { ...head, stale, contents, classes };
  }

  /** The classes in order and each class's photos by content, so a photo removed and added again is no change. */
  private contentsOf(head: string, classes: readonly string[]): string {
    const examples = this.db.prepare('SELECT class, photo FROM examples WHERE head = ? ORDER BY class, photo').raw().all(head);
    return createHash('sha256').update(JSON.stringify([classes, examples])).digest('hex');
  }

  private classes(head: string): string[] {
    return (this.db.prepare('SELECT name FROM classes WHERE head = ? ORDER BY position').all(head) as { name: string }[]).map((r) => r.name);
  }

  /** Creates a head with these classes (none is fine); false when the name is taken. */
  create(name: string, modelSha256: string, classes: readonly string[]): boolean {
    return this.db.transaction(() => {
      if (this.db.prepare('SELECT 1 FROM heads WHERE name = ?').get(name)) return false;
      this.db.prepare('INSERT INTO heads (name, model_sha256, created_at) VALUES (?, ?, ?)').run(name, modelSha256, new Date().toISOString());
      classes.forEach((c, i) => this.db.prepare('INSERT INTO classes (head, position, name) VALUES (?, ?, ?)').run(name, i, c));
      return true;
    })();
  }

  /** Adds classes not there yet, at the end; the head must be retrained. */
  addClasses(head: string, classes: readonly string[]): void {
    this.db.transaction(() => {
      const existing = new Set(this.classes(head));
      let position = existing.size;
      for (const c of classes) if (!existing.has(c)) this.db.prepare('INSERT INTO classes (head, position, name) VALUES (?, ?, ?)').run(head, position++, c);
      this.countChange(head);
    })();
  }

  /** Removes a class and its photos. */
  removeClass(head: string, className: string): boolean {
    return this.db.transaction(() => {
      const removed = this.db.prepare('DELETE FROM classes WHERE head = ? AND name = ?').run(head, className).changes > 0;
      if (removed) {
        this.classes(head).forEach((c, i) => this.db.prepare('UPDATE classes SET position = ? WHERE head = ? AND name = ?').run(i, head, c));
        this.countChange(head);
      }
      return removed;
    })();
  }

  /** Adds photos to a class (which must exist), all or none; returns their ids. */
  addExamples(head: string, className: string, photos: { photo: string; name: string; thumbnail: Buffer }[]): number[] {
    return this.db.transaction(() => {
      const now = new Date().toISOString();
      const ids = photos.map((p) => Number(this.db.prepare('INSERT INTO examples (head, class, photo, name, thumbnail, added_at) VALUES (?, ?, ?, ?, ?, ?)').run(head, className, p.photo, p.name, p.thumbnail, now).lastInsertRowid));
      this.countChange(head);
      return ids;
    })();
  }

  examples(head: string): ExampleRow[] {
    return this.db.prepare('SELECT id, class AS className, photo, name FROM examples WHERE head = ? ORDER BY id').all(head) as ExampleRow[];
  }

  thumbnail(head: string, id: number): Buffer | null {
    const row = this.db.prepare('SELECT thumbnail FROM examples WHERE head = ? AND id = ?').get(head, id) as { thumbnail: Buffer } | undefined;
    return row?.thumbnail ?? null;
  }

  removeExample(head: string, id: number): boolean {
    return this.db.transaction(() => {
      const removed = this.db.prepare('DELETE FROM examples WHERE head = ? AND id = ?').run(head, id).changes > 0;
      if (removed) this.countChange(head);
      return removed;
    })();
  }

  /**
   * Saves the trained head file, trained on `contents` (`StoredHead.contents`
   * when the training began) of the head created at `createdAt`; false
   * (nothing saved) when that head was deleted meanwhile. Changes made during
   * the training leave it stale.
   */
  saveTrained(head: string, createdAt: string, contents: string, json: string): boolean {
    return this.db.prepare('UPDATE heads SET trained = ?, trained_contents = ? WHERE name = ? AND created_at = ?').run(json, contents, head, createdAt).changes > 0;
  }

  remove(head: string): boolean {
    return this.db.prepare('DELETE FROM heads WHERE name = ?').run(head).changes > 0;
  }

  /** Counts a change (what heads trained before contents were recorded compare). */
  private countChange(head: string): void {
    this.db.prepare('UPDATE heads SET revision = revision + 1 WHERE name = ?').run(head);
  }

  close(): void {
    this.db.close();
  }
}
