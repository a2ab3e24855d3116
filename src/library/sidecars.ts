/**
 * Where each photo's XMP sidecar goes, and writing it. Two conventions exist:
 * `IMG_1.jpg.xmp` (digiKam, darktable, Immich; our default) and `IMG_1.xmp`
 * (Lightroom, for raw files). A sidecar that already exists under either name
 * is the one updated, never shadowed by a new file under the other. The short
 * form is never used for photos that share it (`IMG_1.jpg` and `IMG_1.png`):
 * they get the long form, which cannot collide.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
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

/** Our temporary sidecars: hidden (photo tools and the walk pass them by) and short (beside any sidecar name that fits). */
const TEMPORARY = /^\.resnet-serve-[0-9a-f]{8}\.xmp\.tmp$/;
/** A temporary sidecar older than this was left by a killed run, not written by one going on. */
const STALE_MS = 10 * 60_000;

/** Decodes a sidecar's bytes: UTF-8 (with or without a byte-order mark) or UTF-16 with its mark, as XMP allows. */
function xmpText(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  return bytes.toString('utf8').replace(/^\uFEFF/, '');
}

/**
 * Writes or updates a sidecar (atomically: a temporary file, then a rename;
 * the photo itself is never touched). Errors name the sidecar: IO_ERROR when
 * it cannot be read or written, SIDECAR_INVALID when it is not XMP. An
 * updated sidecar is written back as UTF-8. One that already says exactly
 * this is left untouched (photo managers re-read a sidecar whose time
 * changed); returns whether it was written.
 */
export async function writeSidecar(path: string, keywords: Keywords): Promise<boolean> {
  let existing: string | null = null;
  try {
    existing = xmpText(await readFile(fsPath(path)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ResnetServeError('IO_ERROR', `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const text = updateXmp(existing, keywords);
  if (text === existing) return false;
  if (await markedReadOnly(fsPath(dirname(path)))) throw new ResnetServeError('IO_ERROR', 'cannot write it (its folder is read-only)');
  const tmp = join(dirname(path), `.resnet-serve-${randomBytes(4).toString('hex')}.xmp.tmp`);
  try {
    await writeFile(fsPath(tmp), text, { flag: 'wx' });
    await rename(fsPath(tmp), fsPath(path));
  } catch (err) {
    await rm(fsPath(tmp), { force: true }).catch(() => undefined);
    throw new ResnetServeError('IO_ERROR', `cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return true;
}

/** Removes the temporary sidecars a killed run left in `dir` (older than ten minutes); returns how many. */
export async function removeStaleTemporaries(dir: string): Promise<number> {
  const names = await readdir(fsPath(dir), { encoding: 'buffer' }).catch(() => []);
  let removed = 0;
  for (const name of names) {
    if (!TEMPORARY.test(name.toString('latin1'))) continue;
    const file = Buffer.concat([Buffer.from(fsPath(dir)), Buffer.from('/'), name]);
    const info = await stat(file).catch(() => null);
    if (info?.isFile() && Date.now() - info.mtimeMs > STALE_MS && (await rm(file).then(() => true, () => false))) removed++;
  }
  return removed;
}
