/**
 * The photo index: SQLite through better-sqlite3, in WAL mode, written in
 * one transaction per batch, so a killed run (SIGKILL included) loses at
 * most the batch in flight and never leaves a corrupt file.
 *
 * Per photo (keyed by its real path): size, mtime, content SHA-256, the model
 * that saw it, its kept class scores (so tags can be derived again under
 * other settings without the model), the tags derived and the key of the
 * settings they were derived under, the sidecar written and what was in it,
 * its embedding (int8, for look-alikes) and its fingerprint (for near
 * duplicates). The index also keeps the model's class names and category
 * mapping, so searching needs no model.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ResnetServeError } from '../errors.js';
import { ensureDirSync } from '../fs-atomic.js';
import { noteIndexOpened } from './damaged-index.js';
import type { ClassScore, TagRow } from './derive.js';
import { isUnder } from './paths.js';

/** The schema this code reads and writes (`PRAGMA user_version`). */
export const INDEX_VERSION = 2;

/** `PRAGMA application_id` of our indexes ("RSNS"): SQLite's own field for telling one program's files from another's. */
export const INDEX_APPLICATION_ID = 0x52534e53;

/** How long a run waits for another one holding the index (a tag run writing a batch) before giving up. */
const BUSY_TIMEOUT_MS = 60_000;

/**
 * Why `db` is not ours to change, or null when it is: ours (our application
 * id), empty, or an index of an earlier version (our `files` table, from
 * before the application id was set).
 */
function foreignDatabase(db: Database.Database): string | null {
  const appId = db.pragma('application_id', { simple: true }) as number;
  if (appId === INDEX_APPLICATION_ID) return null;
  if (appId !== 0) return `another program's database (application id ${appId})`;
  const objects = (db.prepare("SELECT name, type FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string; type: string }[]);
  if (objects.length === 0) return null;
  const tables = objects.filter((o) => o.type === 'table').map((o) => o.name);
  if (tables.length === 0) return `an SQLite database of another program (${objects.slice(0, 5).map((o) => `${o.type} ${o.name}`).join(', ')})`;
  const columns = new Set(tables.includes('files') ? (db.prepare("SELECT name FROM pragma_table_info('files')").all() as { name: string }[]).map((c) => c.name) : []);
  if (['path', 'sha256', 'model'].every((c) => columns.has(c))) return null;
  return `an SQLite database of another program (tables: ${tables.slice(0, 5).join(', ')}${tables.length > 5 ? ', …' : ''})`;
}

const isBusy = (err: unknown): boolean => /^SQLITE_(BUSY|LOCKED)/.test((err as { code?: string }).code ?? '');

/**
 * Switches to WAL mode, waiting for another program's write to end:
 * SQLite answers BUSY at once here (the switch needs the lock another
 * writer holds), without its busy handler, so the wait is ours.
 */
function walMode(db: Database.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if (!isBusy(err) || Date.now() > deadline) throw err;
      Atomics.wait(pause, 0, 0, 100);
    }
  }
}

/** better-sqlite3's own wait for a lock, which readers keep. */
const READ_TIMEOUT_MS = 5_000;

/** The message of an SQLite error that says the database is held by someone else (after `waitedMs`). */
function busyMessage(err: unknown, path: string, waitedMs: number): string | null {
  return isBusy(err)
    ? `The photo index ${path} is held by another program for over ${waitedMs / 1000} s (another resnet-serve run writing, or a program with it open); try again when it is done`
    : null;
}

/** What the index knows of a file. */
export interface FileRow {
  id: number;
  path: string;
  size: number;
  mtimeMs: number;
  sha256: string;
  model: string;
  modelSha256: string;
  width: number;
  height: number;
  taggedAt: string;
  /** The settings its tags were derived under (`derive.ts#tagsKey`). */
  tagsKey: string | null;
  /** The sidecar written, and the key of what was written into it (null: none yet, or it failed). */
  sidecar: string | null;
  sidecarKey: string | null;
}

