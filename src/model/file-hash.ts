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
  return (await cachedSha256s([path], cacheDir))[0];
}

/**
 * {@link cachedSha256} for many files (a calibration folder): the cache file is
 * read once and written once, not once per file. Hashes come back in `paths` order.
 */
export async function cachedSha256s(paths: readonly string[], cacheDir: string): Promise<string[]> {
  const keys = paths.map((p) => resolve(p));
  const infos = await Promise.all(keys.map((key) => stat(key)));
  const entries = await readEntries(cacheDir);
  const computed: Record<string, Entry> = {};
  const hashes: string[] = [];
  for (const [i, key] of keys.entries()) {
    const { size, mtimeMs } = infos[i];
    const known = entries[key];
    if (isEntry(known) && known.size === size && known.mtimeMs === mtimeMs) {
      hashes.push(known.sha256);
      continue;
    }
    const sha256 = await sha256File(key);
    computed[key] = { size, mtimeMs, sha256 };
    hashes.push(sha256);
  }
  if (Object.keys(computed).length) {
    // Read again just before writing: another process may have added entries meanwhile.
    const fresh = { ...(await readEntries(cacheDir)), ...computed };
    await writeFileAtomic(join(cacheDir, FILE_NAME), JSON.stringify(fresh, null, 1)).catch(() => undefined);
  }
  return hashes;
}
