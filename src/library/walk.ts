/**
 * Finds photos under folders: recursive, following symlinks without looping
 * (each real folder and file is visited once, so `.`, a link to it and
 * `../x` reach it once), skipping hidden folders, telling images by their
 * first bytes rather than by extension, and telling videos apart from damaged
 * images. Names are handled as bytes (`paths.ts`), so a name that is not
 * UTF-8 is found and read like any other. Each file is given by its real
 * path, the key the index stores.
 */
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { looksLikeImage } from '../image/formats.js';
import { isVideo } from '../image/formats.js';
import { fsPath, passedBy, pathKey } from './paths.js';

/** What a file's first bytes say it is. */
export type FileKind = 'image' | 'video' | 'empty' | 'other';

/**
 * A file found (by its real path), or a path that could not be read
 * (`brokenLink` when it is a symbolic link whose target is missing); `shown`
 * is the same file as reached from the root given, links unresolved, for
 * naming it to the user.
 */
export type Found = { path: string; shown: string; kind: FileKind } | { path: string; shown: string; error: string; brokenLink?: true; folder?: true };

/** The kind of a file from its first 32 bytes (none: an empty file). */
export function kindOf(head: Uint8Array): FileKind {
  if (head.length === 0) return 'empty';
  if (looksLikeImage(head)) return 'image';
  return isVideo(head) ? 'video' : 'other';
}

/** The first 32 bytes of the file at `path` (a path key), enough for {@link kindOf}. */
export async function firstBytes(path: string): Promise<Uint8Array> {
  const handle = await open(fsPath(path), 'r');
  try {
    const head = Buffer.alloc(32);
    const { bytesRead } = await handle.read(head, 0, 32, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

const errorCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? String(err);

/** The real path of `path` (a path key: links and `..` resolved, bytes kept) as the library stores paths. */
export async function realKey(path: string): Promise<string> {
  return pathKey(await realpath(fsPath(path), { encoding: 'buffer' }));
}

/** Yields every regular file under `roots` (kind flagged), in name order. */
export async function* walkImages(roots: readonly string[]): AsyncGenerator<Found> {
  const seenDirs = new Set<string>();
  const seenFiles = new Set<string>();
  async function* visit(dir: string, shown: string): AsyncGenerator<Found> {
    let real: string;
    try {
      real = await realKey(dir);
    } catch (err) {
      yield { path: dir, shown, error: errorCode(err), folder: true };
      return;
    }
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    let names: string[];
    try {
      names = (await readdir(fsPath(real), { encoding: 'buffer' })).map(pathKey).sort();
    } catch (err) {
      yield { path: real, shown, error: errorCode(err), folder: true };
      return;
    }
    for (const name of names) {
      if (passedBy(name)) continue;
      const path = join(real, name);
      let info;
      try {
        info = await stat(fsPath(path));
      } catch (err) {
        // A link to nothing (a drive not mounted, a file moved away), or a file gone since listing.
        const link = await lstat(fsPath(path)).then((l) => l.isSymbolicLink(), () => false);
        yield { path, shown: join(shown, name), error: errorCode(err), ...(link ? { brokenLink: true as const } : {}) };
        continue;
      }
      if (info.isDirectory()) yield* visit(path, join(shown, name));
      else if (info.isFile()) yield* file(path, join(shown, name));
    }
  }
  async function* file(path: string, shown: string): AsyncGenerator<Found> {
    let real: string;
    try {
      real = await realKey(path);
    } catch (err) {
      yield { path, shown, error: errorCode(err) };
      return;
    }
    if (seenFiles.has(real)) return;
    seenFiles.add(real);
    try {
      yield { path: real, shown, kind: kindOf(await firstBytes(real)) };
    } catch (err) {
      yield { path: real, shown, error: errorCode(err) };
    }
  }
  for (const root of roots) {
    const info = await stat(fsPath(root)).catch(() => null);
    if (!info) yield { path: root, shown: root, error: 'ENOENT' };
    else if (info.isDirectory()) yield* visit(root, root);
    else yield* file(root, root);
  }
}
