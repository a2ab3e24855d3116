/**
 * A photo index SQLite finds damaged while reading it (a disk fault, a copy
 * cut short), told apart from every other failure so the CLI says it in one
 * line (and `search` exits 2, not 1 as for "nothing matched") and the
 * gallery answers with its code instead of an internal error. Pure: no
 * SQLite loaded, so the server's start-up does not load it.
 */
import { ResnetServeError } from '../errors.js';

/** SQLite's codes for a file that is damaged or not a database (better-sqlite3's `SqliteError.code`). */
const DAMAGED = /^SQLITE_(CORRUPT|NOTADB)/;

let lastOpened: string | undefined;

/** Remembers the index this process opened last (`index-db.ts`), so the command line can name the file to delete. */
export function noteIndexOpened(path: string): void {
  lastOpened = path;
}

/** The index this process opened last, if any. */
export function indexOpened(): string | undefined {
  return lastOpened;
}

/**
 * INDEX_DAMAGED, saying what to do, when `err` is SQLite finding the index
 * damaged; else null. `path` names the file (the command line gives it; the
 * server does not tell clients where its files are).
 */
export function damagedIndexError(err: unknown, path?: string): ResnetServeError | null {
  const code = (err as { code?: unknown })?.code;
  if ((err as Error)?.name !== 'SqliteError' || typeof code !== 'string' || !DAMAGED.test(code)) return null;
  const which = path === undefined ? 'delete it (<library>/.resnet-serve/tags.sqlite, or the --db file)' : `delete ${path}`;
  return new ResnetServeError(
    'INDEX_DAMAGED',
    `The photo index is damaged (${(err as Error).message}): ${which} and tag the library again; no photo or sidecar is touched by either`,
    { cause: err },
  );
}
