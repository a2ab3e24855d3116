/**
 * The tag index: SQLite through better-sqlite3, in WAL mode, written in one
 * transaction per batch, so a killed run (SIGKILL included) loses at most
 * the batch in flight and never leaves a corrupt file.
 */
import Database from 'better-sqlite3';
import { ensureDirSync } from '../fs-atomic.js';
import { dirname } from 'node:path';

/** One tag of a file: a fine label or a coarse category, in both languages. */
export interface TagRow {
  kind: 'label' | 'category';
  classIndex: number | null;
  en: string;
  zh: string;
  score: number;
}

/** What the index knows of a file. */
export interface FileRow {
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  model: string;
  modelSha256: string;
  width: number;
  height: number;
  taggedAt: string;
}

/** A search hit. */
export interface SearchHit {
  path: string;
  score: number;
  tags: string;
}

export class TagIndex {
  readonly db: Database.Database;

  constructor(path: string) {
    ensureDirSync(dirname(path));
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS files (
        path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ms REAL NOT NULL, sha256 TEXT NOT NULL,
        model TEXT NOT NULL, model_sha256 TEXT NOT NULL, width INTEGER, height INTEGER, tagged_at TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS tags (
        path TEXT NOT NULL REFERENCES files(path) ON DELETE CASCADE, kind TEXT NOT NULL,
        class_index INTEGER, label_en TEXT NOT NULL, label_zh TEXT NOT NULL, score REAL NOT NULL);
      CREATE INDEX IF NOT EXISTS tags_path ON tags(path);
      CREATE INDEX IF NOT EXISTS tags_en ON tags(label_en);
      CREATE INDEX IF NOT EXISTS tags_zh ON tags(label_zh);`);
  }

  /** The stored row of `path`, if any. */
  get(path: string): FileRow | undefined {
    const r = this.db.prepare('SELECT * FROM files WHERE path = ?').get(path) as Record<string, unknown> | undefined;
    if (!r) return undefined;
    return { path: r.path as string, size: r.size as number, mtimeMs: r.mtime_ms as number, sha256: r.sha256 as string, model: r.model as string, modelSha256: r.model_sha256 as string, width: r.width as number, height: r.height as number, taggedAt: r.tagged_at as string };
  }

  /** Records that an unchanged file (same content) now has this mtime. */
  touch(path: string, mtimeMs: number): void {
    this.db.prepare('UPDATE files SET mtime_ms = ? WHERE path = ?').run(mtimeMs, path);
  }

  /** Writes a batch of files and their tags in one transaction. */
  saveBatch(entries: { file: FileRow; tags: TagRow[] }[]): void {
    const upsert = this.db.prepare(`INSERT INTO files (path, size, mtime_ms, sha256, model, model_sha256, width, height, tagged_at)
      VALUES (@path, @size, @mtimeMs, @sha256, @model, @modelSha256, @width, @height, @taggedAt)
      ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ms = excluded.mtime_ms, sha256 = excluded.sha256, model = excluded.model,
        model_sha256 = excluded.model_sha256, width = excluded.width, height = excluded.height, tagged_at = excluded.tagged_at`);
    const clear = this.db.prepare('DELETE FROM tags WHERE path = ?');
    const insert = this.db.prepare('INSERT INTO tags (path, kind, class_index, label_en, label_zh, score) VALUES (?, ?, ?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const { file, tags } of entries) {
        upsert.run(file);
        clear.run(file.path);
        for (const t of tags) insert.run(file.path, t.kind, t.classIndex, t.en, t.zh, t.score);
      }
    })();
  }

  /** Files whose tags match every word (English or Chinese, substring), best total score first. */
  search(words: string[], limit = 100): SearchHit[] {
    if (words.length === 0) return [];
    const conditions = words.map(() => 'EXISTS (SELECT 1 FROM tags w WHERE w.path = t.path AND (w.label_en LIKE ? OR w.label_zh LIKE ?))').join(' AND ');
    const params = words.flatMap((w) => [`%${w}%`, `%${w}%`]);
    const scoreTerms = words.map(() => '(t.label_en LIKE ? OR t.label_zh LIKE ?)').join(' OR ');
    const sql = `SELECT t.path AS path, SUM(CASE WHEN ${scoreTerms} THEN t.score ELSE 0 END) AS score,
        GROUP_CONCAT(t.label_en || ' / ' || t.label_zh, '; ') AS tags
      FROM tags t WHERE ${conditions} GROUP BY t.path ORDER BY score DESC, t.path LIMIT ?`;
    return this.db.prepare(sql).all(...params, ...params, limit) as SearchHit[];
  }

  /** Every file with its tags, for export. */
  exportAll(): (FileRow & { tags: TagRow[] })[] {
    const files = (this.db.prepare('SELECT path FROM files ORDER BY path').all() as { path: string }[]).map((r) => this.get(r.path) as FileRow);
    const tagsOf = this.db.prepare('SELECT kind, class_index, label_en, label_zh, score FROM tags WHERE path = ? ORDER BY kind DESC, score DESC');
    return files.map((f) => ({
      ...f,
      tags: (tagsOf.all(f.path) as Record<string, unknown>[]).map((t) => ({ kind: t.kind as TagRow['kind'], classIndex: t.class_index as number | null, en: t.label_en as string, zh: t.label_zh as string, score: t.score as number })),
    }));
  }

  /** `PRAGMA integrity_check`: "ok" when the file is sound. */
  integrity(): string {
    return (this.db.pragma('integrity_check', { simple: true }) as string) ?? '';
  }

  close(): void {
    this.db.close();
  }
}
