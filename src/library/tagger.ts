/**
 * `resnet-serve tag`: keeps a photo index in step with a library. Walks the
 * folders, then per photo:
 * - unchanged (same size and mtime, same model): nothing to run; its tags are
 *   derived again only if the settings changed, its sidecar rewritten only if
 *   what it should hold changed (or writing it failed last time);
 * - the same content as a photo that disappeared: a move, the row follows it
 *   and so does its sidecar (at once with --xmp, else at the next run with it);
 * - the same content as a photo already classified (a copy): its scores are
 *   reused;
 * - otherwise: classified (decoding in parallel, inference in batches), with
 *   its embedding and fingerprint, and saved in a batch transaction.
 * Photos gone from the folders are removed from the index. Originals are only
 * ever read.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile, realpath, rename, stat } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { softmax } from '../classify/postprocess.js';
import type { ClassificationService } from '../classify/service.js';
import { ResnetServeError } from '../errors.js';
import { unitInt8Bytes } from '../heads/vectors.js';
import { FINGERPRINT_BYTES } from '../image/fingerprint.js';
import { IMAGE_EXTENSIONS } from '../image/formats.js';
import type { LabelLanguage } from '../types.js';
import type { CategoryMap } from './categories.js';
import { deriveTags, keptScores, keywordsFor, tagsKey, type ClassScore, type TagSettings } from './derive.js';
import { TagIndex, type FileRow, type NewEntry } from './index-db.js';
import { libraryModelKey } from './model-key.js';
import { displayPath, fsPath, isUnder, pathKey } from './paths.js';
import { removeStaleTemporaries, sidecarPaths, writeSidecar, type SidecarNaming } from './sidecars.js';
import { holdsOthers } from './xmp.js';
import { walkImages } from './walk.js';

/** Options of one tagging run. */
export interface TagOptions {
  roots: string[];
  settings: TagSettings;
  lang: LabelLanguage;
  xmp: false | SidecarNaming;
  categories: CategoryMap;
  /** Files in flight at once (decode concurrency). */
  jobs: number;
  /** Files per database transaction. */
  batch?: number;
  /** Classify every photo again, even unchanged ones. */
  retag?: boolean;
  /** Stops the run after the photos in flight (Ctrl-C): what was done is stored, nothing is pruned. */
  signal?: AbortSignal;
}

/** Progress after each file. */
export interface TagProgress {
  /** Files looked at, of `total`. */
  done: number;
  total: number;
  /** Files that need the model (fewer as files turn out to be moves, copies or unchanged content), and how many of them are done (for the rate and ETA). */
  toClassify: number;
  classified: number;
  failed: number;
  /** Milliseconds since the first file that needed the model. */
  classifyMs: number;
}

/** The end of a run. */
export interface TagSummary {
  total: number;
  /** Photos whose tags were written: classified, or copies of a photo already seen. */
  tagged: number;
  /** Photos the model ran on. */
  classified: number;
  skipped: number;
  moved: number;
  copies: number;
  rederived: number;
  sidecarsWritten: number;
  removed: number;
  nonImages: number;
  /** Files named like photos (`.jpg`, `.png`…) that are not images: named, since the user took them for photos. */
  misnamed: { path: string; reason: string }[];
  videos: number;
  failed: number;
  failures: { path: string; reason: string }[];
  /** Folders that could not be listed (what the index has under them is kept). */
  unreadableFolders: { path: string; reason: string }[];
  /** Symbolic links whose target is missing: passed by, not failures (what the index has under them is kept). */
  brokenLinks: string[];
  /** Folders given that have no photo now although the index has some there: those are kept (a drive not mounted?). */
  keptEmpty: { root: string; photos: number }[];
  elapsedMs: number;
  /** The run was stopped (`signal`) before every photo was looked at. */
  stopped: boolean;
}

