/**
 * Where each photo's XMP sidecar goes, and writing it. Two conventions exist:
 * `IMG_1.jpg.xmp` (digiKam, darktable, Immich; our default) and `IMG_1.xmp`
 * (Lightroom, for raw files). A sidecar that already exists under either name
 * is the one updated, never shadowed by a new file under the other. The short
 * form is never used for photos that share it (`IMG_1.jpg` and `IMG_1.png`):
 * they get the long form, which cannot collide.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { ResnetServeError } from '../errors.js';
import { markedReadOnly } from '../fs-atomic.js';
import { fsPath } from './paths.js';
import { updateXmp, type Keywords } from './xmp.js';

/** `append`: `IMG_1.jpg.xmp`; `replace`: `IMG_1.xmp`. */
export type SidecarNaming = 'append' | 'replace';

const longForm = (photo: string): string => `${photo}.xmp`;
const shortForm = (photo: string): string => join(dirname(photo), `${basename(photo, extname(photo))}.xmp`);

/**
 * The sidecar path of each of `photos` (all the photos of the library that
 * were found, so that shared short names are known), given which files exist.
 */
export function sidecarPaths(photos: readonly string[], naming: SidecarNaming, exists: (path: string) => boolean): Map<string, string> {
  const byShort = new Map<string, number>();
  for (const p of photos) byShort.set(shortForm(p), (byShort.get(shortForm(p)) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const photo of photos) {
    const long = longForm(photo);
    const short = shortForm(photo);
    if ((byShort.get(short) ?? 0) > 1) {
      out.set(photo, long);
      continue;
    }
    const [preferred, other] = naming === 'append' ? [long, short] : [short, long];
    out.set(photo, exists(preferred) || !exists(other) ? preferred : other);
  }
  return out;
}

/**
 * Writes or updates a sidecar (atomically: a temporary file, then a rename;
 * the photo itself is never touched). Errors name the sidecar: IO_ERROR when
 * it cannot be read or written, SIDECAR_INVALID when it is not XMP.
 */
export async function writeSidecar(path: string, keywords: Keywords): Promise<void> {
  let existing: string | null = null;
  try {
    existing = await readFile(fsPath(path), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ResnetServeError('IO_ERROR', `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const text = updateXmp(existing, keywords);
  if (await markedReadOnly(fsPath(dirname(path)))) throw new ResnetServeError('IO_ERROR', 'cannot write it (its folder is read-only)');
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(fsPath(tmp), text, { flag: 'wx' });
    await rename(fsPath(tmp), fsPath(path));
  } catch (err) {
    await rm(fsPath(tmp), { force: true });
    throw new ResnetServeError('IO_ERROR', `cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
