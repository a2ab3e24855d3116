/**
 * Expands command-line paths into image files: files as given, folders walked
 * recursively. In folders, a file is a photo when its name says so or, as
 * `tag` decides, when its first bytes do (a JPEG without an extension, a
 * `.jfif`); a link to a photo that is gone is listed with its error, not
 * passed by.
 */
import { readdir, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { IMAGE_EXTENSIONS } from '../image/formats.js';
import { fsPath, pathKey } from '../library/paths.js';
import { firstBytes, kindOf, realKey } from '../library/walk.js';
import { STDIN_NAME } from './stdin-photo.js';

/** One path to classify, or a path that could not be listed. Names found in folders are path keys (`library/paths.ts`), so a name that is not UTF-8 can still be opened. */
export type ListedPath = { path: string } | { path: string; error: string };

const startsLikeAnImage = (path: string): Promise<boolean> => firstBytes(path).then((head) => kindOf(head) === 'image', () => false);

/** A folder's real path as a path key, or its plain absolute path when it cannot be resolved. */
const folderKey = (path: string): Promise<string> => realKey(path).catch(() => resolve(path));

async function walk(dir: string, out: ListedPath[], seen: Set<string>, skip: ReadonlySet<string>): Promise<void> {
  let entries;
  try {
    entries = (await readdir(fsPath(dir), { withFileTypes: true, encoding: 'buffer' })).map((e) => ({ entry: e, name: pathKey(e.name as unknown as Buffer) }));
  } catch (err) {
    out.push({ path: dir, error: `cannot list folder: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const { entry, name } of entries) {
    const p = join(dir, name);
    const key = resolve(p);
    // Hidden files and folders are passed by, as `tag` does: macOS's `._IMG_1.jpg` beside each photo copied
    // from a Mac is metadata, not a broken photo.
    if (name.startsWith('.') || seen.has(key)) continue;
    if (entry.isDirectory()) {
      if (skip.size === 0 || !skip.has(await folderKey(p))) await walk(p, out, seen, skip);
      continue;
    }
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const named = IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
    if (entry.isSymbolicLink()) {
      const target = await stat(fsPath(p)).catch((err: NodeJS.ErrnoException) => err);
      if (target instanceof Error) {
        if (named) out.push({ path: p, error: `a link to a file that cannot be read (${target.code ?? target.message})` });
        continue;
      }
      if (!target.isFile()) continue;
    }
    if (!named && !(await startsLikeAnImage(p))) continue;
    seen.add(key);
    out.push({ path: p });
  }
}

/**
 * Files named on the command line stay as given (even without an image
 * extension); folders are walked in name order. A file reached twice (named
 * twice, as `a.jpg` and `./a.jpg`, or named and inside a folder given) is
 * listed once, where it came first; `-` is standard input (`stdin-photo.ts`).
 * `onEmptyFolder` hears of a folder given that holds no photo. Folders in
 * `skipFolders` (where the command writes, such as `--explain`'s) are not
 * walked into from a folder given, so a second run does not read the first
 * one's output as photos.
 */
export async function expandPaths(paths: readonly string[], onEmptyFolder: (folder: string) => void = () => undefined, skipFolders: readonly string[] = []): Promise<ListedPath[]> {
  const out: ListedPath[] = [];
  const seen = new Set<string>();
  const skip = new Set(await Promise.all(skipFolders.map(folderKey)));
  for (const p of paths) {
    if (p === STDIN_NAME) {
      if (!seen.has(STDIN_NAME)) out.push({ path: STDIN_NAME });
      seen.add(STDIN_NAME);
      continue;
    }
    let info;
    try {
      info = await stat(fsPath(p));
    } catch {
      out.push({ path: p });
      continue;
    }
    if (info.isDirectory()) {
      const before = out.length;
      await walk(p, out, seen, skip);
      if (out.length === before) onEmptyFolder(p);
    } else {
      const key = resolve(p);
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ path: p });
    }
  }
  return out;
}