/** A photo to store: the file, its scores, tags, embedding and fingerprint. */
export interface NewEntry {
  file: Omit<FileRow, 'id' | 'sidecar' | 'sidecarKey'>;
  scores: ClassScore[];
  tags: TagRow[];
  embedding: Buffer | null;
  fingerprint: Buffer | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, size INTEGER NOT NULL, mtime_ms REAL NOT NULL, sha256 TEXT NOT NULL,
    model TEXT NOT NULL, model_sha256 TEXT NOT NULL, width INTEGER, height INTEGER, tagged_at TEXT NOT NULL,
    tags_key TEXT, sidecar TEXT, sidecar_key TEXT, top_class INTEGER, embedding BLOB, fingerprint BLOB);
  CREATE INDEX IF NOT EXISTS files_sha256 ON files(sha256);
  CREATE INDEX IF NOT EXISTS files_top_class ON files(top_class);
  CREATE TABLE IF NOT EXISTS scores (
    class INTEGER NOT NULL, file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE, score REAL NOT NULL,
    PRIMARY KEY (class, file_id)) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS scores_file ON scores(file_id);
  CREATE TABLE IF NOT EXISTS tags (
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE, kind TEXT NOT NULL,
    class_index INTEGER, label_en TEXT NOT NULL, label_zh TEXT NOT NULL, score REAL NOT NULL);
  CREATE INDEX IF NOT EXISTS tags_file ON tags(file_id);
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`;

function fileRow(r: Record<string, unknown>): FileRow {
  return {
    id: r.id as number,
    path: r.path as string,
    size: r.size as number,
    mtimeMs: r.mtime_ms as number,
    sha256: r.sha256 as string,
    model: r.model as string,
    modelSha256: r.model_sha256 as string,
    width: r.width as number,
    height: r.height as number,
    taggedAt: r.tagged_at as string,
    tagsKey: (r.tags_key as string | null) ?? null,
    sidecar: (r.sidecar as string | null) ?? null,
    sidecarKey: (r.sidecar_key as string | null) ?? null,
  };
}

const FILE_COLUMNS = 'id, path, size, mtime_ms, sha256, model, model_sha256, width, height, tagged_at, tags_key, sidecar, sidecar_key';

export class TagIndex {
  /** Set when an index of an earlier version was found and emptied (every photo is tagged again). */
  upgradedFrom: number | null = null;

  /** Opened for tagging (by `create`). */
  private writer = false;
  /** Run after closing (removes a temporary copy). */
  private onClose?: () => void;

  private constructor(readonly db: Database.Database, readonly path: string) {
    noteIndexOpened(path);
  }

  /** Opens the index at `path` for tagging, creating it (and its folder) when needed. */
  static create(path: string): TagIndex {
    let db: Database.Database | undefined;
    try {
      ensureDirSync(dirname(path));
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      const foreign = foreignDatabase(db);
      if (foreign) throw new ResnetServeError('INVALID_ARGUMENT', `${path} is ${foreign}, not a resnet-serve photo index; it is left as it is: give the index another file with --db FILE`);
      walMode(db);
    } catch (err) {
      db?.close();
      if (err instanceof ResnetServeError) throw err;
      const busy = busyMessage(err, path, BUSY_TIMEOUT_MS);
      if (busy) throw new ResnetServeError('IO_ERROR', busy);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'SQLITE_NOTADB') throw new ResnetServeError('INVALID_ARGUMENT', `${path} is not a resnet-serve photo index (nor any SQLite database); it is left as it is: give the index another file with --db FILE`);
      const reason = code === undefined || code.startsWith('SQLITE') ? (err as Error).message : code;
      throw new ResnetServeError('IO_ERROR', `Cannot use ${path} as the photo index (${reason}); give a writable place for it with --db FILE`);
    }
    const index = new TagIndex(db, path);
    index.db.pragma('synchronous = NORMAL');
    index.db.pragma('foreign_keys = ON');
    const version = index.db.pragma('user_version', { simple: true }) as number;
    const hasFiles = index.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'").get();
    if (hasFiles && version < INDEX_VERSION) {
      // Version 1 kept no class scores, so nothing can be derived from it: start again.
      index.db.exec('DROP TABLE IF EXISTS tags; DROP TABLE IF EXISTS scores; DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS meta;');
      index.upgradedFrom = version || 1;
    }
    index.db.exec(SCHEMA);
    index.db.pragma(`user_version = ${INDEX_VERSION}`);
    index.db.pragma(`application_id = ${INDEX_APPLICATION_ID}`);
    index.writer = true;
    return index;
  }

  /**
   * Opens an existing index to read (search, export, look-alikes, the gallery).
   * INDEX_NOT_FOUND, saying what to do, when there is none or it is not one;
   * never creates a file.
   */
  static open(path: string): TagIndex {
    const missing = (why: string): ResnetServeError => new ResnetServeError('INDEX_NOT_FOUND', `${why}. Tag the photos first: resnet-serve tag <folder> (or give the index with --db FILE)`);
    const wrong = (why: string): ResnetServeError => new ResnetServeError('INDEX_NOT_FOUND', `${why}: give the index resnet-serve tag wrote (<folder>/.resnet-serve/tags.sqlite, or --library <folder>)`);
    if (!existsSync(path)) throw missing(`No photo index at ${path}`);
    const checked = (file: string): Database.Database => {
      // Readers wait briefly: the gallery reads on the server's event loop.
      const db = new Database(file, { readonly: true, fileMustExist: true, timeout: READ_TIMEOUT_MS });
      const version = db.pragma('user_version', { simple: true }) as number;
      const hasFiles = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'").get();
      if (!hasFiles || foreignDatabase(db)) {
        db.close();
        throw wrong(`${path} is not a resnet-serve photo index`);
      }
      if (version !== INDEX_VERSION) {
        db.close();
        throw missing(`${path} is a photo index of ${version < INDEX_VERSION ? 'an earlier' : 'a later'} version of resnet-serve; tag the folder again with this one`);
      }
      return db;
    };
    try {
      return new TagIndex(checked(path), path);
    } catch (err) {
      if (err instanceof ResnetServeError) throw err;
      const busy = busyMessage(err, path, READ_TIMEOUT_MS);
      if (busy) throw new ResnetServeError('IO_ERROR', busy);
      // In WAL mode (a run going on, or one stopped) SQLite needs to write beside the index even to read it:
      // on a read-only disk or in another user's library, a copy in the temporary folder is read instead.
      const copy = temporaryCopy(path);
      if (copy) {
        try {
          const index = new TagIndex(checked(copy.file), path);
          index.onClose = copy.remove;
          return index;
        } catch (copyErr) {
          copy.remove();
          if (copyErr instanceof ResnetServeError) throw copyErr;
        }
      }
      throw wrong(`${path} cannot be read as a photo index (${(err as Error).message})`);
    }
  }

  /** A value of the index's metadata (model, labels, categories, settings). */
  meta(key: string): string | null {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null;
  }

  setMeta(values: Record<string, string>): void {
    const put = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
    this.db.transaction(() => {
      for (const [k, v] of Object.entries(values)) put.run(k, v);
    })();
  }

  /** The stored row of `path`, if any. */
  get(path: string): FileRow | undefined {
    const r = this.db.prepare(`SELECT ${FILE_COLUMNS} FROM files WHERE path = ?`).get(path) as Record<string, unknown> | undefined;
    return r ? fileRow(r) : undefined;
  }

  byId(id: number): FileRow | undefined {
    const r = this.db.prepare(`SELECT ${FILE_COLUMNS} FROM files WHERE id = ?`).get(id) as Record<string, unknown> | undefined;
    return r ? fileRow(r) : undefined;
  }

  /** Rows with this content. */
  withContent(sha256: string): FileRow[] {
    return (this.db.prepare(`SELECT ${FILE_COLUMNS} FROM files WHERE sha256 = ?`).all(sha256) as Record<string, unknown>[]).map(fileRow);
  }

  /** Every row whose path is under one of `roots` (real paths). */
  under(roots: readonly string[]): FileRow[] {
    const rows = (this.db.prepare(`SELECT ${FILE_COLUMNS} FROM files`).all() as Record<string, unknown>[]).map(fileRow);
    return rows.filter((r) => roots.some((root) => isUnder(r.path, root)));
  }

  /** Number of photos. */
  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM files').get() as { n: number }).n;
  }

  /** Records that an unchanged file (same content) now has this mtime. */
  touch(id: number, mtimeMs: number): void {
    this.db.prepare('UPDATE files SET mtime_ms = ? WHERE id = ?').run(mtimeMs, id);
  }

  /** A photo that moved: the same row (tags, embedding) under its new path. */
  move(id: number, path: string, mtimeMs: number): void {
    this.db.prepare('UPDATE files SET path = ?, mtime_ms = ?, sidecar_key = NULL WHERE id = ?').run(path, mtimeMs, id);
  }

  /** Writes a batch of photos (new or re-tagged) in one transaction. */
  saveBatch(entries: readonly NewEntry[]): void {
    const upsert = this.db.prepare(`INSERT INTO files (path, size, mtime_ms, sha256, model, model_sha256, width, height, tagged_at, tags_key, top_class, embedding, fingerprint)
      VALUES (@path, @size, @mtimeMs, @sha256, @model, @modelSha256, @width, @height, @taggedAt, @tagsKey, @topClass, @embedding, @fingerprint)
      ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ms = excluded.mtime_ms, sha256 = excluded.sha256, model = excluded.model,
        model_sha256 = excluded.model_sha256, width = excluded.width, height = excluded.height, tagged_at = excluded.tagged_at,
        tags_key = excluded.tags_key, top_class = excluded.top_class, embedding = excluded.embedding, fingerprint = excluded.fingerprint, sidecar_key = NULL
      RETURNING id`);
    const clearScores = this.db.prepare('DELETE FROM scores WHERE file_id = ?');
    const addScore = this.db.prepare('INSERT INTO scores (class, file_id, score) VALUES (?, ?, ?)');
    this.db.transaction(() => {
      for (const e of entries) {
        const top = e.scores.reduce<ClassScore | null>((best, s) => (!best || s.score > best.score ? s : best), null);
        const { id } = upsert.get({ ...e.file, topClass: top?.index ?? null, embedding: e.embedding, fingerprint: e.fingerprint }) as { id: number };
        clearScores.run(id);
        for (const s of e.scores) addScore.run(s.index, id, s.score);
        this.writeTags(id, e.tags);
      }
    })();
  }

  private writeTags(id: number, tags: readonly TagRow[]): void {
    this.db.prepare('DELETE FROM tags WHERE file_id = ?').run(id);
    const insert = this.db.prepare('INSERT INTO tags (file_id, kind, class_index, label_en, label_zh, score) VALUES (?, ?, ?, ?, ?, ?)');
    for (const t of tags) insert.run(id, t.kind, t.classIndex, t.en, t.zh, t.score);
  }

  /** Tags derived again from kept scores, under new settings. */
  retag(updates: readonly { id: number; tags: TagRow[]; tagsKey: string }[]): void {
    const key = this.db.prepare('UPDATE files SET tags_key = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const u of updates) {
        this.writeTags(u.id, u.tags);
        key.run(u.tagsKey, u.id);
      }
    })();
  }

  /** Records the sidecar written for a photo (key null: it failed, and is retried next run). */
  setSidecar(id: number, path: string, key: string | null): void {
    this.db.prepare('UPDATE files SET sidecar = ?, sidecar_key = ? WHERE id = ?').run(path, key, id);
  }

  /** The kept class scores of a photo, highest first. */
  scoresOf(id: number): ClassScore[] {
    return (this.db.prepare('SELECT class AS "index", score FROM scores WHERE file_id = ? ORDER BY score DESC, class').all(id) as ClassScore[]);
  }

  /** The tags of a photo: labels then categories, each by score. */
  tagsOf(id: number): TagRow[] {
    return (this.db.prepare('SELECT kind, class_index, label_en, label_zh, score FROM tags WHERE file_id = ? ORDER BY kind DESC, score DESC').all(id) as Record<string, unknown>[]).map((t) => ({
      kind: t.kind as TagRow['kind'],
      classIndex: t.class_index as number | null,
      en: t.label_en as string,
      zh: t.label_zh as string,
      score: t.score as number,
    }));
  }

  /** Removes photos (their scores and tags go with them). */
  remove(ids: readonly number[]): void {
    const del = this.db.prepare('DELETE FROM files WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) del.run(id);
    })();
  }

  /** `PRAGMA integrity_check`: "ok" when the file is sound. */
  integrity(): string {
    return (this.db.pragma('integrity_check', { simple: true }) as string) ?? '';
  }

  /**
   * Closes the index. A tagging run leaves it as one plain file (no `-wal`,
   * `-shm`), so it can be read where nothing can be written: a library on a
   * read-only disk or tagged by another user. While another run has it open
   * it stays in WAL mode; the last run to close switches it.
   */
  close(): void {
    if (this.writer && this.db.open) {
      try {
        this.db.prepare('PRAGMA busy_timeout = 0').run();
        this.db.pragma('journal_mode = DELETE');
      } catch {
        // Another connection has it open: it stays in WAL mode until that one closes.
      }
    }
    this.db.close();
    this.onClose?.();
  }
}

/** A copy of an index (with its write-ahead log) in the temporary folder, or null when it cannot be made. */
function temporaryCopy(path: string): { file: string; remove: () => void } | null {
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), 'resnet-serve-index-'));
    const file = join(dir, 'tags.sqlite');
    copyFileSync(path, file);
    if (existsSync(`${path}-wal`)) copyFileSync(`${path}-wal`, `${file}-wal`);
    const made = dir;
    return { file, remove: () => rmSync(made, { recursive: true, force: true }) };
  } catch {
    if (dir) rmSync(dir, { recursive: true, force: true });
    return null;
  }
}
