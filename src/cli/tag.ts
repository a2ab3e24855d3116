/** `resnet-serve tag`, `search` and `export`: the photo-library commands. */
import { writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ClassificationService } from '../classify/service.js';
import { ResnetServeError } from '../errors.js';
import { CategoryMap } from '../tagging/categories.js';
import { TagIndex } from '../tagging/index-db.js';
import { tagFolders, type TagProgress, type TagSummary } from '../tagging/tagger.js';
import type { LabelLanguage, ModelOptions } from '../types.js';

/** Where the index lives: --db, else `<first folder>/.resnet-serve/tags.sqlite`. */
export function defaultDbPath(roots: string[], db?: string): string {
  return resolve(db ?? join(roots[0] ?? '.', '.resnet-serve', 'tags.sqlite'));
}

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** A progress bar with rate and ETA on a terminal; a line every 5 s otherwise. */
function progressPrinter(out: NodeJS.WriteStream): (p: TagProgress) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    const finished = p.done === p.total;
    if (!finished && now - last < (out.isTTY ? 100 : 5000)) return;
    last = now;
    const rate = p.tagged / Math.max(p.elapsedMs / 1000, 1e-3);
    const perFile = p.elapsedMs / Math.max(p.done, 1);
    const eta = clock((p.total - p.done) * perFile);
    const text = `${p.done}/${p.total} files, ${rate.toFixed(1)} images/s, ETA ${eta}, ${p.failed} failed`;
    if (out.isTTY) {
      const width = 24;
      const filled = Math.round((p.done / Math.max(p.total, 1)) * width);
      out.write(`\r[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${text}   ${finished ? '\n' : ''}`);
    } else {
      out.write(`${text}\n`);
    }
  };
}

function printSummary(s: TagSummary, out: NodeJS.WriteStream): void {
  const rate = s.tagged / Math.max(s.elapsedMs / 1000, 1e-3);
  out.write(`Tagged ${s.tagged}, skipped ${s.skipped} unchanged, ${s.nonImages} not images, ${s.failed} failed, in ${clock(s.elapsedMs)} (${rate.toFixed(1)} images/s).\n`);
  for (const f of s.failures) out.write(`  failed: ${f.path}: ${f.reason}\n`);
}

export interface TagCommandOptions {
  roots: string[];
  db?: string;
  topK: number;
  minScore: number;
  lang: LabelLanguage;
  xmp: false | 'append' | 'replace';
  labels?: string;
  jobs?: number;
  model: ModelOptions;
}

export async function tagCommand(o: TagCommandOptions): Promise<number> {
  const service = await ClassificationService.start({ ...o.model, workers: o.jobs });
  try {
    const categories = o.labels ? CategoryMap.fromFile(resolve(o.labels), service.info.numClasses) : service.info.numClasses === 1000 ? CategoryMap.imagenet() : CategoryMap.none(service.info.numClasses);
    const summary = await tagFolders(
      service,
      { roots: o.roots, dbPath: defaultDbPath(o.roots, o.db), topK: o.topK, minScore: o.minScore, lang: o.lang, xmp: o.xmp, categories, jobs: Math.max(2, (o.jobs ?? service.workers) * 2) },
      progressPrinter(process.stderr),
    );
    printSummary(summary, process.stderr);
    return summary.failed ? 1 : 0;
  } finally {
    await service.close();
  }
}

export function searchCommand(words: string[], roots: string[], db?: string): number {
  if (words.length === 0) throw new ResnetServeError('INVALID_ARGUMENT', 'search needs at least one word');
  const index = new TagIndex(defaultDbPath(roots, db));
  try {
    const hits = index.search(words);
    for (const h of hits) process.stdout.write(`${h.score.toFixed(3)}  ${h.path}\n`);
    if (!hits.length) process.stderr.write('No photos match.\n');
    return 0;
  } finally {
    index.close();
  }
}

export function exportCommand(format: string, roots: string[], db?: string): number {
  if (format !== 'csv' && format !== 'json') throw new ResnetServeError('INVALID_ARGUMENT', `--format must be csv or json, got ${JSON.stringify(format)}`);
  const index = new TagIndex(defaultDbPath(roots, db));
  try {
    const rows = index.exportAll();
    if (format === 'json') {
      writeSync(1, JSON.stringify(rows, null, 1) + '\n');
      return 0;
    }
    const q = (v: unknown): string => `"${String(v).replace(/"/g, '""')}"`;
    const lines = ['path,size,sha256,model,kind,label_en,label_zh,score'];
    for (const f of rows) for (const t of f.tags) lines.push([f.path, f.size, f.sha256, f.model, t.kind, t.en, t.zh, t.score.toFixed(6)].map(q).join(','));
    writeSync(1, lines.join('\n') + '\n');
    return 0;
  } finally {
    index.close();
  }
}
