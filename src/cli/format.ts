/** Renders classification results for people (a table) and programs (JSON lines). */
import type { ClassifyOutcome, Prediction } from '../types.js';

/** Display width of a string: CJK and other wide characters count double. */
export function displayWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += /[\u1100-\u115f\u2e80-\ua4cf\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6]/u.test(ch) ? 2 : 1;
  return w;
}

function pad(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - displayWidth(s)));
}

function labelOf(p: Prediction): string {
  return p.label_zh ? `${p.label} / ${p.label_zh}` : p.label;
}

/** A readable block for one file: its name, then one line per prediction with a bar. */
export function formatOutcome(file: string, outcome: ClassifyOutcome): string {
  if (!outcome.ok) return `${file}\n  error ${outcome.error.code}: ${outcome.error.message}\n`;
  const labelWidth = Math.max(...outcome.predictions.map((p) => displayWidth(labelOf(p))));
  const lines = outcome.predictions.map((p, i) => {
    const pct = (p.score * 100).toFixed(2).padStart(6);
    const bar = '█'.repeat(Math.round(p.score * 20));
    return `  ${String(i + 1).padStart(2)}. ${pad(labelOf(p), labelWidth)} ${pct}%  ${bar}`;
  });
  const header = `${file}  (${outcome.width}×${outcome.height}, ${outcome.timings.total.toFixed(0)} ms)`;
  return `${header}\n${lines.join('\n')}\n`;
}

/** One JSON line for one file. */
export function formatJsonLine(file: string, outcome: ClassifyOutcome): string {
  if (!outcome.ok) return JSON.stringify({ file, error: outcome.error.toJSON() });
  const round = (v: number): number => Math.round(v * 100) / 100;
  const t = outcome.timings;
  return JSON.stringify({
    file,
    width: outcome.width,
    height: outcome.height,
    predictions: outcome.predictions,
    timings_ms: { decode: round(t.decode), preprocess: round(t.preprocess), infer: round(t.infer), total: round(t.total) },
  });
}