/** What the model gave for one photo's content. */
interface Analysed {
  scores: ClassScore[];
  embedding: Buffer | null;
  fingerprint: Buffer | null;
  width: number;
  height: number;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * Whether the file at `key` is really gone (ENOENT, ENOTDIR), as against
 * merely out of reach (EACCES in a folder that cannot be read, EIO on a
 * failing disk), which must not remove it from the index.
 */
function isGone(key: string): boolean {
  try {
    statSync(fsPath(key));
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR';
  }
}


/** Runs a tagging pass into `index`; `onProgress` is called after every file. */
export async function tagFolders(service: ClassificationService, index: TagIndex, options: TagOptions, onProgress?: (p: TagProgress) => void): Promise<TagSummary> {
  const start = performance.now();
  const { info } = service;
  const modelSha = libraryModelKey(info);
  const labels = { en: service.model.labels.en, zh: service.model.labels.zh ?? service.model.labels.en };
  const key = tagsKey(options.settings, options.categories);
  const withEmbedding = service.model.session.extraOutputs.includes('embedding');
  index.setMeta({
    model: info.name,
    model_sha256: modelSha,
    // Where the weights were read, so a photo from outside the library can be compared without naming the model again.
    model_path: info.path,
    // The folder an int8 model was calibrated on ('' for the built-in photos), so a later run without --calibrate uses it again.
    model_calibrate: info.calibration?.folder ?? '',
    labels_en: JSON.stringify(labels.en),
    labels_zh: JSON.stringify(labels.zh),
    categories: JSON.stringify(options.categories.toDocument()),
    settings: JSON.stringify({ ...options.settings, lang: options.lang }),
  });

  const summary: TagSummary = { total: 0, tagged: 0, classified: 0, skipped: 0, moved: 0, copies: 0, rederived: 0, sidecarsWritten: 0, removed: 0, nonImages: 0, misnamed: [], videos: 0, failed: 0, failures: [], unreadableFolders: [], brokenLinks: [], keptEmpty: [], elapsedMs: 0, stopped: false };
  const fail = (path: string, reason: string): void => {
    summary.failed++;
    summary.failures.push({ path: displayPath(path), reason });
  };

  // 1. What is there.
  // The index's own files (tags.sqlite, -wal, -shm) when it lives among the photos.
  const indexFile = resolve(index.path);
  const images: string[] = [];
  const realRoots: string[] = [];
  // Folders and files the walk could not read: what the index has under them is kept, not taken as gone.
  const unreadable: string[] = [];
  for await (const found of walkImages(options.roots)) {
    if ('error' in found) {
      if (found.brokenLink) summary.brokenLinks.push(displayPath(found.shown));
      // A folder that cannot be listed is said apart from the photos that failed, as classify says it.
      else if (found.folder) summary.unreadableFolders.push({ path: displayPath(found.path), reason: `cannot list folder (${found.error})` });
      else fail(found.path, `cannot read (${found.error})`);
      unreadable.push(found.path);
    }
    else if (found.path.startsWith(indexFile) || /\.xmp$/i.test(found.path)) continue; // the index's files, sidecars
    else if (found.kind === 'image') images.push(found.path);
    else {
      summary.nonImages++;
      if (found.kind === 'video') summary.videos++;
      else if (IMAGE_EXTENSIONS.has(extname(found.shown).toLowerCase())) {
        summary.misnamed.push({ path: displayPath(found.shown), reason: found.kind === 'empty' ? 'an empty file' : 'named like a photo, but not an image' });
      }
    }
  }
  for (const root of options.roots) {
    const real = await realpath(fsPath(root), { encoding: 'buffer' }).catch(() => null);
    if (real) realRoots.push(pathKey(real));
  }
  summary.total = images.length;
  // The folders the index covers: the gallery serves photos under them and nowhere else.
  const known = JSON.parse(index.meta('roots') ?? '[]') as string[];
  // A library folder that is no longer there (moved or renamed): its photos found under the folders given are
  // followed as moves; the others stay (it may be a drive not mounted).
  const missingRoots = known.filter((k) => !realRoots.some((r) => isUnder(k, r)) && isGone(k));
  // A folder under one given is covered by it, and one given under a folder already covered adds nothing.
  const kept = known.filter((k) => !realRoots.some((r) => k !== r && isUnder(k, r)));
  const roots = [...new Set([...kept, ...realRoots.filter((r) => !kept.some((k) => k !== r && isUnder(r, k)))])].sort();
  index.setMeta({ roots: JSON.stringify(roots) });
  const sidecarOf = options.xmp ? sidecarPaths(images, options.xmp, (p) => existsSync(fsPath(p))) : null;

  // 2. What changed: unchanged photos need no model; the others are classified (or found to be moves and copies).
  const seen = new Set(images);
  // Rows from before fingerprints or embeddings were kept (or of another size) are classified again.
  const incomplete = new Set(
    (index.db.prepare('SELECT id FROM files WHERE fingerprint IS NULL OR length(fingerprint) != ? OR (embedding IS NULL AND ?)').all(FINGERPRINT_BYTES, withEmbedding ? 1 : 0) as { id: number }[]).map((r) => r.id),
  );
  const unchanged: FileRow[] = [];
  const work: { path: string; size: number; mtimeMs: number; known?: FileRow }[] = [];
  for (const path of images) {
    let st;
    try {
      st = await stat(fsPath(path));
    } catch (err) {
      fail(path, `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      continue;
    }
    const known = index.get(path);
    const current = known && !incomplete.has(known.id) && known.modelSha256 === modelSha;
    if (!options.retag && current && known.size === st.size && known.mtimeMs === st.mtimeMs) unchanged.push(known);
    else work.push({ path, size: st.size, mtimeMs: st.mtimeMs, known });
  }
  const goneByContent = new Map<string, FileRow[]>();
  // A folder given with no photo at all now, where the index has some: an empty mount point, not a mass deletion.
  const covered = index.under(realRoots);
  for (const root of realRoots) {
    const there = covered.filter((r) => isUnder(r.path, root)).length;
    if (there > 0 && !images.some((p) => isUnder(p, root))) {
      summary.keptEmpty.push({ root: displayPath(root), photos: there });
      unreadable.push(root);
    }
  }
  const gone = covered.filter((r) => !seen.has(r.path) && !unreadable.some((u) => isUnder(r.path, u)) && isGone(r.path));
  const moveOnly = new Set(missingRoots.length ? index.under(missingRoots).filter((r) => !seen.has(r.path)) : []);
  for (const r of [...gone, ...moveOnly]) goneByContent.set(r.sha256, [...(goneByContent.get(r.sha256) ?? []), r]);

  const progress: TagProgress = { done: unchanged.length, total: images.length, toClassify: work.length, classified: 0, failed: summary.failed, classifyMs: 0 };
  let firstWork = 0;
  const report = (): void => {
    progress.failed = summary.failed;
    progress.classifyMs = firstWork ? performance.now() - firstWork : 0;
    onProgress?.(progress);
  };
  report();

  // 3. Sidecars and tags of photos already in the index.
  const settle = async (row: FileRow): Promise<void> => {
    let tags = null;
    if (row.tagsKey !== key) {
      tags = deriveTags(index.scoresOf(row.id), labels, options.categories, options.settings);
      index.retag([{ id: row.id, tags, tagsKey: key }]);
      summary.rederived++;
    }
    if (sidecarOf) await sidecar(row, tags ?? index.tagsOf(row.id));
  };
  const sidecar = async (row: FileRow, tags: ReturnType<typeof deriveTags>): Promise<void> => {
    const path = sidecarOf?.get(row.path);
    if (!path) return;
    const keywords = keywordsFor(tags, options.categories, options.lang);
    const wanted = sha256(Buffer.from(JSON.stringify([path, keywords]))).slice(0, 16);
    if (row.sidecar === path && row.sidecarKey === wanted && existsSync(fsPath(path))) return;
    // The photo moved since its sidecar was written (in this run, or in one without --xmp): the sidecar follows it.
    if (row.sidecar && row.sidecar !== path) await followSidecar(row.sidecar, path);
    try {
      if (await writeSidecar(path, keywords)) summary.sidecarsWritten++;
      index.setSidecar(row.id, path, wanted);
    } catch (err) {
      index.setSidecar(row.id, path, null);
      fail(path, err instanceof ResnetServeError ? err.message : String(err));
    }
  };
  const current = new Set(sidecarOf?.values() ?? []);
  /**
   * A moved or renamed photo takes the sidecar we wrote for it along (with
   * whatever other tools added to it), unless that name is another photo's
   * sidecar now or the new place already has one; then the old one is left.
   */
  const followSidecar = async (from: string, to: string | undefined): Promise<void> => {
    if (!to || from === to || current.has(from) || existsSync(fsPath(to)) || !existsSync(fsPath(from))) return;
    await rename(fsPath(from), fsPath(to)).catch(() => undefined);
  };
  /**
   * Of the gone photos with the same content, the one a new photo is: the
   * one of the same name, else one whose sidecar holds more than our
   * keywords (the user's, another tool's), so that sidecar is the one that
   * follows; a copy deleted in the same run leaves with its own.
   */
  const movedFrom = async (path: string, gone: readonly FileRow[]): Promise<FileRow | undefined> => {
    const candidates = gone.filter((r) => r.modelSha256 === modelSha);
    if (candidates.length < 2) return candidates[0];
    const name = basename(path).toLowerCase();
    const sameName = candidates.find((r) => basename(r.path).toLowerCase() === name);
    if (sameName) return sameName;
    for (const r of candidates) {
      const text = r.sidecar ? await readFile(fsPath(r.sidecar), 'utf8').catch(() => null) : null;
      if (text !== null && holdsOthers(text)) return r;
    }
    return candidates[0];
  };
  for (const row of unchanged) {
    await settle(row);
    summary.skipped++;
  }

  // 4. New and changed photos.
  const pending: NewEntry[] = [];
  const byContent = new Map<string, Analysed>();
  const flush = async (): Promise<void> => {
    if (!pending.length) return;
    const batch = pending.splice(0);
    try {
      index.saveBatch(batch);
    } catch (err) {
      // Nothing of the batch was stored (one transaction): each of its photos is named, and tried again next run.
      summary.tagged -= batch.length;
      const reason = err instanceof ResnetServeError ? err.message : `not stored in the index (${(err as Error).message})`;
      for (const e of batch) fail(e.file.path, reason);
      return;
    }
    if (sidecarOf) for (const e of batch) await sidecar(index.get(e.file.path) as FileRow, e.tags);
  };
  const reuse = (sha: string): Analysed | undefined => {
    const inRun = byContent.get(sha);
    if (inRun) return inRun;
    const row = index.withContent(sha).find((r) => r.modelSha256 === modelSha && r.tagsKey !== null && !incomplete.has(r.id));
    if (!row) return undefined;
    const stored = index.db.prepare('SELECT embedding, fingerprint FROM files WHERE id = ?').get(row.id) as { embedding: Buffer | null; fingerprint: Buffer | null };
    return { scores: index.scoresOf(row.id), embedding: stored.embedding, fingerprint: stored.fingerprint, width: row.width, height: row.height };
  };

  const vanished: FileRow[] = [];
  async function one(item: (typeof work)[number]): Promise<void> {
    const { path, known } = item;
    try {
      const bytes = await readFile(fsPath(path));
      const sha = sha256(bytes);
      if (!options.retag && known && !incomplete.has(known.id) && known.modelSha256 === modelSha && known.sha256 === sha) {
        index.touch(known.id, item.mtimeMs);
        await settle(known);
        summary.skipped++;
        progress.toClassify--;
        return;
      }
      const moved = options.retag ? undefined : await movedFrom(path, goneByContent.get(sha) ?? []);
      if (moved && !known) {
        goneByContent.set(sha, (goneByContent.get(sha) ?? []).filter((r) => r !== moved));
        index.move(moved.id, path, item.mtimeMs);
        await settle({ ...moved, path, mtimeMs: item.mtimeMs, sidecarKey: null });
        summary.moved++;
        progress.toClassify--;
        return;
      }
      let result = options.retag ? byContent.get(sha) : reuse(sha);
      if (result) {
        summary.copies++;
        progress.toClassify--;
      } else {
        firstWork ||= performance.now();
        const [outcome] = await service.analyzeMany([bytes], withEmbedding ? ['embedding'] : [], undefined, { mirror: withEmbedding, fingerprint: true });
        if (!outcome.ok) throw outcome.error;
        result = {
          scores: keptScores(softmax(outcome.outputs.logits.data)),
          embedding: outcome.outputs.embedding ? unitInt8Bytes(outcome.outputs.embedding.data) : null,
          fingerprint: outcome.fingerprint ? Buffer.from(outcome.fingerprint) : null,
          width: outcome.width,
          height: outcome.height,
        };
        byContent.set(sha, result);
        progress.classified++;
      }
      pending.push({
        file: { path, size: bytes.length, mtimeMs: item.mtimeMs, sha256: sha, model: info.name, modelSha256: modelSha, width: result.width, height: result.height, taggedAt: new Date().toISOString(), tagsKey: key },
        scores: result.scores,
        tags: deriveTags(result.scores, labels, options.categories, options.settings),
        embedding: result.embedding,
        fingerprint: result.fingerprint,
      });
      summary.tagged++;
      if (pending.length >= (options.batch ?? 16)) await flush();
    } catch (err) {
      // Deleted between the listing and the reading (a library in use): gone, like any deleted photo, not failed.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && isGone(path)) {
        if (known) vanished.push(known);
        return;
      }
      fail(path, err instanceof ResnetServeError ? err.message : (err as Error).message);
    } finally {
      progress.done++;
      report();
    }
  }

  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, options.jobs) }, async () => {
      while (next < work.length && !options.signal?.aborted) await one(work[next++]);
    }),
  );
  await flush();

  // Temporary sidecars a killed run left behind (hidden, so no walk finds them) go.
  if (sidecarOf) for (const dir of new Set([...sidecarOf.values()].map((p) => dirname(p)))) await removeStaleTemporaries(dir);

  summary.classified = progress.classified;
  summary.elapsedMs = performance.now() - start;
  // Stopped: photos not looked at may be the new places of those that look gone; the next run decides.
  if (options.signal?.aborted) return { ...summary, stopped: true };

  // 5. Photos that are gone (and did not move) leave the index.
  const removed = [...goneByContent.values()].flat().filter((r) => !moveOnly.has(r)).concat(vanished);
  index.remove(removed.map((r) => r.id));
  summary.removed = removed.length;
  if (missingRoots.length) {
    // A folder that is gone and has nothing left in the index (all followed elsewhere) is no longer covered.
    const left = index.under(missingRoots);
    const emptied = missingRoots.filter((k) => !left.some((r) => isUnder(r.path, k)));
    index.setMeta({ roots: JSON.stringify(roots.filter((k) => !emptied.includes(k))) });
  }
  summary.classified = progress.classified;
  summary.elapsedMs = performance.now() - start;
  return summary;
}
