/**
 * Expands command-line paths into image files: files as given, folders walked
 * recursively. In folders, a file is a photo when its name says so or, as
 * `tag` decides, when its first bytes do (a JPEG without an extension, a
 * `.jfif`); a link to a photo that is gone is listed with its error, not
 * passed by.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { IMAGE_EXTENSIONS } from '../image/formats.js';
import { fsPath, passedBy, pathKey } from '../library/paths.js';
import { firstBytes, kindOf, realKey } from '../library/walk.js';
import { STDIN_NAME } from './stdin-photo.js';

/** One path to classify, or a path that could not be listed. Names found in folders are path keys (`library/paths.ts`), so a name that is not UTF-8 can still be opened. */
export type ListedPath = { path: string } | { path: string; error: string; code?: 'IMAGE_UNSUPPORTED'; folder?: boolean };

const startsLikeAnImage = (path: string): Promise<boolean> => firstBytes(path).then((head) => kindOf(head) === 'image', () => false);

/** A path's real path as a path key, or its plain absolute path when it cannot be resolved. */
const realOrAbsolute = (path: string): Promise<string> => realKey(path).catch(() => resolve(path));

/** What a walk has listed so far: files and folders by real path, so one reached twice (named twice, through a link, as `.`) counts once. */
interface Seen {
  files: Set<string>;
  /** Folders walked, with how many photos each holds. */
  folders: Map<string, number>;
}

/**
 * The names `classify --explain` gives its heatmaps: the photo's name (with
 * its image extension, or `stdin`), a `.for-<class>` suffix, a `~N` when
 * taken, then `.png` or `.photo.png`.
 */
export const HEATMAP_NAME = /(?:\.(?:jpe?g|jpe|png|webp|gif|tiff?|bmp|avif|heic|heif)|^stdin)(?:\.for-[^/]*)?(?:~\d+)?(?:\.photo)?\.png$/i;

/** Lists the photos under `dir` (whose real path is `real`) not seen before; returns how many photos it holds, seen or not. */
async function walk(dir: string, real: string, out: ListedPath[], seen: Seen, skip: ReadonlySet<string>): Promise<number> {
  const walked = seen.folders.get(real);
  if (walked !== undefined) return walked;
  seen.folders.set(real, 1);
  let entries;
  try {
    entries = (await readdir(fsPath(dir), { withFileTypes: true, encoding: 'buffer' })).map((e) => ({ entry: e, name: pathKey(e.name as unknown as Buffer) }));
  } catch (err) {
    out.push({ path: dir, error: `cannot list folder: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, folder: true });
    return 1;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // A folder the command writes to, given itself (classify photos --explain photos): its own output is passed by.
  const output = skip.has(real);
  let photos = 0;
  for (const { entry, name } of entries) {
    const p = join(dir, name);
    const key = join(real, name);
    // Hidden files and folders are passed by, as `tag` does: macOS's `._IMG_1.jpg` beside each photo copied
    // from a Mac is metadata, not a broken photo.
    if (passedBy(name)) continue;
    if (seen.files.has(key)) {
      photos += 1;
      continue;
    }
    if (entry.isDirectory()) {
      if (!skip.has(key)) photos += await walk(p, key, out, seen, skip);
      continue;
    }
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    if (output && HEATMAP_NAME.test(name)) continue;
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
    seen.files.add(key);
    out.push({ path: p });
    photos += 1;
  }
  seen.folders.set(real, photos);
  return photos;
}

/**
 * Files named on the command line stay as given (even without an image
 * extension); folders are walked in name order. A file or folder reached
 * twice (named twice, as `a.jpg` and `./a.jpg`, through a link, or named and
 * inside a folder given) is listed once, where it came first; `-` is
 * standard input (`stdin-photo.ts`). `onEmptyFolder` hears of a folder given
 * that holds no photo. Folders in `skipFolders` (where the command writes,
 * such as `--explain`'s) are not walked into from a folder given, and when
 * given themselves their heatmaps ({@link HEATMAP_NAME}) are passed by, so a
 * second run does not read the first one's output as photos. A pipe named
 * (`<(…)`) is refused with the way that works for `command`: `-`.
 */
export async function expandPaths(paths: readonly string[], onEmptyFolder: (folder: string) => void = () => undefined, skipFolders: readonly string[] = [], command = 'classify'): Promise<ListedPath[]> {
  const out: ListedPath[] = [];
  const seen: Seen = { files: new Set(), folders: new Map() };
  const skip = new Set(await Promise.all(skipFolders.map(realOrAbsolute)));
  const givenFolders = new Set<string>();
  for (const p of paths) {
    if (p === STDIN_NAME) {
      if (!seen.files.has(STDIN_NAME)) out.push({ path: STDIN_NAME });
      seen.files.add(STDIN_NAME);
      continue;
    }
    let info;
    try {
      info = await stat(fsPath(p));
    } catch {
      out.push({ path: p });
      continue;
    }
    if (info.isFIFO()) {
      // Process substitution (`<(curl …)`) names a pipe: refused as read-photo.ts refuses it, with the way that works.
      out.push({ path: p, code: 'IMAGE_UNSUPPORTED', error: `Not a regular file (a pipe), so not a photo: pipe a photo in on standard input instead (… | resnet-serve ${command} -)` });
      continue;
    }
    if (info.isDirectory()) {
      const real = await realOrAbsolute(p);
      if ((await walk(p, real, out, seen, skip)) === 0 && !givenFolders.has(real)) onEmptyFolder(p);
      givenFolders.add(real);
      continue;
    }
    // Keyed as a walk keys it: its folder's real path and its own name (a link to a photo is a photo of its own).
    const key = join(await realOrAbsolute(dirname(p)), basename(p));
    if (!seen.files.has(key)) {
      seen.files.add(key);
      out.push({ path: p });
    }
  }
  return out;
}
