/**
 * Download progress for the terminal: a redrawn bar on a TTY, plain lines
 * (every 10%, or every 5 MB when the size is unknown) otherwise.
 */
import type { Writable } from 'node:stream';

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
