/**
 * A training set in torchvision's `ImageFolder` layout: one subfolder per
 * class, named as the class (any Unicode; names are NFC-normalised), photos
 * anywhere inside it. Files that are not images are listed, not fatal.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { ResnetServeError } from '../errors.js';
import { readFailure } from '../fs-atomic.js';
import { displayPath, fsPath, isUnder, passedBy, pathKey } from '../library/paths.js';
import { walkImages } from '../library/walk.js';

/** The photos of a training folder by class, and what was skipped. */
export interface ImageFolder {
  classes: string[];
  /** `path` is the photo's real path, `shown` the path under `root` that reached it (links unresolved). */
  photos: { path: string; shown: string; label: number }[];
  /** Files inside class folders that are not images (by their first bytes), or could not be read, as reached under `root`. */
  skipped: { path: string; reason: string }[];
  /** Files directly in the root, which belong to no class. */
  outsideClasses: string[];
  /** The folder as given, made absolute (`shown` paths are under it). */
  root: string;
  /**
   * When every class keeps its photos only in subfolders of its own, and
   * some class in several (the folder given one level too high:
   * `hymenoptera/` for `hymenoptera/train/`), each class's subfolders; else empty.
   */
  nested: { name: string; path: string; subfolders: string[] }[];
}

/** The usual names of a dataset's splits (torchvision's, Kaggle's, scikit-learn's). */
const SPLIT_NAME = /^(train(ing)?|val(id|idation)?|test(ing)?|dev|eval(uation)?)$/i;

/**
 * A folder given one level too high that is surely so: its "classes" are a
 * dataset's splits (one at least named as a split is) holding the same class
 * folders. Other nested layouts (indoor/{cats,dogs}, outdoor/{cats,dogs})
 * may be meant, and are only warned about.
 */
function datasetSplits(nested: ImageFolder['nested']): { names: string[]; classes: string[] } | null {
  if (nested.length < 2 || !nested.some((c) => SPLIT_NAME.test(c.name))) return null;
  const [first] = nested;
  const same = nested.every((c) => c.subfolders.join('\0') === first.subfolders.join('\0'));
  if (!same || first.subfolders.length < 2) return null;
  // The training split first, as the folder to suggest.
  const names = nested.map((c) => c.name).sort((a, b) => Number(!/^train/i.test(a)) - Number(!/^train/i.test(b)));
  return { names, classes: first.subfolders };
}

/** Reads `root`; throws INVALID_ARGUMENT when it cannot be listed or has no class folders. */
export async function readImageFolder(root: string): Promise<ImageFolder> {
  let listed;
  try {
    root = resolve(root);
    listed = await readdir(root, { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    throw new ResnetServeError('INVALID_ARGUMENT', `Cannot read the training folder ${root}: ${readFailure(err as NodeJS.ErrnoException, 'folder')}`);
  }
  // Names as keys (paths.ts): a folder named in Latin-1 by an old system is found like any other.
  const entries = listed.map((e) => ({ entry: e, key: pathKey(e.name) }));
  const visible = entries.filter((e) => !passedBy(e.key)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  // A link counts as what it points to: a class folder, or a photo outside the classes. A link back to the
  // training folder (or above it) is neither: as a class it would hold every class's photos.
  const realRoot = await realpath(root).catch(() => root);
  const kindOf = async ({ entry, key }: (typeof entries)[number]): Promise<'folder' | 'loop' | 'other'> => {
    if (entry.isDirectory()) return 'folder';
    if (!entry.isSymbolicLink()) return 'other';
    const real = await realpath(fsPath(join(root, key)), { encoding: 'buffer' }).catch(() => null);
    if (!real) return 'other';
    if (isUnder(realRoot, pathKey(real))) return 'loop';
    return (await stat(real).catch(() => null))?.isDirectory() ? 'folder' : 'other';
  };
  const kinds = await Promise.all(visible.map(kindOf));
  const classFolders = visible.filter((_, i) => kinds[i] === 'folder');
  const loops = visible.filter((_, i) => kinds[i] === 'loop').map((e) => e.key);
  const outsideClasses = visible.filter((e, i) => kinds[i] === 'other' && (e.entry.isFile() || e.entry.isSymbolicLink())).map((e) => join(root, e.key));
  const folder: ImageFolder = { root, classes: [], photos: [], skipped: loops.map((key) => ({ path: join(root, key), reason: 'a link back to the training folder, not a class' })), outsideClasses, nested: [] };
  const nested: ImageFolder['nested'] = [];
  for (const { key } of classFolders) {
    const label = folder.classes.length;
    const name = displayPath(key).normalize('NFC').trim();
    if (name === '') throw new ResnetServeError('INVALID_ARGUMENT', `The class folder ${JSON.stringify(displayPath(key))} in ${root} has no name once spaces are trimmed; rename it`);
    if (folder.classes.includes(name)) throw new ResnetServeError('INVALID_ARGUMENT', `Two class folders in ${root} are both named "${name}" once spaces are trimmed and accents written one way (Unicode NFC); rename one`);
    folder.classes.push(name);
    const subfolders = new Set<string>();
    let direct = false;
    for await (const found of walkImages([join(root, key)])) {
      if ('error' in found) folder.skipped.push({ path: found.shown, reason: `cannot be read (${found.error})` });
      else if (found.kind === 'video') folder.skipped.push({ path: found.shown, reason: 'a video, not a photo' });
      else if (found.kind !== 'image') folder.skipped.push({ path: found.shown, reason: found.kind === 'empty' ? 'an empty file' : 'not an image' });
      else {
        folder.photos.push({ path: found.path, shown: found.shown, label });
        const [first, ...rest] = relative(join(root, key), found.shown).split(sep);
        if (rest.length) subfolders.add(displayPath(first));
        else direct = true;
      }
    }
    nested.push({ name, path: join(root, key), subfolders: direct ? [] : [...subfolders].sort() });
  }
  // One subfolder each (cats/2019) is how some keep a class; folders of several in every class look like classes.
  if (nested.every((c) => c.subfolders.length > 0) && nested.some((c) => c.subfolders.length > 1)) folder.nested = nested;
  if (folder.classes.length === 0) {
    throw new ResnetServeError('INVALID_ARGUMENT', `${root} has no class folders: put each class's photos in a subfolder named after the class (${join(root, 'cats')}, ${join(root, 'dogs')}, …)`);
  }
  const splits = datasetSplits(folder.nested);
  if (splits) throw new ResnetServeError('INVALID_ARGUMENT', `${root} holds a dataset's splits (${splits.names.join(', ')}), each with the same class folders (${splits.classes.join(', ')}): train on one split, ${join(root, splits.names[0])}, not on the folder above them`);
  return folder;
}
