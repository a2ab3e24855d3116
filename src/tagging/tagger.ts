/**
 * `resnet-serve tag`: walks folders, skips what the index already has
 * (same size and mtime and model; same content hash when only the mtime
 * moved), classifies the rest with parallel decoding and batched inference,
 * and saves each batch in one transaction, plus XMP sidecars when asked.
 * Originals are only ever read.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ClassificationService } from '../classify/service.js';
import type { LabelLanguage, Prediction } from '../types.js';
import type { CategoryMap } from './categories.js';
import { TagIndex, type FileRow, type TagRow } from './index-db.js';
import { walkImages } from './walk.js';
import { writeSidecar, type Keywords } from './xmp.js';

/** Options of one tagging run. */
export interface TagOptions {
  roots: string[];
  dbPath: string;
  topK: number;
  minScore: number;
  lang: LabelLanguage;
  xmp: false | 'append' | 'replace';
  categories: CategoryMap;
  /** Files in flight at once (decode concurrency). */
  jobs: number;
  /** Files per database transaction. */
  batch?: number;
}

/** Progress after each file. */
export interface TagProgress {
  done: number;
  total: number;
  tagged: number;
  skipped: number;
  failed: number;
  elapsedMs: number;
}

/** The end of a run. */
export interface TagSummary extends TagProgress {
  nonImages: number;
  failures: { path: string; reason: string }[];
}

/** Tags for one image: top-k labels above `minScore` and its categories above `minScore` (top 3). */
export function tagsFor(probabilities: Prediction[], categories: CategoryMap, options: { topK: number; minScore: number }): TagRow[] {
  const labels = probabilities.slice(0, options.topK).filter((p, i) => i === 0 || p.score >= options.minScore);
  const full = new Float64Array(probabilities.length);
  for (const p of probabilities) full[p.index] = p.score;
  const cats = categories.aggregate(full).filter((c, i) => i < 3 && (i === 0 || c.score >= options.minScore));
  return [
    ...labels.map((p): TagRow => ({ kind: 'label', classIndex: p.index, en: p.label, zh: p.label_zh ?? p.label, score: p.score })),
    ...cats.map((c): TagRow => ({ kind: 'category', classIndex: null, en: c.category.en, zh: c.category.zh, score: c.score })),
  ];
}

/** XMP keywords for a file's tags in the chosen language(s). */
export function keywordsFor(tags: TagRow[], categories: CategoryMap, lang: LabelLanguage): Keywords {
  const langs: ('en' | 'zh')[] = lang === 'both' ? ['en', 'zh'] : [lang];
  const flat: string[] = [];
  const hierarchical: string[][] = [];
  for (const t of tags) {
    for (const l of langs) flat.push(t[l]);
    if (t.kind === 'label' && t.classIndex !== null) {
      const c = categories.categoryOf(t.classIndex);
      for (const l of langs) hierarchical.push([...(c.parent ? [c.parent[l]] : []), c[l], t[l]]);
    }
  }
  return { flat: [...new Set(flat)], hierarchical };
}

/** Runs a tagging pass; `onProgress` is called after every file. */
export async function tagFolders(service: ClassificationService, options: TagOptions, onProgress?: (p: TagProgress) => void): Promise<TagSummary> {
  const start = performance.now();
  const index = new TagIndex(options.dbPath);
  const dbReal = resolve(options.dbPath);
  const summary: TagSummary = { done: 0, total: 0, tagged: 0, skipped: 0, failed: 0, elapsedMs: 0, nonImages: 0, failures: [] };
  const images: string[] = [];
  for await (const found of walkImages(options.roots)) {
    if ('error' in found) summary.failures.push({ path: found.path, reason: `cannot read (${found.error})` });
    else if (!found.image || resolve(found.path).startsWith(`${dbReal}`)) summary.nonImages++;
    else images.push(found.path);
  }
  summary.failed = summary.failures.length;
  summary.total = images.length;
  const { info } = service;
  const pending: { file: FileRow; tags: TagRow[] }[] = [];
  const byContent = new Map<string, { tags: TagRow[]; width: number; height: number }>();
  const flush = (): void => {
    if (pending.length) index.saveBatch(pending.splice(0));
  };
  const report = (): void => onProgress?.({ ...summary, elapsedMs: performance.now() - start });

  async function one(path: string): Promise<void> {
    try {
      const st = await stat(path);
      const known = index.get(path);
      const sameModel = known?.modelSha256 === info.sha256;
      if (known && sameModel && known.size === st.size && known.mtimeMs === st.mtimeMs) {
        summary.skipped++;
        return;
      }
      const bytes = await readFile(path);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      if (known && sameModel && known.size === st.size && known.sha256 === sha256) {
        index.touch(path, st.mtimeMs);
        summary.skipped++;
        return;
      }
      let result = byContent.get(sha256);
      if (!result) {
        const [outcome] = await service.classifyMany([bytes], { topK: service.model.session.numClasses, lang: 'both' });
        if (!outcome.ok) throw outcome.error;
        result = { tags: tagsFor(outcome.predictions, options.categories, options), width: outcome.width, height: outcome.height };
        byContent.set(sha256, result);
      }
      pending.push({
        file: { path, size: st.size, mtimeMs: st.mtimeMs, sha256, model: info.name, modelSha256: info.sha256, width: result.width, height: result.height, taggedAt: new Date().toISOString() },
        tags: result.tags,
      });
      if (options.xmp) await writeSidecar(path, keywordsFor(result.tags, options.categories, options.lang), options.xmp);
      summary.tagged++;
      if (pending.length >= (options.batch ?? 16)) flush();
    } catch (err) {
      summary.failed++;
      summary.failures.push({ path, reason: (err as Error).message });
    } finally {
      summary.done++;
      report();
    }
  }

  try {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.max(1, options.jobs) }, async () => {
        while (next < images.length) await one(images[next++]);
      }),
    );
    flush();
  } finally {
    index.close();
  }
  summary.elapsedMs = performance.now() - start;
  return summary;
}
