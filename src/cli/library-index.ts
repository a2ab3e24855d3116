/**
 * Which index and which model a library command uses: the index of a folder
 * (inside it, in the cache folder for a read-only library, or that of a
 * library above it) and, without --model, the model the library was tagged
 * with.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ResnetServeError } from '../errors.js';
import { ensureDirSync, markedReadOnly } from '../fs-atomic.js';
import { displayPath, fsPath, hasRawBytes } from '../library/paths.js';
import { TagIndex } from '../library/index-db.js';
import { libraryModelKey, parseLibraryModelKey } from '../library/model-key.js';
import { defaultCacheDir, isDefaultModel } from '../model/weights.js';
import type { ModelInfo, ModelOptions } from '../types.js';
import { describePrecision, type Parsed } from './args.js';

const IN_FOLDER = join('.resnet-serve', 'tags.sqlite');

/** Where a folder's index lives when it cannot be inside it (a read-only library): the cache folder, by the folder's real path. */
function cachedIndexPath(root: string, cacheDir?: string): string {
  let real: string | Buffer = resolve(root);
  try {
    real = realpathSync.native(fsPath(root), { encoding: 'buffer' });
  } catch {
    // A missing folder is reported by whoever reads it.
  }
  return join(cacheDir ?? defaultCacheDir(), 'libraries', `${createHash('sha256').update(real).digest('hex').slice(0, 16)}.sqlite`);
}

/**
 * The index to write for `root`: `--db`, else its own, else that of a library
 * it is a folder of (tagged at a folder above it: photos added to one folder
 * of a library join that library's index, with a note), else a new
 * `<root>/.resnet-serve/tags.sqlite`, or (a folder we may not write, or one
 * marked read-only) one in the cache folder, with a note.
 */
export async function indexForTagging(root: string, db: string | undefined, cacheDir: string | undefined, note: (text: string) => void): Promise<string> {
  if (db) return resolve(db);
  const own = ownIndex(root, cacheDir);
  // Kept in the cache folder (the folder was read-only, or its name is not UTF-8): it stays there, even once the folder can be written.
  if (own.exists && own.path !== resolve(root, IN_FOLDER)) return own.path;
  if (!own.exists) {
    const above = indexAbove(root, cacheDir);
    if (above) {
      note(`${displayPath(root)} is a folder of the library tagged at ${displayPath(above.dir)}: its photos go into that library's index (only ${displayPath(root)} is read now; --db FILE keeps a separate index)`);
      return above.path;
    }
  }
  const inCache = (): string => {
    const cached = cachedIndexPath(root, cacheDir);
    note(`${displayPath(root)} is read-only: the index is kept in ${cached} instead (search and export find it with --library ${root})`);
    return cached;
  };
  if (await markedReadOnly(root)) return inCache();
  // SQLite opens paths given as text: a folder whose name is not UTF-8 keeps its index in the cache folder.
  if (hasRawBytes(resolve(root))) {
    const cached = cachedIndexPath(root, cacheDir);
    note(`${displayPath(root)} has a name that is not UTF-8: the index is kept in ${cached} instead (search and export find it with --library)`);
    return cached;
  }
  try {
    ensureDirSync(join(root, '.resnet-serve'));
    accessSync(join(root, '.resnet-serve'), constants.W_OK);
    return resolve(root, IN_FOLDER);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EACCES' && code !== 'EROFS' && code !== 'EPERM') throw err;
    return inCache();
  }
}

/** A folder's own index (inside it, or in the cache folder); the path where it would be when it has none. */
function ownIndex(root: string, cacheDir?: string): { path: string; exists: boolean } {
  const cached = cachedIndexPath(root, cacheDir);
  if (hasRawBytes(resolve(root))) return { path: cached, exists: existsSync(cached) };
  const inFolder = resolve(root, IN_FOLDER);
  // Both exist when the folder became read-only to us after it was tagged in place: the newer is the one tagged last.
  const modified = (path: string): number => (existsSync(path) ? statSync(path).mtimeMs : -1);
  const path = modified(cached) > modified(inFolder) ? cached : inFolder;
  return { path, exists: existsSync(path) };
}

/**
 * The index to read: `--db`, else the library folder's (inside it, or in the
 * cache folder), else that of the nearest folder above it that has one (a
 * library tagged at its top, read from one of its folders), said by `note`.
 */
export function indexForReading(values: Parsed, cacheDir?: string, note: (text: string) => void = (text) => process.stderr.write(`${text}\n`)): string {
  if (values.db) return resolve(values.db);
  const root = values.library ?? '.';
  if (!existsSync(fsPath(root))) throw new ResnetServeError('INDEX_NOT_FOUND', `No folder ${displayPath(root)}: give the folder of a tagged photo library with --library`);
  const own = ownIndex(root, cacheDir);
  if (own.exists) return own.path;
  const above = indexAbove(root, cacheDir);
  if (!above) return own.path;
  note(`${displayPath(root)} has no index of its own; reading that of ${displayPath(above.dir)}, which holds its photos and the rest of that library`);
  return above.path;
}

/** The index of the nearest folder above `root` that has one, or null. */
function indexAbove(root: string, cacheDir?: string): { dir: string; path: string } | null {
  for (let dir = dirname(resolve(root)); ; dir = dirname(dir)) {
    const above = ownIndex(dir, cacheDir);
    if (above.exists) return { dir, path: above.path };
    if (dirname(dir) === dir) return null;
  }
}

