/**
 * Ctrl-C (or a TERM) while a command makes its model ready: a model being
 * converted or quantised (up to a minute) cannot be stopped any other way
 * than by ending the process, so what was begun for the run is undone, the
 * stop is said on stderr, and the signal's own action ends the process (exit
 * 130 or 143 to the shell, as it expects).
 */
import { endProgressLine } from './progress.js';

/** What a command says when a signal stops it before its model was ready. */
export const stoppedBeforeReady = (signal: NodeJS.Signals): string => `resnet-serve: ${signal} before the model was ready; stopped`;

/**
 * Runs `load`; a SIGINT or SIGTERM before it settles calls `undo`, writes
 * `said(signal)` as a line on stderr and ends the process by that signal.
 */
export async function stoppableWhileLoading<T>(load: () => Promise<T>, said: (signal: NodeJS.Signals) => string, undo: () => void = () => undefined): Promise<T> {
  const stop = (signal: NodeJS.Signals): void => {
    process.off('SIGINT', stop).off('SIGTERM', stop);
    undo();
    // Under a calibration's progress line, left open on a terminal.
    endProgressLine();
    process.stderr.write(`${said(signal)}\n`);
    process.kill(process.pid, signal);
  };
  process.on('SIGINT', stop).on('SIGTERM', stop);
  try {
    return await load();
  } finally {
    process.off('SIGINT', stop).off('SIGTERM', stop);
  }
}
