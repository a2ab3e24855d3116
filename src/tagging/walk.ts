/**
 * Finds images under folders: recursive, following symlinks without looping
 * (each real folder is visited once), skipping hidden folders, and telling
 * images by their first bytes rather than by extension.
 */
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sniffFormat } from '../image/decode.js';

/** A candidate file, or a path that could not be read. */
export type Found = { path: string; image: boolean } | { path: string; error: string };

async function looksLikeImage(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(32);
    const { bytesRead } = await handle.read(head, 0, 32, 0);
    const b = head.subarray(0, bytesRead);
    return sniffFormat(b) !== null || (b.length >= 26 && b[0] === 0x42 && b[1] === 0x4d);
  } finally {
    await handle.close();
  }
}

/** Yields every regular file under `roots` (images flagged), in name order. */
export async function* walkImages(roots: readonly string[]): AsyncGenerator<Found> {
  const seenDirs = new Set<string>();
  const seenFiles = new Set<string>();
  async function* visit(dir: string): AsyncGenerator<Found> {
    let real: string;
    try {
      real = await realpath(dir);
    } catch (err) {
      yield { path: dir, error: (err as NodeJS.ErrnoException).code ?? String(err) };
      return;
    }
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      yield { path: dir, error: (err as NodeJS.ErrnoException).code ?? String(err) };
      return;
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const path = join(dir, name);
      let info;
      try {
        info = await stat(path);
      } catch (err) {
        yield { path, error: (err as NodeJS.ErrnoException).code ?? String(err) }; // a broken link, or gone since listing
        continue;
      }
      if (info.isDirectory()) yield* visit(path);
      else if (info.isFile()) yield* file(path);
    }
  }
  async function* file(path: string): AsyncGenerator<Found> {
    const real = await realpath(path).catch(() => path);
    if (seenFiles.has(real)) return;
    seenFiles.add(real);
    try {
      yield { path, image: await looksLikeImage(path) };
    } catch (err) {
      yield { path, error: (err as NodeJS.ErrnoException).code ?? String(err) };
    }
  }
  for (const root of roots) {
    const info = await stat(root).catch(() => null);
    if (!info) yield { path: root, error: 'ENOENT' };
    else if (info.isDirectory()) yield* visit(root);
    else yield* file(root);
  }
}
