/** Expands command-line paths into image files: files as given, folders walked recursively. */
import { readdir, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { IMAGE_EXTENSIONS } from '../image/formats.js';
import { fsPath, pathKey } from '../library/paths.js';

/** One path to classify, or a path that could not be listed. Names found in folders are path keys (`library/paths.ts`), so a name that is not UTF-8 can still be opened. */
export type ListedPath = { path: string } | { path: string; error: string };

async function walk(dir: string, out: ListedPath[], seen: Set<string>): Promise<void> {
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
    // Hidden files and folders are passed by, as `tag` does: macOS's `._IMG_1.jpg` beside each photo copied
    // from a Mac is metadata, not a broken photo.
    if (name.startsWith('.')) continue;
    if (entry.isDirectory()) {
      await walk(p, out, seen);
    } else if ((entry.isFile() || entry.isSymbolicLink()) && IMAGE_EXTENSIONS.has(extname(name).toLowerCase()) && !seen.has(p)) {
      if (entry.isSymbolicLink() && !(await stat(fsPath(p)).then((s) => s.isFile(), () => false))) continue;
      seen.add(p);
      out.push({ path: p });
    }
  }
}

/** Files named on the command line stay as given (even without an image extension); folders are walked in name order. */
export async function expandPaths(paths: readonly string[]): Promise<ListedPath[]> {
  const out: ListedPath[] = [];
  const seen = new Set<string>();
  for (const p of paths) {
    let info;
    try {
      info = await stat(p);
    } catch {
      out.push({ path: p });
      continue;
    }
    if (info.isDirectory()) await walk(p, out, seen);
    else if (!seen.has(p)) {
      seen.add(p);
      out.push({ path: p });
    }
  }
  return out;
}
