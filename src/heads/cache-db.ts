/** The SQLite files of the cache folder (heads, embeddings): opened in WAL mode, a folder that cannot take them said in one line. */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { cacheFolderError, ensureDirSync } from '../fs-atomic.js';

/**
 * Opens (creating) the SQLite file `name` of the cache folder in WAL mode and
 * runs `setup` on it (tables, statements); a folder that cannot take it is
 * one IO_ERROR that says what to do.
 */
export function openCacheDatabase<T>(cacheDir: string, name: string, setup: (db: Database.Database) => T): { db: Database.Database; prepared: T } {
  let db: Database.Database | undefined;
  try {
    ensureDirSync(cacheDir);
    db = new Database(join(cacheDir, name));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    return { db, prepared: setup(db) };
  } catch (err) {
    db?.close();
    throw cacheFolderError(err, cacheDir) ?? err;
  }
}
