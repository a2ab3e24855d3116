/** Small file helpers shared by the caches. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync, type PathLike } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ResnetServeError, invalidArgument } from './errors.js';

/**
 * The path of a `file:` URL of this machine; INVALID_ARGUMENT, naming the
 * parameter `name`, for another scheme or another machine's `file://host/…`.
 */
export function fileUrlPath(url: URL, name: string, expected: string): string {
  if (url.protocol !== 'file:') throw invalidArgument(name, expected, url);
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw invalidArgument(name, `a file: URL of this machine (${(err as Error).message})`, url);
  }
}

/** The folders from the nearest existing ancestor of `path` down to `path` itself, outermost first. */
function missingFolders(path: string, exists: (p: string) => boolean): string[] {
  const missing: string[] = [];
  for (let p = resolve(path); !exists(p); p = dirname(p)) {
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  return missing;
}

/**
 * Creates a folder and its missing parents, one level at a time. Node's own
 * `mkdir({ recursive: true })` loops forever where mkdir answers ENOENT for
 * a parent that exists (under /proc), so a cache folder set there would hang
 * start-up; here the first failure is thrown.
 */
export async function ensureDir(path: string): Promise<void> {
  const known = new Set<string>();
  for (let p = resolve(path); ; p = dirname(p)) {
    if (await stat(p).then(() => true, () => false)) {
      known.add(p);
      break;
    }
    if (dirname(p) === p) break;
  }
  for (const folder of missingFolders(path, (p) => known.has(p))) {
    await mkdir(folder).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}

/**
 * {@link ensureDir}, then checks that `path` is a folder this process can
 * write into (an output folder checked before the work that fills it) by
 * creating and removing a file there: permission bits say nothing for root,
 * a read-only mount or a folder like /proc. Throws a Node error whose `code`
 * says why (ENOTDIR, EACCES, EROFS, ENOENT…).
 */
export async function ensureWritableDir(path: string): Promise<void> {
  await ensureDir(path);
  if (!(await stat(path)).isDirectory()) throw Object.assign(new Error(`${path} is not a folder`), { code: 'ENOTDIR' });
  const probe = join(path, `.resnet-serve-${randomBytes(4).toString('hex')}.probe`);
  await writeFile(probe, '', { flag: 'wx' });
  await rm(probe, { force: true });
}

/** Why a file could not be written, in words (`EACCES` → "permission denied"), for one-line messages. */
export function writeFailure(err: NodeJS.ErrnoException): string {
  const words: Record<string, string> = { EACCES: 'permission denied', EPERM: 'permission denied', EROFS: 'read-only file system', ENOSPC: 'no space left on the disk', ENOTDIR: 'not a folder', ENOENT: 'files cannot be created there', EISDIR: 'is a folder' };
  return err.code && words[err.code] ? `${words[err.code]} (${err.code})` : (err.code ?? err.message);
}

/** Why a file or folder could not be read, in words (`ENOENT` → "no such file (ENOENT)"), for one-line messages. */
export function readFailure(err: NodeJS.ErrnoException, what: 'file' | 'folder' = 'file'): string {
  const words: Record<string, string> = { ENOENT: `no such ${what}`, EACCES: 'permission denied', EPERM: 'permission denied', EISDIR: 'is a folder', ENOTDIR: 'not a folder', ELOOP: 'a loop of symbolic links', ENAMETOOLONG: 'the name is too long', EIO: 'the disk could not be read' };
  return err.code && words[err.code] ? `${words[err.code]} (${err.code})` : (err.code ?? err.message);
}

/** {@link ensureDir}, synchronously. */
export function ensureDirSync(path: string): void {
  const exists = (p: string): boolean => {
    try {
      statSync(p);
      return true;
    } catch {
      return false;
    }
  };
  for (const folder of missingFolders(path, exists)) {
    try {
      mkdirSync(folder);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** Writes `data` to `path` through a temporary file and a rename, so readers never see a partial file. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await ensureDir(dirname(path));
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  const written = removedAtExit(tmp);
  try {
    await writeFile(tmp, data, { flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  } finally {
    written();
  }
}

const unfinished = new Set<string>();

/**
 * Marks `path` as a temporary file being written: removed if the process
 * exits before the returned function is called (a build process stopped
 * mid-write, by `process.exit`, leaves no half-written graph behind).
 */
export function removedAtExit(path: string): () => void {
  if (unfinished.size === 0) process.once('exit', removeUnfinished);
  unfinished.add(path);
  return () => {
    unfinished.delete(path);
    if (unfinished.size === 0) process.off('exit', removeUnfinished);
  };
}

function removeUnfinished(): void {
  for (const path of unfinished) rmSync(path, { force: true });
}

/** How long a temporary file may sit untouched before it is taken for one a killed process left behind. */
export const ORPHANED_TEMP_MS = 60 * 60 * 1000;

/**
 * Removes the temporary files in `dir` whose names start with `prefix.` (any,
 * for an empty prefix) and end with `suffix`, untouched for `olderThanMs`
 * (default {@link ORPHANED_TEMP_MS}): what a process killed while writing a
 * large cached file left (a graph is written in seconds, so a live
 * writer's, even another container's on a shared volume, is younger).
 */
export async function removeOrphanedTemps(dir: string, prefix: string, suffix: string, olderThanMs = ORPHANED_TEMP_MS): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const now = Date.now();
  await Promise.all(
    names
      .filter((n) => (prefix === '' || n.startsWith(`${prefix}.`)) && n.endsWith(suffix))
      .map(async (n) => {
        const path = join(dir, n);
        const info = await stat(path).catch(() => null);
        if (info && now - info.mtimeMs > olderThanMs) await rm(path, { force: true });
      }),
  );
}

/**
 * SHA-256 of a file, hex, read through one reused 1 MB buffer: the file is
 * never held whole, and no buffer is made per chunk (a stream's 45 fresh
 * 1 MB chunks for ResNet-18's weights left a server 35 MB larger).
 */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(1 << 20, (await file.stat()).size)));
    for (let read = 1; read > 0; ) {
      ({ bytesRead: read } = await file.read(buffer, 0, buffer.length, null));
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

/**
 * Whether folder `dir` is marked read-only for everyone (no write bit in its
 * mode). The system's own refusal (EACCES, EROFS) covers other users and
 * read-only mounts; this covers root, who passes every permission check, so
 * that a folder its owner made read-only (`chmod a-w`) is left alone by root
 * too.
 */
export async function markedReadOnly(dir: PathLike): Promise<boolean> {
  return stat(dir).then((s) => s.isDirectory() && (s.mode & 0o222) === 0, () => false);
}

const CACHE_REFUSALS = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'ENOSPC', 'EEXIST']);

/**
 * The IO_ERROR for `err` when it is the cache folder (`RESNET_SERVE_HOME`)
 * refusing a write (a folder of root's under another user, a read-only root
 * filesystem, a file where the folder should be): a system error on a path
 * inside it, or SQLite unable to open or write a file of it. One line that
 * names the folder and what to do; null for any other error.
 */
export function cacheFolderError(err: unknown, cacheDir: string): ResnetServeError | null {
  if (err instanceof ResnetServeError) return null;
  const e = err as NodeJS.ErrnoException & { name?: string };
  const root = resolve(cacheDir);
  // The folder itself, a file in it, or a parent made on the way to it (HOME=/nonexistent).
  const at = typeof e?.path === 'string' ? resolve(e.path) : null;
  const inside = at !== null && (at === root || at.startsWith(root + sep) || root.startsWith(at + sep));
  const fromSqlite = e?.name === 'SqliteError' && /^SQLITE_(CANTOPEN|READONLY|IOERR|FULL|PERM)/.test(e.code ?? '');
  // Folders are made parent first, so mkdir's ENOENT is a file system that makes none (/proc/x), not a parent missing.
  const refused = CACHE_REFUSALS.has(e.code ?? '') || (e.code === 'ENOENT' && e.syscall === 'mkdir');
  if (!(inside && refused) && !fromSqlite) return null;
  return cacheWriteError(cacheDir, fromSqlite ? `${e.message} (${e.code})` : writeFailure(e), err);
}

/** The one sentence for the cache folder refusing a write, whatever refused it. */
export function cacheWriteError(cacheDir: string, reason: string, cause?: unknown): ResnetServeError {
  return new ResnetServeError('IO_ERROR', `Cannot write to the cache folder ${cacheDir}: ${reason} (set RESNET_SERVE_HOME to a writable folder)`, { cause });
}
