/**
 * The photo-library commands: `tag` (keep an index and sidecars in step with
 * folders), `search` (by words, or `--like` a photo), `dupes`, `export`
 * (streamed to stdout with backpressure, so `| gzip` gets every byte).
 */
import { existsSync, rmSync, rmdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { once } from 'node:events';
import { ClassificationService } from '../classify/service.js';
import { ImageClassifier } from '../classify/classifier.js';
import { ResnetServeError } from '../errors.js';
import { unitInt8Bytes } from '../heads/vectors.js';
import { CategoryMap } from '../library/categories.js';
import { derivable } from '../library/derive.js';
import { TagIndex } from '../library/index-db.js';
import { plural } from '../plural.js';
import { displayPath, fsPath, linePath } from '../library/paths.js';
import { libraryModelKey, modelName, parseLibraryModelKey } from '../library/model-key.js';
import { LibraryReader } from '../library/search.js';
import { tagFolders, type TagSummary } from '../library/tagger.js';
import { realKey } from '../library/walk.js';
import type { ModelOptions } from '../types.js';
import { UsageError, fractionOption, intOption, langOption, type Parsed } from './args.js';
import { followLibraryModel, indexForReading, indexForTagging, precisionChange, taggedModelOf } from './library-index.js';
import { ProgressLine } from './progress.js';
import { stoppableWhileLoading } from './stop-while-loading.js';

function summaryLines(s: TagSummary): string[] {
  const rate = s.classified / Math.max(s.elapsedMs / 1000, 1e-3);
  const parts = [`Tagged ${s.tagged}`, `skipped ${s.skipped} unchanged`];
  if (s.moved) parts.push(`${s.moved} moved`);
  const count = (n: number, one: string, many: string): string => (n === 1 ? `1 ${one}` : `${n} ${many}`);
  if (s.copies) parts.push(count(s.copies, 'copy of a photo already seen', 'copies of photos already seen'));
  if (s.rederived) parts.push(`tags of ${s.rederived} derived again`);
  if (s.sidecarsWritten) parts.push(`${count(s.sidecarsWritten, 'sidecar', 'sidecars')} written`);
  parts.push(`${count(s.nonImages, 'not an image', 'not images')}${s.videos ? ` (${count(s.videos, 'video', 'videos')})` : ''}`);
  parts.push(`${s.failed} failed`);
  if (s.unreadableFolders.length) parts.push(`${count(s.unreadableFolders.length, 'folder', 'folders')} could not be read`);
  if (s.brokenLinks.length) parts.push(`${count(s.brokenLinks.length, 'link to nothing', 'links to nothing')} passed by`);
  if (s.removed) parts.push(`${count(s.removed, 'photo no longer in the folders', 'photos no longer in the folders')} taken out of the index`);
  const seconds = Math.round(s.elapsedMs / 1000);
  const speed = s.classified ? ` (${rate.toFixed(1)} images/s)` : '';
  const kept = s.keptEmpty.map((k) => `  kept: ${shown(k.root)} has no photo now; its ${count(k.photos, 'photo stays', 'photos stay')} in the index (a drive not mounted?). If they were deleted, remove the index and tag again.`);
  const links = s.brokenLinks.slice(0, 5).map((l) => `  link to nothing: ${shown(l)} (its target is missing: a drive not mounted, or a file moved away?)`);
  if (s.brokenLinks.length > 5) links.push(`  … and ${s.brokenLinks.length - 5} more links to nothing`);
  const misnamed = s.misnamed.slice(0, 10).map((m) => `  not an image: ${shown(m.path)}: ${m.reason}`);
  if (s.misnamed.length > 10) misnamed.push(`  … and ${s.misnamed.length - 10} more files named like photos that are not images`);
  return [`${parts.join(', ')}, in ${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}${speed}.`, ...kept, ...links, ...misnamed, ...s.failures.map((f) => `  failed: ${shown(f.path)}: ${f.reason}`), ...s.unreadableFolders.map((f) => `  not read: ${shown(f.path)}: ${f.reason}`)];
}

/** Removes an index this run created (with SQLite's journal files), and its `.resnet-serve` folder when that is left empty. */
function removeIndexFiles(dbPath: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${dbPath}${suffix}`, { force: true });
  if (basename(dirname(dbPath)) !== '.resnet-serve') return;
  try {
    rmdirSync(dirname(dbPath));
  } catch {
    // Other files of ours are there: it stays.
  }
}

/** A mistyped folder is refused before anything is written (it would otherwise get an empty index and a run that "tagged 0"). */
function checkLibraryFolders(roots: readonly string[]): void {
  for (const root of roots) {
    // Without trailing slashes, so that `photo.jpg/` is said to be a file rather than failing with ENOTDIR.
    const info = statSync(fsPath(root.replace(/[\\/]+$/, '') || root), { throwIfNoEntry: false });
    if (!info) throw new ResnetServeError('NOT_FOUND', `tag: there is no folder ${displayPath(root)}`);
    if (!info.isDirectory()) throw new UsageError(`tag takes folders of photos; ${displayPath(root)} is a file (resnet-serve classify ${displayPath(root)} answers for one photo)`);
  }
}

/** `resnet-serve tag <folders…>`. */
export async function tagCommand(roots: string[], values: Parsed, model: ModelOptions): Promise<number> {
  if (roots.length === 0) throw new UsageError('tag needs at least one folder');
  const minScore = fractionOption(values['min-score'], '--min-score', 0.1, { min: 0, max: 1, what: 'a probability' }) as number;
  const lang = langOption(values.lang, 'both');
  const naming = values['xmp-name'] ?? 'append';
  if (naming !== 'append' && naming !== 'replace') throw new UsageError('--xmp-name must be append or replace');
  const jobs = intOption(values.jobs, '--jobs', undefined);
  if (jobs === 0) throw new UsageError('--jobs must be at least 1');
  // Each job is a decoding thread with its own libvips: far more than the CPUs only costs memory.
  const maxJobs = 4 * availableParallelism();
  if (jobs !== undefined && jobs > maxJobs) throw new UsageError(`--jobs is at most ${maxJobs} here (4 per CPU), got ${jobs}`);
  const topK = intOption(values['top-k'], '--top-k', 5) as number;
  if (topK < 1) throw new UsageError('--top-k must be at least 1');
  if (!derivable({ topK, minScore })) throw new UsageError(`--top-k is at most 50 for a photo library (the index keeps each photo's 50 best classes)`);

  checkLibraryFolders(roots);

  const progress = new ProgressLine(process.stderr);
  const dbPath = await indexForTagging(roots[0], values.db, model.cacheDir, (text) => progress.log(text));
  const fresh = !existsSync(dbPath);
  const index = TagIndex.create(dbPath);
  if (index.upgradedFrom) progress.log(`The index ${dbPath} was made by an earlier version of resnet-serve: every photo is tagged again.`);
  const previous = taggedModelOf(index);
  // No model, no tags: an index made for this run would only tell search that the library has no photos.
  const undo = (): void => {
    index.close();
    if (fresh) removeIndexFiles(dbPath);
  };
  let service: ClassificationService;
  try {
    // Without --model, the library keeps the model it was tagged with (a forgotten --model would classify every photo again).
    model = followLibraryModel(previous, model, values, {
      doing: 'Tagging with',
      toDo: 'to keep it, or --model resnet18 to classify every photo again with that',
      calibrationGone: "give --precision int8 --calibrate DIR with a folder of photos like the library's (its photos are then classified again), or --precision fp32",
    });
    service = await stoppableWhileLoading(
      () => ClassificationService.start({ ...model, workers: jobs }),
      (signal) => `Stopped (${signal}) while the model was being made ready: no photo was tagged${fresh ? '' : ', and the index is as it was'}.`,
      undo,
    );
  } catch (err) {
    undo();
    throw err;
  }
  if (previous.name && previous.key && previous.key !== libraryModelKey(service.info)) {
    // Often a forgotten --model: said before every photo is classified again.
    const was = parseLibraryModelKey(previous.key);
    const change = was.sha256 === service.info.sha256 ? precisionChange(previous, service.info) : null;
    const what = change ? `${previous.name} in ${change.was}` : modelName(previous.name, was.sha256);
    const now = change ? change.now : modelName(service.info.name, service.info.sha256);
    const keep = change ? change.keep : 'that model with --model';
    progress.log(`The library was tagged with ${what}; this run uses ${now}, so each photo is classified again${keep ? ` (to keep the library's model, stop now and give ${keep})` : ''}.`);
  }
  // Ctrl-C or a TERM stops the run after the photos in flight, which are stored; a second one stops at once.
  const stopping = new AbortController();
  let stoppedBy: NodeJS.Signals | null = null;
  const stop = (signal: NodeJS.Signals): void => {
    if (stoppedBy) {
      // At once: the signal's own default action (no teardown of the model's threads mid-run), as the shell expects.
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
      return;
    }
    stoppedBy = signal;
    progress.log(`${signal}: stopping after the photos in flight (again to stop at once)…`);
    stopping.abort();
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
  try {
    const categories = values.labels ? CategoryMap.fromFile(resolve(values.labels), service.info.numClasses) : service.info.numClasses === 1000 ? CategoryMap.imagenet() : CategoryMap.none(service.info.numClasses);
    const summary = await tagFolders(
      service,
      index,
      { roots, settings: { topK, minScore }, lang, xmp: values.xmp ? naming : false, categories, jobs: Math.max(2, (jobs ?? service.workers) * 2), retag: values.retag, signal: stopping.signal },
      (p) => progress.update(p),
    );
    progress.done();
    for (const line of summaryLines(summary)) process.stderr.write(`${line}\n`);
    // Look-alikes and duplicates need embeddings: a model without one is said, not found out later from search.
    if (!service.model.session.extraOutputs.includes('embedding')) {
      process.stderr.write(`No embeddings were stored, so search --like and dupes will find nothing: ${service.model.missingOutputs ?? 'the model has no embedding output'}\n`);
    }
    if (stoppedBy) {
      const again = values.retag
        ? '--retag starts over when run again (without it, the photos not yet tagged again keep their earlier tags)'
        : 'run the same command again to go on from there';
      process.stderr.write(`Stopped (${stoppedBy}): the photos tagged so far are kept; ${again}.\n`);
      return stoppedBy === 'SIGINT' ? 130 : 143;
    }
    return summary.failed || summary.unreadableFolders.length ? 1 : 0;
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    index.close();
    await service.close();
  }
}

let watchingStdout = false;

/** Writes to stdout, waiting when the pipe is full; false once the reader has gone (EPIPE). */
async function writeOut(text: string): Promise<boolean> {
  if (!watchingStdout) {
    // `| head` closing early is normal: stop writing, quietly.
    process.stdout.on('error', () => process.stdout.destroy());
    watchingStdout = true;
  }
  if (process.stdout.destroyed || process.stdout.writableEnded) return false;
  if (!process.stdout.write(text)) {
    // The listeners of the two events that did not come are removed (a slow reader would otherwise pile them up).
    const settled = new AbortController();
    const { signal } = settled;
    await Promise.race([once(process.stdout, 'drain', { signal }), once(process.stdout, 'close', { signal }), once(process.stdout, 'error', { signal })]).catch(() => undefined);
    settled.abort();
  }
  return !process.stdout.destroyed;
}

/** A path as the user sees it: relative to the current folder when inside it (as `find .` prints), else whole. */
function shown(path: string): string {
  const cwd = process.cwd();
  return linePath(path.startsWith(`${cwd}/`) ? relative(cwd, path) : path);
}

/** A near duplicates' similarity, rounded down to 0.1%: 0.9996 is 99.9%, never 100%. */
function alike(similarity: number): string {
  return `${(Math.floor(similarity * 1000) / 10).toFixed(1)}%`;
}

function percent(score: number): string {
  // A matched tag under a thousandth is said as such, never as "0.0%".
  return score < 0.0005 ? '<0.1%' : `${(score * 100).toFixed(score >= 0.1 ? 0 : 1)}%`;
}

/** Says when some photos are still tagged with another model, so look-alikes and near duplicates leave them out. */
function noteOtherModels(reader: LibraryReader): void {
  const other = reader.otherModels();
  if (other.photos === 0) return;
  const which = other.models.join(', ');
  process.stderr.write(`${other.photos} of ${other.total} photos are still tagged with ${which}, not with ${modelName(reader.model.name, reader.model.sha256)} like the last run (was it stopped?): look-alikes and near duplicates leave them out until tag on the library runs again to the end.\n`);
}

/** `resnet-serve search <words…>` and `search --like photo.jpg`. */
export async function searchCommand(words: string[], values: Parsed, model: ModelOptions): Promise<number> {
  const limit = intOption(values.limit, '--limit', 20) as number;
  if (limit < 1) throw new UsageError('--limit must be at least 1');
  const lang = langOption(values.lang, undefined);
  const reader = LibraryReader.open(indexForReading(values, model.cacheDir));
  try {
    if (values.like !== undefined) {
      if (words.length) throw new UsageError('give words or --like PHOTO, not both');
      return await likeCommand(reader, values.like, limit, values, model, lang);
    }
    const result = reader.search(words, { limit });
    if (result.unknown.length) {
      const guesses = Object.values(result.suggestions ?? {});
      const guess = guesses.length ? ` Did you mean ${guesses.map((w) => `"${w}"`).join(', ')}?` : '';
      process.stderr.write(`No photo can match ${result.unknown.map((w) => `"${w}"`).join(', ')}: no class, category or synonym has that word.${guess}\n`);
      return 1;
    }
    const zh = lang === 'zh' || (lang === undefined && /[\u3400-\u9fff]/u.test(words.join('')));
    const both = lang === 'both';
    let gone = 0;
    for (const hit of result.hits) {
      // A photo moved or deleted since the last tag run is still shown, and marked.
      const missing = !existsSync(fsPath(hit.path));
      if (missing) gone++;
      const tags = hit.matched.map((m) => `${both ? `${m.en}/${m.zh}` : zh ? m.zh : m.en} ${percent(m.score)}`).join(', ');
      const line = values.json
        ? JSON.stringify({ path: displayPath(hit.path), score: hit.score, matched: hit.matched, ...(missing ? { missing: true } : {}) })
        : `${hit.score.toFixed(3)}  ${shown(hit.path)}  ${tags}${missing ? '  (no longer there)' : ''}`;
      if (!(await writeOut(`${line}\n`))) return 0;
    }
    const retag = 'run tag on the library again to follow moves and deletions';
    if (gone) process.stderr.write(gone === 1 ? `1 photo shown is no longer where it was tagged: ${retag}.\n` : `${gone} photos shown are no longer where they were tagged: ${retag}.\n`);
    if (!values.json) {
      const means = result.concepts.map((c) => `"${c.term}" (${plural(c.classes.size, 'class', 'classes')}, by ${c.via})`).join(' and ');
      const found = result.total === result.hits.length ? `${result.total === 1 ? '1 photo' : `All ${result.total} photos`} matching` : `${result.hits.length} of ${result.total} photos matching`;
      process.stderr.write(result.total ? `${found} ${means}${result.total > result.hits.length ? ' (--limit N for more)' : ''}.\n` : `No photos match ${means}.\n`);
    }
    // Like grep: 0 when something matched, 1 when nothing did.
    return result.total ? 0 : 1;
  } finally {
    reader.close();
  }
}

async function likeCommand(reader: LibraryReader, photo: string, limit: number, values: Parsed, model: ModelOptions, lang: string | undefined): Promise<number> {
  let target: number | Uint8Array;
  let real: string;
  try {
    real = await realKey(photo);
  } catch {
    // A photo deleted since it was tagged is still found by its folder and name: its embedding is in the index.
    let former: string | null = null;
    try {
      former = join(await realKey(dirname(photo)), basename(photo));
    } catch {
      // Its folder is gone too.
    }
    if (former === null || !reader.index.get(former)) throw new ResnetServeError('IO_ERROR', `Cannot read ${displayPath(photo)}: no such file`);
    process.stderr.write(`${displayPath(photo)} is no longer there; the look it had when tagged is used.\n`);
    real = former;
  }
  const known = reader.index.get(real);
  if (known) target = known.id;
  else {
    // A photo outside the library: embedded with the index's model.
    const tagged = parseLibraryModelKey(reader.model.sha256);
    const taggedModel = taggedModelOf(reader.index);
    model = followLibraryModel(taggedModel, model, values, {
      doing: 'Comparing with',
      toDo: 'to compare a photo from outside the library',
      calibrationGone: 'tag the library again (with --precision int8 --calibrate DIR, a folder of photos like it, or --precision fp32) to compare a new photo with it',
    });
    const classifier = await ImageClassifier.create(model);
    try {
      if (classifier.info.sha256 !== tagged.sha256) {
        throw new ResnetServeError('INVALID_ARGUMENT', `The library was tagged with ${reader.model.name}; give the same model (--model) to compare a new photo with it`);
      }
      // Another precision or calibration sees photos a little otherwise: its look-alikes would be off.
      const change = precisionChange(taggedModel, classifier.info);
      if (change) {
        const remedy = change.keep ? `give ${change.keep}` : `tag the library again (resnet-serve tag ${values.library ?? '.'})`;
        throw new ResnetServeError('INVALID_ARGUMENT', `The library was tagged with ${reader.model.name} in ${change.was}; this run uses ${change.now}: ${remedy} to compare a new photo with it`);
      }
      const [outcome] = await classifier.analyzeBatch([await readFile(fsPath(photo))], ['embedding'], { mirror: true });
      if (!outcome.ok) throw outcome.error;
      target = unitInt8Bytes(outcome.outputs.embedding?.data ?? []);
    } finally {
      await classifier.close();
    }
  }
  noteOtherModels(reader);
  const found = await reader.like(target, limit);
  for (const n of found) {
    // What each look-alike was tagged as (its first two labels), as search shows the tags that matched.
    const labels = reader.index.tagsOf(n.id).filter((t) => t.kind === 'label').slice(0, 2);
    const tags = labels.map((t) => `${lang === 'both' ? `${t.en}/${t.zh}` : lang === 'zh' ? t.zh : t.en} ${percent(t.score)}`).join(', ');
    const line = values.json ? JSON.stringify({ ...n, path: displayPath(n.path), labels: labels.map((t) => ({ en: t.en, zh: t.zh, score: t.score })) }) : `${n.similarity.toFixed(3)}  ${shown(n.path)}  ${tags}`;
    if (!(await writeOut(`${line}\n`))) return 0;
  }
  if (!values.json) process.stderr.write(`${plural(found.length, 'photo', 'photos')} most like ${displayPath(photo)}, by the look the model sees (1 is the same)${found.length === limit ? ' (--limit N for more)' : ''}.\n`);
  return 0;
}

/** `resnet-serve dupes`: groups of exact and near duplicates, largest first; nothing is deleted. */
export async function dupesCommand(values: Parsed, model: ModelOptions): Promise<number> {
  // 0 would call every pair of photos a duplicate.
  const threshold = fractionOption(values.threshold, '--threshold', undefined, { min: 0, max: 1, above: true, what: 'a similarity' });
  const reader = LibraryReader.open(indexForReading(values, model.cacheDir));
  try {
    noteOtherModels(reader);
    const groups = await reader.duplicates(threshold === undefined ? {} : { fingerprint: threshold });
    let n = 0;
    for (const g of groups) {
      n++;
      const photos = g.photos.map((p) => ({ path: p.path, width: p.width, height: p.height, sha256: p.sha256 }));
      // In a group of near duplicates, exact copies among them are said too.
      const sameAs = (i: number): string => {
        const first = g.kind === 'near' ? photos.findIndex((q) => q.sha256 === photos[i].sha256) : i;
        return first < i ? `  (same bytes as ${shown(photos[first].path)})` : '';
      };
      const text = values.json
        ? `${JSON.stringify({ kind: g.kind, similarity: g.similarity, photos: photos.map((p) => ({ ...p, path: displayPath(p.path) })) })}\n`
        : `Group ${n}: ${g.photos.length} photos, ${g.kind === 'exact' ? 'exact duplicates (same bytes)' : `near duplicates (pictures ${alike(g.similarity)} alike)`}\n${photos.map((p, i) => `  ${shown(p.path)}  ${p.width}×${p.height}${sameAs(i)}`).join('\n')}\n`;
      if (!(await writeOut(text))) return 0;
    }
    if (!values.json) process.stderr.write(groups.length ? `${plural(groups.length, 'group')}; nothing was deleted.\n` : 'No duplicates found.\n');
    return 0;
  } finally {
    reader.close();
  }
}

/** `resnet-serve export`: the whole index to stdout as CSV, JSON or JSON lines, streamed. */
export async function exportCommand(values: Parsed, model: ModelOptions): Promise<number> {
  const format = values.format ?? 'json';
  if (!['csv', 'json', 'jsonl'].includes(format)) throw new UsageError(`--format must be csv, json or jsonl, got ${JSON.stringify(format)}`);
  const index = TagIndex.open(indexForReading(values, model.cacheDir));
  try {
    const q = (v: unknown): string => `"${String(v).replace(/"/g, '""')}"`;
    // A page of photos at a time (keyset by path), so memory stays flat however large the library.
    const page = index.db.prepare('SELECT id, path, size, mtime_ms, sha256, model, model_sha256, width, height, tagged_at, sidecar FROM files WHERE path > ? ORDER BY path LIMIT 500');
    // The first page is read before a byte is written: an index found damaged leaves no half-written header in the pipe.
    const firstPage = page.all('') as Record<string, unknown>[];
    if (format === 'csv' && !(await writeOut('path,size,sha256,model,kind,label_en,label_zh,score\n'))) return 0;
    if (format === 'json' && !(await writeOut('['))) return 0;
    let first = true;
    let after = '';
    for (let rows = firstPage; rows.length; rows = page.all(after) as Record<string, unknown>[]) {
      after = rows[rows.length - 1].path as string;
      for (const r of rows) {
        const tags = index.tagsOf(r.id as number);
        let text: string;
        if (format === 'csv') text = tags.map((t) => [displayPath(r.path as string), r.size, r.sha256, r.model, t.kind, t.en, t.zh, t.score.toFixed(6)].map(q).join(',') + '\n').join('');
        else {
          const { sha256: modelSha256, precision } = parseLibraryModelKey(r.model_sha256 as string);
          const file = { path: displayPath(r.path as string), size: r.size, mtimeMs: r.mtime_ms, sha256: r.sha256, model: r.model, modelSha256, precision, width: r.width, height: r.height, taggedAt: r.tagged_at, sidecar: r.sidecar === null ? null : displayPath(r.sidecar as string), tags };
          text = format === 'jsonl' ? `${JSON.stringify(file)}\n` : `${first ? '\n' : ',\n'}${JSON.stringify(file)}`;
        }
        first = false;
        if (!(await writeOut(text))) return 0;
      }
    }
    if (format === 'json') await writeOut(first ? ']\n' : '\n]\n');
    return 0;
  } finally {
    index.close();
  }
}
