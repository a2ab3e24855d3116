/**
 * Download progress for the terminal: a redrawn bar on a TTY, plain lines
 * (every 10%, or every 5 MB when the size is unknown) otherwise.
 */
import type { Writable } from 'node:stream';
import type { CalibrationProgress } from '../types.js';
import { plural } from '../plural.js';

function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1);
}

/** Returns a progress callback that draws on `out` (stderr by default). */
export function downloadProgress(label: string, out: Writable & { isTTY?: boolean } = process.stderr): (received: number, total: number | null) => void {
  const started = Date.now();
  let lastStep = -1;
  let lastDraw = 0;
  return (received, total) => {
    const done = total !== null && received >= total;
    const seconds = Math.max((Date.now() - started) / 1000, 1e-3);
    const rate = `${mb(received / seconds)} MB/s`;
    if (out.isTTY) {
      if (!done && Date.now() - lastDraw < 100) return;
      lastDraw = Date.now();
      const width = 30;
      const fraction = total ? Math.min(received / total, 1) : 0;
      const bar = total ? '█'.repeat(Math.round(fraction * width)).padEnd(width, '░') : '';
      const size = total ? `${mb(received)}/${mb(total)} MB ${(fraction * 100).toFixed(0).padStart(3)}%` : `${mb(received)} MB`;
      out.write(`\r${label} ${bar} ${size} ${rate}   ${done ? '\n' : ''}`);
      return;
    }
    const step = total ? Math.floor((received / total) * 10) : Math.floor(received / 5e6);
    if (step === lastStep && !done) return;
    lastStep = step;
    out.write(`${label}: ${total ? `${step * 10}% (${mb(received)} of ${mb(total)} MB)` : `${mb(received)} MB`} at ${rate}\n`);
  };
}

let lineOpen = false;

/** Below this many photos read, calibration says the ranges may be poor. */
const FEW_CALIBRATION_PHOTOS = 10;

/** Ends a progress line left open on a terminal (before an error is written under it). */
export function endProgressLine(out: Writable = process.stderr): void {
  if (lineOpen) out.write('\n');
  lineOpen = false;
}

/**
 * A one-time note while an int8 model is calibrated: a line when it starts
 * and when it ends (redrawn in place on a terminal), saying how many photos
 * were used, chosen from a larger folder, and skipped.
 */
export function quantizeProgress(out: Writable & { isTTY?: boolean } = process.stderr): (progress: CalibrationProgress) => void {
  const started = Date.now();
  const prefix = 'Quantising the model to int8 (once):';
  return ({ done, total, skipped, found, passedBy }) => {
    const finished = done >= total;
    const chosen = found > total ? ` (evenly chosen from ${found})` : '';
    const notUsed = skipped + passedBy;
    const used = total - skipped;
    // None read: the error that follows says so, not a line that reads like success.
    if (finished && used === 0) {
      endProgressLine(out);
      return;
    }
    const few = used < FEW_CALIBRATION_PHOTOS ? ` (only ${used}: a few dozen photos like the ones it will see give better ranges)` : '';
    const end = `calibrated on ${plural(used, 'photo')}${chosen}${notUsed ? `, ${plural(notUsed, 'file')} skipped (not images, unreadable or over the default pixel limit)` : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s${few}`;
    if (out.isTTY) {
      out.write(`\r${prefix} ${finished ? end : `calibrating on ${done} of ${plural(total, 'photo')}${chosen}`}\x1b[K${finished ? '\n' : ''}`);
      lineOpen = !finished;
    }
    else if (done === 1 || finished) out.write(`${prefix} ${finished ? end : `calibrating on ${plural(total, 'photo')}${chosen}`}\n`);
  };
}

/** What the tag progress shows. */
export interface RunProgress {
  done: number;
  total: number;
  /** Files needing the model, how many of them are done, and the time spent on them (for rate and ETA). */
  toClassify: number;
  classified: number;
  classifyMs: number;
  failed: number;
}

function clock(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}` : `${m}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * A progress line for long runs: on a terminal, a bar redrawn in place that
 * always fits the window's width (it never wraps), with messages printed
 * above it; otherwise a plain line every 5 s. The rate and ETA count only the
 * photos that need the model, so a resumed run's ETA is right.
 */
export class ProgressLine {
  private last = 0;
  private shown = '';

  constructor(private readonly out: Writable & { isTTY?: boolean; columns?: number } = process.stderr) {}

  private text(p: RunProgress): string {
    const rate = p.classified / Math.max(p.classifyMs / 1000, 1e-3);
    const left = p.toClassify - p.classified;
    const eta = p.classified > 0 ? clock((left / rate) * 1000) : '–';
    // A resumed run says how many of them the model still has to see: those make the time.
    const model = p.toClassify > 0 && p.toClassify < p.total ? `, ${p.classified}/${p.toClassify} for the model` : '';
    return `${p.done}/${p.total} photos${model}, ${p.classified ? rate.toFixed(1) : '–'} images/s, ETA ${eta}${p.failed ? `, ${p.failed} failed` : ''}`;
  }

  /** Draws the progress (throttled), and always the last state. */
  update(p: RunProgress): void {
    const now = Date.now();
    const finished = p.done >= p.total;
    if (!finished && now - this.last < (this.out.isTTY ? 100 : 5000)) return;
    this.last = now;
    const text = this.text(p);
    if (!this.out.isTTY) {
      this.out.write(`${text}\n`);
      return;
    }
    // A terminal of unknown size (0 columns: a pty nobody sized) is taken as 80 wide.
    const columns = Math.max(20, (this.out.columns || 80) - 1);
    const barWidth = Math.max(0, Math.min(24, columns - text.length - 3));
    const filled = Math.round((p.done / Math.max(p.total, 1)) * barWidth);
    const bar = barWidth >= 5 ? `[${'█'.repeat(filled)}${'░'.repeat(barWidth - filled)}] ` : '';
    this.shown = `${bar}${text}`.slice(0, columns);
    this.out.write(`\r\x1b[2K${this.shown}`);
  }

  /** Prints a message above the bar. */
  log(message: string): void {
    if (this.out.isTTY && this.shown) this.out.write(`\r\x1b[2K${message}\n${this.shown}`);
    else this.out.write(`${message}\n`);
  }

  /** Ends the bar's line. */
  done(): void {
    if (this.out.isTTY && this.shown) this.out.write('\n');
    this.shown = '';
  }
}
