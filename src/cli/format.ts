/** Renders classification results for people (a table) and programs (JSON lines). */
import { linePath } from '../library/paths.js';
import type { ClassifyOutcome, EmbedOutcome, Prediction } from '../types.js';
import { plural } from '../plural.js';
import { unknownFirst } from '../heads/answer.js';
import type { ListedPath } from './files.js';

/** Display width of a string: CJK and other wide characters count double. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  return w;
}

function pad(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - displayWidth(s)));
}

/** The label, with its Chinese name after it where it has one of its own (labels without one give the English twice). */
function labelOf(p: Prediction): string {
  return p.label_zh && p.label_zh !== p.label ? `${p.label} / ${p.label_zh}` : p.label;
}

/** A head's "none of these" line, in the labels' language (`both`: English, then Chinese). */
function unknownLine(typicality: number | null | undefined, lang: 'en' | 'zh' | 'both'): string {
  const pct = typicality === null || typicality === undefined ? null : `${(typicality * 100).toFixed(1)}%`;
  const en = `unknown: none of these classes (unlike the training photos${pct ? `, typicality ${pct}` : ''})`;
  const zh = `未知：不属于这些类别（与训练照片都不像${pct ? `，典型度 ${pct}` : ''}）`;
  return `   → ${lang === 'en' ? en : lang === 'zh' ? zh : `${en} / ${zh}`}\n`;
}

/**
 * A readable block for one file: its name, then one line per prediction
 * with a bar ("unknown" first when a head refuses it, in `lang`).
 */
export function formatOutcome(file: string, outcome: ClassifyOutcome, lang: 'en' | 'zh' | 'both' = 'en'): string {
  file = linePath(file);
  if (!outcome.ok) return `${file}\n  error ${outcome.error.code}: ${outcome.error.message}\n`;
  const unknown = outcome.unknown ? unknownLine(outcome.typicality, lang) : '';
  const labelWidth = Math.max(...outcome.predictions.map((p) => displayWidth(labelOf(p))));
  // "100.00" takes a column more: the whole block then, so the gap after the label stays.
  const pctWidth = outcome.predictions.some((p) => (p.score * 100).toFixed(2) === '100.00') ? 7 : 6;
  const lines = outcome.predictions.map((p, i) => {
    const pct = (p.score * 100).toFixed(2).padStart(pctWidth);
    const bar = '█'.repeat(Math.round(p.score * 20));
    return `  ${String(i + 1).padStart(2)}. ${pad(labelOf(p), labelWidth)} ${pct}%  ${bar}`.trimEnd();
  });
  const header = `${file}  (${outcome.width}×${outcome.height}, ${outcome.timings.total.toFixed(0)} ms)`;
  return `${header}\n${unknown}${lines.join('\n')}\n`;
}

/** One JSON line for one file. */
export function formatJsonLine(file: string, outcome: ClassifyOutcome, heatmap?: string, heatmapClass?: string): string {
  if (!outcome.ok) return JSON.stringify({ file, error: outcome.error.toJSON() });
  const round = (v: number): number => Math.round(v * 100) / 100;
  const t = outcome.timings;
  return JSON.stringify({
    file,
    width: outcome.width,
    height: outcome.height,
    ...(outcome.unknown !== undefined ? { unknown: outcome.unknown, typicality: outcome.typicality } : {}),
    // As the table and the library give it: "unknown" first when a head finds the photo none of its classes.
    predictions: unknownFirst(outcome),
    timings_ms: { decode: round(t.decode), preprocess: round(t.preprocess), infer: round(t.infer), total: round(t.total) },
    ...(heatmap ? { heatmap } : {}),
    ...(heatmap && heatmapClass ? { heatmap_class: heatmapClass } : {}),
  });
}

/** One file's embedding: a JSON line (`{file, dim, embedding}`), or a readable line with its size, norm and first values. */
export function formatEmbedding(file: string, outcome: EmbedOutcome, json: boolean): string {
  if (!outcome.ok) return json ? `${JSON.stringify({ file, error: outcome.error.toJSON() })}\n` : `${file}\n  error ${outcome.error.code}: ${outcome.error.message}\n`;
  const e = outcome.embedding;
  if (json) return `${JSON.stringify({ file, dim: e.length, embedding: Array.from(e) })}\n`;
  const norm = Math.sqrt(e.reduce((s, v) => s + v * v, 0));
  const head = Array.from(e.subarray(0, 6), (v) => v.toFixed(4)).join(' ');
  return `${file}  ${e.length}-d  norm ${norm.toFixed(3)}  [${head} …]\n`;
}

/**
 * The closing line when some paths failed ("2 of 5 files failed."; "The file
 * failed." for one), folders that could not be listed counted apart from files.
 */
export function failedLine(files: ListedPath[], failed: number): string {
  const folders = files.filter((f) => 'error' in f && f.folder).length;
  const total = files.length - folders;
  const fileFailures = failed - folders;
  const unlisted = folders ? `${plural(folders, 'folder')} could not be read` : '';
  if (fileFailures === 0) return `${unlisted[0].toUpperCase()}${unlisted.slice(1)}.\n`;
  const line = total === 1 ? 'The file failed' : fileFailures === total ? `All ${total} files failed` : `${fileFailures} of ${total} files failed`;
  return `${line}${unlisted ? `; ${unlisted}` : ''}.\n`;
}
