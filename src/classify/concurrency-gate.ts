/**
 * A first-come first-served limit on work in progress: at most `limit`
 * holders at once, the rest wait in arrival order. The service puts the
 * preprocessing workers behind one, so that images waiting for a worker hold
 * nothing but their bytes (no tensor slot, no task in the worker's queue):
 * memory then follows the work being done, not the length of the queue.
 */
import { invalidArgument } from '../errors.js';

interface Waiter {
  admit: () => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class ConcurrencyGate {
  private holders = 0;
  private readonly waiters: Waiter[] = [];

  /** @param limit holders at once, an integer >= 1 */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw invalidArgument('limit', 'an integer >= 1', limit);
  }

  /**
   * Waits for a place, in arrival order, and resolves with the function that
   * gives it back (calling it again does nothing). When `signal` aborts
   * before a place is free, rejects with the signal's reason and takes none.
   */
  enter(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.holders < this.limit && this.waiters.length === 0) return Promise.resolve(this.take());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { admit: () => resolve(this.take()), signal };
      if (signal) {
        waiter.onAbort = () => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  /** Holders now. */
  get active(): number {
    return this.holders;
  }

  /** Callers waiting for a place now. */
  get waiting(): number {
    return this.waiters.length;
  }

  private take(): () => void {
    this.holders++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.holders--;
      const next = this.waiters.shift();
      if (!next) return;
      if (next.onAbort) next.signal?.removeEventListener('abort', next.onAbort);
      next.admit();
    };
  }
}