/** What an index says of the model that tagged its library. */
export interface TaggedModel {
  name: string | null;
  /** The model key ({@link parseLibraryModelKey}). */
  key: string | null;
  /** Where its weights were read. */
  path: string | null;
  /** The folder an int8 model was calibrated on, '' for the built-in photos, null when not recorded. */
  calibrate: string | null;
}

/** The model an index's library was tagged with. */
export function taggedModelOf(index: TagIndex): TaggedModel {
  return { name: index.meta('model'), key: index.meta('model_sha256'), path: index.meta('model_path'), calibrate: index.meta('model_calibrate') };
}

/** The precision and calibration a library was tagged in, in words. */
export function taggedPrecision(tagged: TaggedModel): string {
  const { precision, calibrationId } = parseLibraryModelKey(tagged.key ?? '');
  return describePrecision(precision, calibrationId === null || tagged.calibrate === null ? undefined : tagged.calibrate || null);
}

/**
 * How a run's model (the same weights) answers otherwise than the one the
 * library was tagged with, in words: what each was and what to give to have
 * the library's again (null when that cannot be given: the same calibration
 * folder, whose photos changed since). Null when they answer alike.
 */
export function precisionChange(tagged: TaggedModel, info: Pick<ModelInfo, 'sha256' | 'precision' | 'calibration'>): { was: string; now: string; keep: string | null } | null {
  if (!tagged.key || tagged.key === libraryModelKey(info)) return null;
  const { precision } = parseLibraryModelKey(tagged.key);
  const was = taggedPrecision(tagged);
  const folder = info.calibration?.folder;
  const now = describePrecision(info.precision, folder);
  if (precision !== info.precision) return { was, now, keep: `--precision ${precision}` };
  if (tagged.calibrate !== null && folder !== undefined && (tagged.calibrate || null) === folder) {
    return { was, now: `${now} (the same ${folder === null ? 'photos' : 'folder'}, whose photos or quantisation changed since)`, keep: null };
  }
  return { was, now, keep: tagged.calibrate ? `--precision int8 --calibrate ${displayPath(tagged.calibrate)}` : tagged.calibrate === '' ? '--precision int8 without --calibrate (the built-in photos)' : 'the --calibrate it was tagged with' };
}

/**
 * The model options for a command given no --model on a library tagged with another model than the official
 * resnet18: that model, from where tag read it (its hash is checked once it is loaded), said on stderr, and its
 * precision unless --precision was given, with the folder its int8 model was calibrated on unless --precision or
 * --calibrate was given. With --model nothing is followed; for a library of the official resnet18 the precision and
 * calibration are. A library whose model or calibration folder is no longer where it was is an error naming it,
 * never a silent switch.
 */
export function followLibraryModel(tagged: TaggedModel, model: ModelOptions, values: Parsed, words: { doing: string; toDo: string; calibrationGone: string }): ModelOptions {
  if (!tagged.key || !tagged.name) return model;
  if (model.model !== undefined) return model;
  const was = parseLibraryModelKey(tagged.key);
  const followed: ModelOptions = { ...model, precision: values.precision === undefined ? was.precision : model.precision };
  if (values.precision === undefined && values.calibrate === undefined && was.calibrationId !== null && tagged.calibrate) {
    if (!existsSync(tagged.calibrate)) {
      throw new ResnetServeError('INVALID_ARGUMENT', `The library was tagged with ${tagged.name} in int8, calibrated on ${displayPath(tagged.calibrate)}, which is no longer there: ${words.calibrationGone}`);
    }
    followed.calibrate = tagged.calibrate;
  }
  if (isDefaultModel(was.sha256)) {
    if (followed.calibrate !== undefined) process.stderr.write(`${words.doing} the library's int8 calibration: ${displayPath(followed.calibrate)}\n`);
    return followed;
  }
  if (!tagged.path || !existsSync(tagged.path)) {
    throw new ResnetServeError('INVALID_ARGUMENT', `The library was tagged with ${tagged.name} (sha256 ${was.sha256.slice(0, 12)}…)${tagged.path ? `, read from ${tagged.path}, which is no longer there` : ''}: give that model with --model ${words.toDo}`);
  }
  // The precision said only when it is the library's: one given on the command line is the user's own choice.
  process.stderr.write(`${words.doing} the model the library was tagged with: ${displayPath(tagged.path)}${values.precision === undefined && was.precision === 'int8' ? ` (${taggedPrecision(tagged)})` : ''}\n`);
  return { ...followed, model: tagged.path };
}

/**
 * The model `serve --library` answers with: without --model, the one the
 * library was tagged with (as `tag` and `search --like` take it), so the
 * Recognise view and the gallery speak of the same classes. An index that
 * cannot be read is left for the gallery to report.
 */
export function modelForLibrary(indexPath: string, model: ModelOptions, values: Parsed): ModelOptions {
  if (!existsSync(indexPath)) return model;
  let tagged: TaggedModel;
  try {
    const index = TagIndex.open(indexPath);
    try {
      tagged = taggedModelOf(index);
    } finally {
      index.close();
    }
  } catch {
    return model;
  }
  return followLibraryModel(tagged, model, values, {
    doing: 'Serving with',
    toDo: 'to serve the library with it, or --model resnet18 for the official ResNet-18',
    calibrationGone: "give --precision int8 --calibrate DIR with a folder of photos like the library's (look-alikes of a new photo are then found a little less well until it is tagged again), or --precision fp32",
  });
}
