/**
 * SHA-256 of model files, remembered by path, size and modification time in
 * `<cache>/hashes.json`, so that a large checkpoint is hashed once and not at
 * every start-up, while a file that changed is hashed again.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sha256File, writeFileAtomic } from '../fs-atomic.js';

interface Entry {
  size: number;
  mtimeMs: number;
  sha256: string;
}

const FILE_NAME = 'hashes.json';

async function readEntries(cacheDir: string): Promise<Record<string, Entry>> {
  try {
    const parsed = JSON.parse(await readFile(join(cacheDir, FILE_NAME), 'utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {};
  } catch {
    return {};
  }
}

const isEntry = (e: unknown): e is Entry =>
  !!e && typeof e === 'object' && typeof (e as Entry).size === 'number' && typeof (e as Entry).mtimeMs === 'number' && /^[0-9a-f]{64}$/.test(String((e as Entry).sha256));

/**
 * The SHA-256 (hex) of the file at `path`: from `<cacheDir>/hashes.json` when
 * its size and mtime are unchanged, else computed and recorded. A cache that
 * cannot be written is only a slower start, never an error.
 */
export async function cachedSha256(path: string, cacheDir: string): Promise<string> {
  const key = resolve(path);
  const info = await stat(key);
  const entries = await readEntries(cacheDir);
  const known = entries[key];
  if (isEntry(known) && known.size === info.size && known.mtimeMs === info.mtimeMs) return known.sha256;
  const sha256 = await sha256File(key);
  const fresh = await readEntries(cacheDir);
  fresh[key] = { size: info.size, mtimeMs: info.mtimeMs, sha256 };
  await writeFileAtomic(join(cacheDir, FILE_NAME), JSON.stringify(fresh, null, 1)).catch(() => undefined);
  return sha256;
}
